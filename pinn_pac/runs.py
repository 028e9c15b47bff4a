"""Whole jobs: solve one equation, or move a source to targets by one or more transfer
methods; save and reload.

The command line and the benchmarks call these; they call the library modules.
"""

from __future__ import annotations

import math
import time
from contextlib import closing
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

import torch
from tqdm import tqdm

import equations
from equations import Equation

from .checkpoint import CheckpointError, atomic_write, package_versions, save_checkpoint, write_json
from .derivatives import DERIVATIVE_METHODS
from .evaluate import Evaluator
from .model import MLP, TanhNetwork
from .numerics import machine, make_thread_invariant
from .pac import PRUNE_SCOPES, PACNetwork
from .plots import plot_family, plot_histories, plot_solution
from .posing import CONDITION_MODES, Posing
from .sampling import domain_box, sample_points
from .store import SOURCE, RunStore, prepared_piece, read_payload, target_piece
from .train import Budget, History, PhysicsLoss, check_causal, check_rad, train
from .transfer import METHODS, TransferContext, TransferMethod, coefficient_key, make_method

DTYPES = {"float64": torch.float64, "float32": torch.float32}
DEVICES = ("cpu", "cuda", "auto")


def resolve_device(name: str) -> torch.device:
    """The device "cpu", "cuda" or "auto" (cuda where torch sees a GPU, else cpu) names;
    "cuda" without a GPU is refused."""
    if name not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {name!r}")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device cuda: torch sees no CUDA GPU on this machine; use cpu or auto")
    return torch.device(name)


@dataclass
class Settings:
    """Network, points and numerics shared by every model in a run."""

    width: int = 20
    depth: int = 4
    dtype: str = "float64"
    seed: int = 0
    n_interior: int = 8000
    n_condition: int = 256
    sampler: str = "sobol"
    derivative_method: str = "autograd"
    threads: int | None = None
    #: "exact": initial/boundary values built into the solution where the family declares
    #: how (see `posing`); "soft": every condition is a loss term.
    conditions: str = "exact"
    #: Redraw the interior points by RAD every this many quasi-Newton iterations (0: fixed points).
    rad_every: int = 500
    rad_candidates: int = 50_000
    #: Weight the soft loss terms by their gradient norms during Adam (see `weighting`).
    balance: bool = False
    #: Causal weighting of the residual in time with this epsilon (0: off; see `weighting`).
    causal: float = 0.0
    #: "cpu", "cuda" or "auto" (cuda where available): where every network and tensor lives
    #: during training and evaluation; references, figures and files stay on the CPU.
    device: str = "cpu"
    #: The same bits whatever the number of threads or worker processes (see `numerics`;
    #: with the eager derivative paths: compiled kernels still split sums by thread count).
    thread_invariant: bool = False

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")
        if self.conditions not in CONDITION_MODES:
            raise ValueError(f"conditions must be one of {', '.join(CONDITION_MODES)}, got {self.conditions!r}")
        check_rad(self.rad_every, self.rad_candidates, self.n_interior)
        check_causal(self.causal)
        if self.derivative_method not in DERIVATIVE_METHODS:
            raise ValueError(f"derivative method must be one of {', '.join(DERIVATIVE_METHODS)}, "
                             f"got {self.derivative_method!r}")
        resolve_device(self.device)

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]

    @property
    def torch_device(self) -> torch.device:
        return resolve_device(self.device)


@dataclass
class TransferSettings:
    """Each transfer method's knobs and the budget of each phase.

    `source` trains the source network; `allocate` is the one-off preparation (PAC-Net's
    Allocate, the parametric network's range training); `calibrate` is every method's
    training per target.
    """

    ratio: float = 0.3
    penalty: float = 0.0
    scope: str = "global"
    warm_start: str = "zero"
    alpha: float = 1e-4
    rank: int = 4
    members: int = 5
    # Measured on Burgers (benchmarks/defaults.py): about 4 minutes on 2 cores for a source
    # and two targets. Budgets count steps, not seconds, so that runs repeat bit for bit.
    source: Budget = field(default_factory=lambda: Budget(adam_steps=1000, iterations=2500, adam_lr=5e-3))
    allocate: Budget = field(default_factory=lambda: Budget(adam_steps=0, iterations=800))
    calibrate: Budget = field(default_factory=lambda: Budget(adam_steps=0, iterations=2500))

    def __post_init__(self) -> None:
        if not 0.0 < self.ratio < 1.0:
            raise ValueError(f"prune ratio must be in (0, 1), got {self.ratio}")
        if self.scope not in PRUNE_SCOPES:
            raise ValueError(f"unknown prune scope {self.scope!r}; use one of {', '.join(PRUNE_SCOPES)}")
        for name in METHODS:  # each method checks its own options
            self.method(name, seed=0)

    def method(self, name: str, seed: int) -> TransferMethod:
        """The transfer method `name` configured by these settings."""
        options = {
            "pac": {"ratio": self.ratio, "penalty": self.penalty, "scope": self.scope,
                    "warm_start": self.warm_start},
            "l2sp": {"alpha": self.alpha},
            "lora": {"rank": self.rank, "seed": seed},
            "parametric": {"members": self.members},
        }
        return make_method(name, **options.get(name, {}))

    def options(self, name: str) -> dict[str, Any]:
        """The knobs of method `name`, as saved beside its checkpoint."""
        return {key: value for key, value in vars(self.method(name, 0)).items()
                if isinstance(value, (int, float, str, bool))}


@dataclass
class Record:
    """One model's line in the results table and in results.json."""

    equation: str
    coefficients: dict[str, float]
    role: str
    #: NaN (null once saved) where the family declares no reference.
    rel_l2: float
    max_abs_err: float
    trainable_params: int
    seconds: float | None
    stopped_because: str = ""
    method: str | None = None
    #: Parameters stored per target beyond what all targets share (targets only).
    stored_params: int | None = None
    #: The target's error before its training began (targets only).
    start_rel_l2: float | None = None
    #: The source's error, given back by the method once this target is trained (targets only).
    source_rel_l2_after: float | None = None
    #: The source's error after every target, where the method keeps it apart (source only).
    rel_l2_after_calibration: float | None = None
    #: The quasi-Newton method that ran after Adam (see `optim`), if any.
    optimizer: str | None = None

    def __post_init__(self) -> None:
        if self.rel_l2 is None:  # saved without a reference
            self.rel_l2 = self.max_abs_err = math.nan

    def as_dict(self) -> dict[str, Any]:
        """The fields that apply, with errors a family without a reference cannot have as null."""
        return {key: None if isinstance(value, float) and math.isnan(value) else value
                for key, value in asdict(self).items() if value is not None}


def error_text(value: float | None, spec: str = ".2e") -> str:
    """An error for a table: "n/a" where unavailable (a family without a reference)."""
    return "n/a" if value is None or math.isnan(value) else format(value, spec)


def build_network(equation: Equation, settings: Settings) -> MLP:
    """A freshly initialised MLP for `equation`, seeded by `settings.seed`, periodic in the
    inputs where the posing of its conditions needs it: drawn on the CPU (the same weights on
    every device), then moved to `settings.device`."""
    dtype = settings.torch_dtype
    periodic = Posing(equation, settings.conditions).periodic_inputs
    with torch.device("cpu"):
        lower, upper = (torch.tensor(bound, dtype=dtype) for bound in domain_box(equation))
        generator = torch.Generator().manual_seed(settings.seed)
        network = MLP(lower, upper, len(equation.outputs), settings.width, settings.depth, generator, periodic)
    return network.to(settings.torch_device)


def physics_loss(
    equation: Equation, settings: Settings, n_interior: int | None = None, seed_offset: int = 0,
) -> PhysicsLoss:
    """The physics loss on the run's points; fewer interior points or other points if asked."""
    points = sample_points(
        equation, n_interior or settings.n_interior, settings.n_condition, settings.seed + seed_offset,
        settings.torch_dtype, settings.sampler, settings.torch_device,
    )
    return PhysicsLoss(equation, points, settings.derivative_method, settings.conditions,
                       settings.rad_every, settings.rad_candidates, settings.seed + seed_offset,
                       settings.balance, settings.causal)


def evaluator_for(equation: Equation, settings: Settings) -> Evaluator:
    """The reference of `equation` on its standard grid, for networks trained with `settings`."""
    return Evaluator(equation, conditions=settings.conditions)


def _apply_threads(settings: Settings) -> None:
    if settings.thread_invariant:
        make_thread_invariant()
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
    evaluator = evaluator_for(equation, settings)
    result = train(
        network, physics_loss(equation, settings), network.parameters(), budget, evaluator,
        progress=progress, label=f"solve {coefficient_key(equation)}",
    )
    metrics = evaluator(network)
    record = Record(
        equation.name, equation.coefficients, "source", metrics.rel_l2, metrics.max_abs_err,
        sum(p.numel() for p in network.parameters()), result.seconds, result.stopped_because,
        optimizer=result.history.optimizer or None,
    )
    return SolveRun(equation, settings, budget, network, record, result.history, evaluator)


@dataclass
class TransferRun:
    """One transfer method's models for a source and its targets."""

    source: Equation
    targets: list[Equation]
    settings: Settings
    transfer_settings: TransferSettings
    method: TransferMethod
    records: list[Record]
    histories: dict[str, History]
    #: The reference of every model, by coefficient key (source and targets).
    evaluators: dict[str, Evaluator]
    #: Each target's model, by coefficient key.
    networks: dict[str, TanhNetwork]
    #: The checkpoint of this method's models (see `store`): metadata, shared state, targets.
    checkpoint: dict[str, Any]


def check_targets(source: Equation, targets: list[Equation]) -> None:
    """Refuse targets outside the source's family, or two with the same coefficient key."""
    for target in targets:
        if not target.same_family(source):
            raise ValueError(f"target {target.describe()} is not in the family of {source.describe()}")
    keys = [coefficient_key(t) for t in targets]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise ValueError(f"targets must differ in their first 6 significant digits; repeated: {'; '.join(repeated)}")


def transfer(
    source: Equation,
    targets: list[Equation],
    settings: Settings,
    transfer_settings: TransferSettings,
    methods: tuple[str, ...] = ("pac",),
    progress: bool = True,
    source_run: SolveRun | None = None,
    target_points: int | None = None,
    store: RunStore | None = None,
    executor: TargetExecutor | None = None,
) -> list[TransferRun]:
    """Train the source once (unless `source_run` is given), then move it to every target
    with each of `methods`; targets train on `target_points` interior points if given.

    With a `store`, each piece is written the moment it is finished, and pieces it already
    holds are loaded instead of trained, to the same records. With an `executor` (see
    `parallel`), targets train in other processes, to the same records.
    """
    check_targets(source, targets)
    methods = [transfer_settings.method(name, settings.seed) for name in methods]  # bad names fail early
    for method in methods:
        method.check(source, targets)
        if executor is not None and not method.targets_independent:
            raise ValueError(f"{method.name}: with these options each target depends on those trained before "
                             "it, so targets cannot train in parallel; use one process (--workers 1)")
    _apply_threads(settings)
    # Every target's reference first: one it cannot serve is refused before any training.
    target_evaluators = {coefficient_key(t): evaluator_for(t, settings) for t in targets}
    if source_run is None:
        source_run = _source_run(source, settings, transfer_settings.source, progress, store)
    evaluators = {**target_evaluators, coefficient_key(source): source_run.evaluator}
    context = _context(source, source_run.network, targets, settings, progress)
    job = _TransferJob(context, source_run, evaluators, settings, transfer_settings, target_points, store, executor)
    return [job.run(method) for method in methods]


def _context(source: Equation, network: MLP, targets: list[Equation], settings: Settings,
             progress: bool) -> TransferContext:
    return TransferContext(
        source, network, targets,
        loss_for=lambda equation, **points: physics_loss(equation, settings, **points),
        new_network=lambda equation: build_network(equation, settings),
        n_interior=settings.n_interior, progress=progress,
    )


class TargetExecutor(Protocol):
    """Runs target tasks in other processes (see `parallel`)."""

    #: Torch threads each task runs on.
    threads: int

    def map_unordered(self, function: Callable[[Any], Any], tasks: list[Any]) -> Iterator[tuple[int, Any]]:
        """(index, function(task)) for every task, in the order they finish."""


@dataclass
class TargetTask:
    """One target's training, with all a fresh process needs to do it alone."""

    family: str
    source: dict[str, float]
    #: Every target of the run (a method may depend on the set, as parametric's range does).
    targets: list[dict[str, float]]
    target: dict[str, float]
    method: str
    settings: Settings
    transfer_settings: TransferSettings
    source_state: dict[str, torch.Tensor]
    #: The method's prepared state, as its store piece holds it.
    prepared: dict[str, Any]
    target_points: int | None


def train_target(task: TargetTask) -> dict[str, Any]:
    """Train one target in this process: its piece for the store (see `_adapt`)."""
    settings = task.settings
    _apply_threads(settings)
    source = equations.create(task.family, **task.source)
    target = source.with_coefficients(**task.target)
    network = build_network(source, settings)
    network.load_state_dict(task.source_state, strict=True)
    context = _context(source, network, [source.with_coefficients(**t) for t in task.targets], settings, False)
    method = task.transfer_settings.method(task.method, settings.seed)
    method.load_prepared(context, task.prepared)
    evaluators = {coefficient_key(e): evaluator_for(e, settings) for e in (source, target)}
    loss = physics_loss(target, settings, n_interior=task.target_points)
    return _adapt(method, target, task.transfer_settings.calibrate, evaluators, loss, coefficient_key(source),
                  {"progress": False})[1]


def _source_run(source: Equation, settings: Settings, budget: Budget, progress: bool,
                store: RunStore | None) -> SolveRun:
    """The trained source: from the store where it holds one, else trained (and stored)."""
    saved = store.load(SOURCE) if store else None
    if saved is None:
        run = solve(source, settings, budget, progress=progress)
        if store:
            store.save(SOURCE, {**solve_checkpoint(run), "record": run.record.as_dict(),
                                "history": run.history.as_dict()})
        return run
    network = build_network(source, settings)
    network.load_state_dict(saved["network"], strict=True)
    return SolveRun(source, settings, budget, network, Record(**saved["record"]), History(**saved["history"]),
                    evaluator_for(source, settings))


@dataclass
class _TransferJob:
    """The shared parts of a transfer run, and how each method's part of it runs."""

    context: TransferContext
    source_run: SolveRun
    evaluators: dict[str, Evaluator]
    settings: Settings
    transfer_settings: TransferSettings
    target_points: int | None
    store: RunStore | None
    executor: TargetExecutor | None

    def run(self, method: TransferMethod) -> TransferRun:
        """`method`'s models for the source and every target, trained or taken from the store."""
        context, source_run, evaluators, store = self.context, self.source_run, self.evaluators, self.store
        source, key = context.source, coefficient_key(context.source)
        histories = {f"source {key}": source_run.history}
        saved = _prepared(method, context, evaluators[key], self.settings, self.transfer_settings, store)
        prepared = saved["prepare"]
        if prepared is not None:
            histories[f"{method.name} prepare {key}"] = History(**prepared["history"])
        before = evaluators[key](method.source_model())

        pieces = {coefficient_key(t): store.load(target_piece(method.name, coefficient_key(t))) if store else None
                  for t in context.targets}
        if self.executor is not None:
            pieces.update(self._train_elsewhere(method, saved, [t for t in context.targets
                                                                 if pieces[coefficient_key(t)] is None]))
        # Each method gets its own target losses: RAD moves their points during training.
        networks, target_records, target_states = {}, [], []
        for target in context.targets:
            target_key = coefficient_key(target)
            piece = pieces[target_key]
            if piece is None:
                loss = physics_loss(target, self.settings, n_interior=self.target_points)
                networks[target_key], piece = _adapt(method, target, self.transfer_settings.calibrate, evaluators,
                                                     loss, key, {"progress": context.progress})
                if store:
                    store.save(target_piece(method.name, target_key), piece)
            else:
                networks[target_key] = method.load_target(target, piece)
            histories[f"{method.name} {target_key}"] = History(**piece.pop("history"))
            target_records.append(Record(**piece.pop("record")))
            target_states.append(piece)

        source_model = method.source_model()
        source_history = History(**prepared["history"]) if prepared else source_run.history
        source_record = Record(
            source.name, source.coefficients, "source", before.rel_l2, before.max_abs_err,
            method.source_count(), source_run.record.seconds + (prepared["seconds"] if prepared else 0.0),
            prepared["stopped_because"] if prepared else source_run.record.stopped_because, method.name,
            rel_l2_after_calibration=evaluators[key](source_model).rel_l2 if method.keeps_source else None,
            optimizer=source_history.optimizer or None,
        )
        checkpoint = {k: v for k, v in saved.items() if k != "prepare"}
        checkpoint["targets"] = target_states
        return TransferRun(
            source, context.targets, self.settings, self.transfer_settings, method,
            [source_record] + target_records, histories, evaluators, networks, checkpoint,
        )

    def _train_elsewhere(self, method: TransferMethod, prepared: dict[str, Any],
                         targets: list[Equation]) -> dict[str, dict[str, Any]]:
        """Train `targets` by the executor; each piece is stored the moment it arrives."""
        source = self.context.source
        settings = replace(self.settings, threads=self.executor.threads)
        tasks = [TargetTask(
            source.name, source.coefficients, [t.coefficients for t in self.context.targets], target.coefficients,
            method.name, settings, self.transfer_settings, self.source_run.network.state_dict(),
            {k: v for k, v in prepared.items() if k != "prepare"}, self.target_points,
        ) for target in targets]
        pieces = {}
        with (tqdm(total=len(tasks), desc=f"{method.name} targets", disable=not self.context.progress) as bar,
              closing(self.executor.map_unordered(train_target, tasks)) as finished):
            for index, piece in finished:
                key = coefficient_key(targets[index])
                if self.store:
                    self.store.save(target_piece(method.name, key), piece)
                pieces[key] = piece
                bar.update()
        return pieces


def _prepared(method: TransferMethod, context: TransferContext, evaluator: Evaluator, settings: Settings,
              transfer_settings: TransferSettings, store: RunStore | None) -> dict[str, Any]:
    """Prepare `method`, or take up its stored preparation: its piece for a store (run
    metadata, the method's shared state, and under "prepare" what its training cost, if any)."""
    saved = store.load(prepared_piece(method.name)) if store else None
    if saved is not None:
        method.load_prepared(context, saved)
        return saved
    key = coefficient_key(context.source)
    prepared = method.prepare(context, transfer_settings.allocate, evaluator,
                              label=f"{method.name} prepare {key}", progress=context.progress)
    budgets = {phase: asdict(getattr(transfer_settings, phase)) for phase in ("source", "allocate", "calibrate")}
    saved = {"kind": "transfer", **_common_metadata(context.source, settings), "method": method.name,
             "options": transfer_settings.options(method.name), "budgets": budgets,
             **method.prepared_state(), "prepare": prepared and {
                 "seconds": prepared.seconds, "stopped_because": prepared.stopped_because,
                 "history": prepared.history.as_dict()}}
    if store:
        store.save(prepared_piece(method.name), saved)
    return saved


def _adapt(method: TransferMethod, target: Equation, budget: Budget, evaluators: dict[str, Evaluator],
           loss: PhysicsLoss, source_key: str, options: dict[str, Any]) -> tuple[TanhNetwork, dict[str, Any]]:
    """Train `target` with `method`: its network, and its piece for a store (the method's
    state for it, its record and history)."""
    target_key = coefficient_key(target)
    evaluator = evaluators[target_key]
    model = method.adapt(target, budget, evaluator, loss, label=f"{method.name} {target_key}", **options)
    metrics = evaluator(model.network)
    record = Record(
        target.name, target.coefficients, "target", metrics.rel_l2, metrics.max_abs_err,
        model.trainable, model.result.seconds, model.result.stopped_because, method.name,
        stored_params=model.stored, start_rel_l2=model.result.history.rel_l2[0],
        source_rel_l2_after=evaluators[source_key](model.source_view).rel_l2,
        optimizer=model.result.history.optimizer or None,
    )
    return model.network, {"coefficients": target.coefficients, **method.target_state(target_key, model),
                           "record": record.as_dict(), "history": model.result.history.as_dict()}


# ---- saving and reloading ------------------------------------------------------------


def _common_metadata(equation: Equation, settings: Settings) -> dict[str, Any]:
    return {
        "equation": equation.name,
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
    return {"kind": "solve", **_common_metadata(run.equation, run.settings),
            "budgets": {"solve": asdict(run.budget)}, "network": run.network.state_dict()}


def save_solve(run: SolveRun, run_dir: Path) -> None:
    """Checkpoint, results.json and figures for a solve run."""
    run_dir = Path(run_dir)
    save_checkpoint(run_dir / "checkpoint.pt", solve_checkpoint(run))
    histories = {f"solve {coefficient_key(run.equation)}": run.history}
    write_json(run_dir / "results.json", [run.record.as_dict()])
    write_json(run_dir / "history.json", {label: h.as_dict() for label, h in histories.items()})
    plot_model(run.evaluator, run.network, f"{run.equation.describe()}: PINN", run_dir / "solution.png")
    plot_histories(histories, run_dir / "history.png")


def save_transfer(run: TransferRun, run_dir: Path) -> None:
    """Checkpoint, results.json and figures for one method's transfer run.

    The checkpoint holds what the method shares between targets (PAC-Net: the allocated
    source and its masks; the others: the source model as a plain network) and each target's
    state (PAC-Net: an adapter; the others: a plain network).
    """
    run_dir = Path(run_dir)
    save_checkpoint(run_dir / "checkpoint.pt", run.checkpoint)
    write_json(run_dir / "results.json", [r.as_dict() for r in run.records])
    write_json(run_dir / "history.json", {label: h.as_dict() for label, h in run.histories.items()})
    plot_model(run.evaluators[coefficient_key(run.source)], run.method.source_model(),
               f"source {run.source.describe()}: {run.method.name}", run_dir / "solution_source.png")
    for target in run.targets:
        key = coefficient_key(target)
        plot_model(run.evaluators[key], run.networks[key], f"target {target.describe()}: {run.method.name}",
                   run_dir / f"solution_target_{key.replace(',', '_')}.png")
    plot_histories(run.histories, run_dir / "history.png")


def save_comparison(runs: list[TransferRun], run_dir: Path) -> None:
    """Each method's run in its own folder, plus comparison.json, comparison.md and a figure
    of every method's target error against seconds."""
    run_dir = Path(run_dir)
    for run in runs:
        save_transfer(run, run_dir / run.method.name)
    records = [record for run in runs for record in run.records]
    write_json(run_dir / "comparison.json", [r.as_dict() for r in records])
    atomic_write(run_dir / "comparison.md", lambda f: f.write((comparison_table(records) + "\n").encode()))
    plot_histories({label: history for run in runs for label, history in run.histories.items()
                    if not label.startswith("source")}, run_dir / "comparison.png")


def save_family(runs: list[TransferRun], run_dir: Path) -> None:
    """family.md (each target's error and training seconds, per method) and family.png (the
    same against the coefficient that varies, or the target's number where several do)."""
    targets = runs[0].targets
    varying = [name for name in targets[0].coefficients if len({t.coefficients[name] for t in targets}) > 1]
    axis = varying[0] if len(varying) == 1 else "target"
    position = {coefficient_key(t): t.coefficients[axis] if axis != "target" else i + 1
                for i, t in enumerate(targets)}
    by_method = {run.method.name: {coefficient_key(run.source.with_coefficients(**r.coefficients)): r
                                   for r in run.records[1:]} for run in runs}
    header = "| target | " + " | ".join(f"{m} rel L2 | {m} seconds" for m in by_method) + " |"
    lines = [header, "|---|" + "---|---|" * len(by_method)]
    for key in sorted(position, key=position.get):
        lines.append(f"| {key} | " + " | ".join(f"{error_text(records[key].rel_l2)} | {records[key].seconds:.1f}"
                                                for records in by_method.values()) + " |")
    sources = "; ".join(f"{run.method.name} {error_text(run.records[0].rel_l2)}" for run in runs)
    text = (f"# {runs[0].source.name}: {len(targets)} targets from {coefficient_key(runs[0].source)}\n\n"
            f"Relative L2 against the reference on the family's standard grid; seconds of each target's "
            f"own training. Source error as each method gives it back: {sources}.\n\n" + "\n".join(lines) + "\n")
    atomic_write(Path(run_dir) / "family.md", lambda f: f.write(text.encode()))
    series = {}
    for method, records in by_method.items():
        keys = sorted(records, key=position.get)
        series[method] = ([position[k] for k in keys],
                          [math.nan if records[k].rel_l2 is None else records[k].rel_l2 for k in keys],
                          [records[k].seconds for k in keys])
    source = runs[0].source.coefficients[axis] if axis != "target" else None
    plot_family(axis, series, Path(run_dir) / "family.png", source)


def comparison_table(records: list[Record]) -> str:
    """A Markdown table of every method's target errors and costs."""
    lines = ["| method | target | rel L2 | start rel L2 | source rel L2 after | trainable | stored | seconds |",
             "|---|---|---|---|---|---|---|---|"]
    for r in records:
        if r.role == "target":
            coefficients = ",".join(f"{k}={v:.5g}" for k, v in r.coefficients.items())
            lines.append(f"| {r.method} | {coefficients} | {error_text(r.rel_l2)} | {error_text(r.start_rel_l2)} | "
                         f"{error_text(r.source_rel_l2_after)} | {r.trainable_params} | {r.stored_params} | "
                         f"{r.seconds:.1f} |")
    return "\n".join(lines)


def plot_model(evaluator: Evaluator, network: torch.nn.Module, title: str, path: Path) -> None:
    """Prediction, reference and error of `network` on the evaluator's grid, error in the title."""
    metrics = evaluator(network)
    plot_solution(
        evaluator.grid, evaluator.equation.inputs, evaluator.predict(network), evaluator.reference,
        f"{title} (relative L2 {error_text(metrics.rel_l2)})", path,
    )


@dataclass
class LoadedRun:
    kind: str
    metadata: dict[str, Any]
    models: list[tuple[str, Equation, torch.nn.Module, int]]  # role, equation, network, trainable


def saved_settings(payload: dict[str, Any], device: str = "cpu") -> Settings:
    """A checkpoint's settings, on `device`; runs saved before exact conditions and RAD
    existed were soft and on fixed points."""
    return Settings(**{"conditions": "soft", "rad_every": 0, **payload["settings"], "device": device})


def load_run(run_dir: Path, device: str = "cpu") -> LoadedRun:
    """Rebuild every model of a saved run on `device`; a foreign or mismatched checkpoint is
    refused."""
    resolve_device(device)
    payload = read_payload(run_dir)
    try:
        kind = payload["kind"]
        source = equations.create(payload["equation"], **payload["coefficients"])
        settings = saved_settings(payload, device)
        network = build_network(source, settings)
        network.load_state_dict(payload["network"], strict=True)
        if kind == "solve":
            trainable = sum(p.numel() for p in network.parameters())
            return LoadedRun(kind, payload, [("source", source, network, trainable)])
        if kind != "transfer":
            raise ValueError(f"unknown run kind {kind!r}")
        method = payload.get("method", "pac")
        if method == "pac":
            models = _load_pac_models(payload, source, network)
        else:
            models = [("source", source, network, payload["source_trainable"])]
            for target in payload["targets"]:
                equation = equations.create(payload["equation"], **target["coefficients"])
                target_network = build_network(equation, settings)
                target_network.load_state_dict(target["network"], strict=True)
                models.append(("target", equation, target_network, target["trainable"]))
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{run_dir}: checkpoint does not describe a pinn-pac run ({detail})") from None
    return LoadedRun(kind, payload, models)


def _load_pac_models(payload, source, network) -> list[tuple[str, Equation, torch.nn.Module, int]]:
    pac = PACNetwork.from_saved(network, payload["masks"])
    models = [("source", source, pac.source_view(), pac.source_count)]
    for target in payload["targets"]:
        equation = equations.create(payload["equation"], **target["coefficients"])
        pac.set_adapter(coefficient_key(equation), target["adapter"])
        models.append(("target", equation, pac.target_view(coefficient_key(equation)), pac.freed_count))
    return models


def evaluate_run(run_dir: Path, device: str = "cpu") -> list[Record]:
    """Reload a run on `device` and measure every model against its reference again."""
    loaded = load_run(run_dir, device)
    settings = saved_settings(loaded.metadata, device)
    records = []
    for role, equation, network, trainable in loaded.models:
        metrics = evaluator_for(equation, settings)(network)
        records.append(Record(equation.name, equation.coefficients, role, metrics.rel_l2,
                              metrics.max_abs_err, trainable, None, "reloaded"))
    return records
