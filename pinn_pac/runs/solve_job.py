"""The solve job: one PINN trained from scratch on one equation, measured against its
reference; and the metadata every checkpoint of a run carries."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, Sequence

from equations import Equation, coefficient_key

from ..solver.callbacks import Callback
from ..solver.evaluate import Evaluator
from ..solver.train import Budget, History, TrainingState, train
from .assemble import apply_threads, build_network, evaluator_for, physics_loss
from .checkpoint import package_versions
from .config import Settings
from .families import source_record
from .numerics import machine
from .records import Record, SolveRun

if TYPE_CHECKING:
    from .store import RunStore


def solve(equation: Equation, settings: Settings, budget: Budget, progress: bool = True,
          state: TrainingState | None = None, evaluator: Evaluator | None = None,
          callbacks: Sequence[Callback] = ()) -> SolveRun:
    """Train one PINN from scratch on `equation` and measure it against the reference (the
    `evaluator`, if already built); with a `state`, the training is kept there as it goes and
    taken up from there, and `callbacks` are told of every record (see `train`)."""
    apply_threads(settings)
    network = build_network(equation, settings)
    evaluator = evaluator or evaluator_for(equation, settings)
    result = train(
        network, physics_loss(equation, settings), network.parameters(), budget, evaluator,
        progress=progress, label=f"solve {coefficient_key(equation)}", state=state, callbacks=callbacks,
    )
    metrics = evaluator(network)
    record = Record(
        equation.name, equation.coefficients, "source", metrics.rel_l2, metrics.max_abs_err,
        sum(p.numel() for p in network.parameters()), result.seconds, result.stopped_because,
        optimizer=result.history.optimizer or None, reference=evaluator.reference is not None,
    )
    return SolveRun(equation, settings, budget, network, record, result.history, evaluator)


def stored_solve(equation: Equation, settings: Settings, budget: Budget, store: RunStore, piece: str,
                 state_piece: str | None = None, progress: bool = True,
                 evaluator: Evaluator | None = None) -> SolveRun:
    """`solve`, its trained network kept in `store` as `piece` (a "solve" checkpoint with its
    record and history) the moment it is trained, and taken from there without training where
    the store already holds it: what comes after the training (figures, reports) can fail and
    be done again on --resume. The quasi-Newton phase keeps its training state under
    `state_piece` (by default `piece`)."""
    saved = store.load(piece)
    if saved is None:
        run = solve(equation, settings, budget, progress=progress,
                    state=store.training_state(state_piece or piece), evaluator=evaluator, callbacks=store.callbacks)
        store.save(piece, {**solve_checkpoint(run), "record": run.record.as_dict(), "history": run.history.as_dict()})
        return run
    network = build_network(equation, settings)
    network.load_state_dict(saved["network"], strict=True)
    return SolveRun(equation, settings, budget, network, Record(**saved["record"]), History(**saved["history"]),
                    evaluator or evaluator_for(equation, settings))


def run_metadata(equation: Equation, settings: Settings) -> dict[str, Any]:
    """What every checkpoint says of its run: equation, seed, dtype, settings, versions, machine."""
    return {
        "equation": equation.name,
        "equation_source": source_record(equation),
        "coefficients": equation.coefficients,
        "seed": settings.seed,
        "dtype": settings.dtype,
        "settings": asdict(settings),
        "versions": package_versions(),
        "machine": machine(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def solve_checkpoint(run: SolveRun) -> dict[str, Any]:
    """The checkpoint of a solve run: metadata and the network."""
    return {"kind": "solve", **run_metadata(run.equation, run.settings),
            "budgets": {"solve": asdict(run.budget)}, "network": run.network.state_dict()}
