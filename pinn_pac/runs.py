"""Whole jobs: solve one equation, or run the PAC pipeline over a family; save and reload.

The command line and the benchmarks call these; they call the library modules.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

import equations
from equations import Equation

from .checkpoint import CheckpointError, load_checkpoint, package_versions, save_checkpoint, write_json
from .evaluate import Evaluator
from .model import MLP
from .pac import PRUNE_SCOPES, PACNetwork, allocate, prune
from .plots import plot_histories, plot_solution
from .sampling import sample_points
from .train import Budget, History, PhysicsLoss, train

DTYPES = {"float64": torch.float64, "float32": torch.float32}


@dataclass
class Settings:
    """Network, points and numerics shared by every model in a run."""

    width: int = 20
    depth: int = 8
    dtype: str = "float64"
    seed: int = 0
    n_interior: int = 8000
    n_condition: int = 256
    sampler: str = "sobol"
    derivative_method: str = "autograd"
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]


@dataclass
class PACSettings:
    """PAC-Net's knobs and the budget of each of its phases."""

    ratio: float = 0.3
    penalty: float = 0.0
    scope: str = "global"
    source: Budget = field(default_factory=lambda: Budget(adam_steps=1000, lbfgs_iterations=2000, max_seconds=270))
    allocate: Budget = field(default_factory=lambda: Budget(adam_steps=0, lbfgs_iterations=400, max_seconds=45))
    calibrate: Budget = field(default_factory=lambda: Budget(adam_steps=0, lbfgs_iterations=1200, max_seconds=120))

    def __post_init__(self) -> None:
        if not 0.0 < self.ratio < 1.0:
            raise ValueError(f"prune ratio must be in (0, 1), got {self.ratio}")
        if not self.penalty >= 0.0:
            raise ValueError(f"the calibration penalty must be >= 0, got {self.penalty}")
        if self.scope not in PRUNE_SCOPES:
            raise ValueError(f"unknown prune scope {self.scope!r}; use one of {', '.join(PRUNE_SCOPES)}")


@dataclass
class Record:
    """One model's line in the results table and in results.json."""

    equation: str
    coefficients: dict[str, float]
    role: str
    rel_l2: float
    max_abs_err: float
    trainable_params: int
    seconds: float | None
    stopped_because: str = ""
    rel_l2_after_calibration: float | None = None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if data["rel_l2_after_calibration"] is None:
            del data["rel_l2_after_calibration"]
        return data


def coefficient_key(equation: Equation) -> str:
    return ",".join(f"{name}={value:.6g}" for name, value in equation.coefficients.items())


def build_network(equation: Equation, settings: Settings) -> MLP:
    """A freshly initialised MLP for `equation`, seeded by `settings.seed`."""
    dtype = settings.torch_dtype
    lower = torch.tensor([equation.domain[n][0] for n in equation.inputs], dtype=dtype)
    upper = torch.tensor([equation.domain[n][1] for n in equation.inputs], dtype=dtype)
    generator = torch.Generator().manual_seed(settings.seed)
    return MLP(lower, upper, len(equation.outputs), settings.width, settings.depth, generator)


def physics_loss(equation: Equation, settings: Settings) -> PhysicsLoss:
    points = sample_points(
        equation, settings.n_interior, settings.n_condition, settings.seed,
        settings.torch_dtype, settings.sampler,
    )
    return PhysicsLoss(equation, points, settings.derivative_method)


def _apply_threads(settings: Settings) -> None:
    if settings.threads is not None:
        torch.set_num_threads(settings.threads)


@dataclass
class SolveRun:
    equation: Equation
    settings: Settings
    budget: Budget
    network: MLP
    record: Record
    history: History
    evaluator: Evaluator


def solve(equation: Equation, settings: Settings, budget: Budget, progress: bool = True) -> SolveRun:
    """Train one PINN from scratch on `equation` and measure it against the reference."""
    _apply_threads(settings)
    network = build_network(equation, settings)
    evaluator = Evaluator(equation)
    result = train(
        network, physics_loss(equation, settings), network.parameters(), budget, evaluator,
        progress=progress, label=f"solve {coefficient_key(equation)}",
    )
    metrics = evaluator(network)
    record = Record(
        equation.name, equation.coefficients, "source", metrics.rel_l2, metrics.max_abs_err,
        sum(p.numel() for p in network.parameters()), result.seconds, result.stopped_because,
    )
    return SolveRun(equation, settings, budget, network, record, result.history, evaluator)


@dataclass
class TransferRun:
    source: Equation
    targets: list[Equation]
    settings: Settings
    pac_settings: PACSettings
    pac: PACNetwork
    records: list[Record]
    histories: dict[str, History]
    #: The reference of every model, by coefficient key (source and targets).
    evaluators: dict[str, Evaluator]


def transfer(
    source: Equation,
    targets: list[Equation],
    settings: Settings,
    pac_settings: PACSettings,
    progress: bool = True,
) -> TransferRun:
    """Train on the source, prune, allocate, then calibrate one adapter per target."""
    for target in targets:
        if not target.same_family(source):
            raise ValueError(f"target {target.describe()} is not in the family of {source.describe()}")
    _apply_threads(settings)
    source_evaluator = Evaluator(source)
    source_loss = physics_loss(source, settings)
    network = build_network(source, settings)
    started = time.perf_counter()
    key = coefficient_key(source)
    trained = train(
        network, source_loss, network.parameters(), pac_settings.source, source_evaluator,
        progress=progress, label=f"source {key}",
    )
    kept = prune(network, pac_settings.ratio, pac_settings.scope)
    allocated = allocate(
        network, kept, source_loss, pac_settings.allocate, source_evaluator,
        progress=progress, label=f"allocate {key}",
    )
    source_seconds = time.perf_counter() - started
    pac = PACNetwork(network, kept)
    histories = {f"source {key}": trained.history, f"allocate {key}": allocated.history}
    before = source_evaluator(pac.source_view())
    evaluators = {key: source_evaluator}

    target_records = []
    for target in targets:
        target_key = coefficient_key(target)
        evaluator = evaluators[target_key] = Evaluator(target)
        result = pac.calibrate(
            target_key, physics_loss(target, settings), pac_settings.calibrate,
            pac_settings.penalty, evaluator, progress=progress, label=f"calibrate {target_key}",
        )
        histories[f"calibrate {target_key}"] = result.history
        metrics = evaluator(pac.target_view(target_key))
        target_records.append(Record(
            target.name, target.coefficients, "target", metrics.rel_l2, metrics.max_abs_err,
            pac.freed_count, result.seconds, result.stopped_because,
        ))

    after = source_evaluator(pac.source_view())
    source_record = Record(
        source.name, source.coefficients, "source", before.rel_l2, before.max_abs_err,
        pac.source_count, source_seconds, allocated.stopped_because,
        rel_l2_after_calibration=after.rel_l2,
    )
    return TransferRun(
        source, targets, settings, pac_settings, pac, [source_record] + target_records, histories, evaluators,
    )


# ---- saving and reloading ------------------------------------------------------------


def _common_metadata(equation: Equation, settings: Settings) -> dict[str, Any]:
    return {
        "equation": equation.name,
        "coefficients": equation.coefficients,
        "seed": settings.seed,
        "dtype": settings.dtype,
        "settings": asdict(settings),
        "versions": package_versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def save_solve(run: SolveRun, run_dir: Path) -> None:
    """Checkpoint, results.json and figures for a solve run."""
    run_dir = Path(run_dir)
    save_checkpoint(run_dir / "checkpoint.pt", {
        "kind": "solve", **_common_metadata(run.equation, run.settings),
        "budgets": {"solve": asdict(run.budget)},
        "network": run.network.state_dict(),
    })
    histories = {f"solve {coefficient_key(run.equation)}": run.history}
    write_json(run_dir / "results.json", [run.record.as_dict()])
    write_json(run_dir / "history.json", {label: h.as_dict() for label, h in histories.items()})
    plot_model(run.evaluator, run.network, f"{run.equation.describe()}: PINN", run_dir / "solution.png")
    plot_histories(histories, run_dir / "history.png")


def save_transfer(run: TransferRun, run_dir: Path) -> None:
    """Checkpoint (source, masks, adapters), results.json and figures for a transfer run."""
    run_dir = Path(run_dir)
    save_checkpoint(run_dir / "checkpoint.pt", {
        "kind": "transfer", **_common_metadata(run.source, run.settings),
        "budgets": {phase: asdict(getattr(run.pac_settings, phase)) for phase in ("source", "allocate", "calibrate")},
        "pac": {"ratio": run.pac_settings.ratio, "penalty": run.pac_settings.penalty, "scope": run.pac_settings.scope},
        "network": run.pac.source.state_dict(),
        "masks": run.pac.kept,
        "targets": [
            {"coefficients": t.coefficients, "adapter": run.pac.adapters[coefficient_key(t)]}
            for t in run.targets
        ],
    })
    write_json(run_dir / "results.json", [r.as_dict() for r in run.records])
    write_json(run_dir / "history.json", {label: h.as_dict() for label, h in run.histories.items()})
    plot_model(run.evaluators[coefficient_key(run.source)], run.pac.source_view(),
               f"source {run.source.describe()}: allocated PAC-Net", run_dir / "solution_source.png")
    for target in run.targets:
        key = coefficient_key(target)
        plot_model(run.evaluators[key], run.pac.target_view(key),
                   f"target {target.describe()}: calibrated PAC-Net",
                   run_dir / f"solution_target_{key.replace(',', '_')}.png")
    plot_histories(run.histories, run_dir / "history.png")


def plot_model(evaluator: Evaluator, network: torch.nn.Module, title: str, path: Path) -> None:
    """Prediction, reference and error of `network` on the evaluator's grid, error in the title."""
    metrics = evaluator(network)
    plot_solution(
        evaluator.grid, evaluator.equation.inputs, evaluator.predict(network), evaluator.reference,
        f"{title} (relative L2 {metrics.rel_l2:.2e})", path,
    )


@dataclass
class LoadedRun:
    kind: str
    metadata: dict[str, Any]
    models: list[tuple[str, Equation, torch.nn.Module, int]]  # role, equation, network, trainable


def load_run(run_dir: Path) -> LoadedRun:
    """Rebuild every model of a saved run; a foreign or mismatched checkpoint is refused."""
    payload = load_checkpoint(run_dir)
    try:
        kind = payload["kind"]
        source = equations.create(payload["equation"], **payload["coefficients"])
        settings = Settings(**payload["settings"])
        network = build_network(source, settings)
        network.load_state_dict(payload["network"], strict=True)
        if kind == "solve":
            trainable = sum(p.numel() for p in network.parameters())
            return LoadedRun(kind, payload, [("source", source, network, trainable)])
        if kind != "transfer":
            raise ValueError(f"unknown run kind {kind!r}")
        pac = PACNetwork(network, payload["masks"])
        models = [("source", source, pac.source_view(), pac.source_count)]
        for target in payload["targets"]:
            equation = equations.create(payload["equation"], **target["coefficients"])
            adapter = [a.to(settings.torch_dtype) for a in target["adapter"]]
            if [a.shape for a in adapter] != [i.shape for i in pac.freed_index]:
                raise ValueError("an adapter does not fit the masks")
            pac.adapters[coefficient_key(equation)] = adapter
            models.append(("target", equation, pac.target_view(coefficient_key(equation)), pac.freed_count))
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{run_dir}: checkpoint does not describe a pinn-pac run ({detail})") from None
    return LoadedRun(kind, payload, models)


def evaluate_run(run_dir: Path) -> list[Record]:
    """Reload a run and measure every model against its reference again."""
    loaded = load_run(run_dir)
    records = []
    for role, equation, network, trainable in loaded.models:
        metrics = Evaluator(equation)(network)
        records.append(Record(equation.name, equation.coefficients, role, metrics.rel_l2,
                              metrics.max_abs_err, trainable, None, "reloaded"))
    return records
