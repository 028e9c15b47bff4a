"""The solve job: one PINN trained from scratch on one equation, measured against its
reference; and the metadata every checkpoint of a run carries."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from equations import Equation, coefficient_key

from ..solver.evaluate import Evaluator
from ..solver.train import Budget, TrainingState, train
from .assemble import apply_threads, build_network, evaluator_for, physics_loss
from .checkpoint import package_versions
from .config import Settings
from .families import source_record
from .numerics import machine
from .records import Record, SolveRun


def solve(equation: Equation, settings: Settings, budget: Budget, progress: bool = True,
          state: TrainingState | None = None, evaluator: Evaluator | None = None) -> SolveRun:
    """Train one PINN from scratch on `equation` and measure it against the reference (the
    `evaluator`, if already built); with a `state`, the training is kept there as it goes and
    taken up from there (see `train`)."""
    apply_threads(settings)
    network = build_network(equation, settings)
    evaluator = evaluator or evaluator_for(equation, settings)
    result = train(
        network, physics_loss(equation, settings), network.parameters(), budget, evaluator,
        progress=progress, label=f"solve {coefficient_key(equation)}", state=state,
    )
    metrics = evaluator(network)
    record = Record(
        equation.name, equation.coefficients, "source", metrics.rel_l2, metrics.max_abs_err,
        sum(p.numel() for p in network.parameters()), result.seconds, result.stopped_because,
        optimizer=result.history.optimizer or None,
    )
    return SolveRun(equation, settings, budget, network, record, result.history, evaluator)


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
