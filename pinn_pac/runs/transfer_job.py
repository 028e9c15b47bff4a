"""The transfer job: a source trained once, then moved to every target by each method, each
piece stored the moment it is finished and taken up again where a store already holds it."""

from __future__ import annotations

from contextlib import closing
from dataclasses import asdict, dataclass, replace
from typing import Any, Sequence

from tqdm import tqdm

import equations
from equations import Equation, coefficient_key
from equations.errors import InputError

from ..solver.evaluate import Evaluator
from ..solver.loss import check_rad
from ..solver.train import Budget, History, TrainingState
from ..transfer import DEFAULT_METHOD, make_method
from ..transfer.base import TransferContext, TransferMethod
from .assemble import apply_threads, check_run, evaluator_for, physics_loss, transfer_context
from .config import Settings, TransferSettings
from .family_answer import FAMILY_INDICATOR, learn_indicator
from .parallel import TargetExecutor
from .records import Record, SolveRun, TransferRun
from .solve_job import run_metadata, solve, stored_solve
from .store import SOURCE, RunStore, prepared_piece, target_piece
from .targets import TargetTask, adapt_target, train_target


def check_targets(source: Equation, targets: list[Equation]) -> None:
    """Refuse targets outside the source's family, or two with the same coefficient key."""
    for target in targets:
        if not target.same_family(source):
            raise InputError(f"target {target.describe()} is not in the family of {source.describe()}")
    keys = [coefficient_key(t) for t in targets]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise InputError(f"targets must differ in their first 6 significant digits; repeated: {'; '.join(repeated)}")


def as_methods(methods: TransferMethod | str | Sequence[TransferMethod | str]) -> list[TransferMethod]:
    """Method objects (one, or several), a name standing for the method with its default options."""
    if isinstance(methods, (TransferMethod, str)):
        methods = [methods]
    return [make_method(m) if isinstance(m, str) else m for m in methods]


def check_transfer(source: Equation, targets: list[Equation], settings: Settings, methods: list[TransferMethod],
                   target_points: int | None = None, executor: TargetExecutor | None = None,
                   store: RunStore | None = None) -> None:
    """Every check a transfer makes before it trains anything (or changes its `store`): the
    targets, and each method against them and against what the store already holds of it."""
    check_targets(source, targets)
    if target_points is not None:
        if target_points < 1:
            raise InputError(f"--target-points must be >= 1, got {target_points}")
        check_rad(settings.rad_every, settings.rad_candidates, target_points)
    for method in methods:
        method.check(source, targets)
        prepared = store.load(prepared_piece(method.name)) if store is not None else None
        if prepared is not None:
            method.check_prepared(prepared, source, targets)
        if executor is not None and not method.targets_independent:
            raise InputError(f"{method.name}: with these options each target depends on those trained before "
                             "it, so targets cannot train in parallel; use one process (--workers 1)")


def check_optimizers(source: Equation, settings: Settings, budgets: TransferSettings,
                     methods: list[TransferMethod]) -> None:
    """Refuse, before any work, lm steps (optimizer "lm", finish steps) where they cannot serve: for the family (see
    `check_least_squares`), or for a method that trains no layer entries (LoRA, parametric)."""
    for phase in TransferSettings.PHASES:
        if getattr(budgets, phase).uses_lm:
            check_run(source, settings, getattr(budgets, phase))
    if any(getattr(budgets, phase).uses_lm for phase in ("allocate", "calibrate")):
        for method in methods:
            if not method.trains_layer_entries:
                raise InputError(f"{method.name}: lm steps train entries of a network's layers; "
                                 f"{method.name} trains none (use another optimizer and no finish for its phases)")


def transfer(
    source: Equation,
    targets: list[Equation],
    settings: Settings | None = None,
    transfer_settings: TransferSettings | None = None,
    methods: TransferMethod | str | Sequence[TransferMethod | str] = (DEFAULT_METHOD,),
    progress: bool = True,
    source_run: SolveRun | None = None,
    target_points: int | None = None,
    store: RunStore | None = None,
    executor: TargetExecutor | None = None,
    evaluators: dict[str, Evaluator] | None = None,
) -> list[TransferRun]:
    """Train the source once (unless `source_run` is given), then move it to every target
    with each of `methods` (objects such as `PAC(ratio=0.3)`, or names for their defaults);
    targets train on `target_points` interior points if given.

    With a `store`, each piece is written the moment it is finished, training inside a phase
    is kept as it goes, and what it already holds is taken up instead of trained, to the same
    records. With an `executor` (see `parallel`), targets train in other processes, to the
    same records. `evaluators` (by coefficient key) are references already built.
    """
    settings = settings or Settings()
    transfer_settings = transfer_settings or TransferSettings()
    methods = as_methods(methods)
    check_transfer(source, targets, settings, methods, target_points, executor, store)
    check_optimizers(source, settings, transfer_settings, methods)
    apply_threads(settings)
    # Every target's reference first: one it cannot serve is refused before any training.
    built = evaluators or {}
    target_evaluators = {coefficient_key(t): built.get(coefficient_key(t)) or evaluator_for(t, settings)
                         for t in targets}
    if source_run is None:
        source_run = _source_run(source, settings, transfer_settings.source, progress, store,
                                 built.get(coefficient_key(source)))
    evaluators = {**target_evaluators, coefficient_key(source): source_run.evaluator}
    context = transfer_context(source, source_run.network, targets, settings, progress, target_points)
    job = _TransferJob(context, source_run, evaluators, settings, transfer_settings, store, executor)
    return [job.run(method) for method in methods]


def _source_run(source: Equation, settings: Settings, budget: Budget, progress: bool,
                store: RunStore | None, evaluator: Evaluator | None) -> SolveRun:
    """The trained source: from the store where it holds one, else trained (and stored)."""
    if store is None:
        return solve(source, settings, budget, progress=progress, evaluator=evaluator)
    return stored_solve(source, settings, budget, store, SOURCE, progress=progress, evaluator=evaluator)


@dataclass
class _TransferJob:
    """The shared parts of a transfer run, and how each method's part of it runs."""

    context: TransferContext
    source_run: SolveRun
    evaluators: dict[str, Evaluator]
    settings: Settings
    transfer_settings: TransferSettings
    store: RunStore | None
    executor: TargetExecutor | None

    def run(self, method: TransferMethod) -> TransferRun:
        """`method`'s models for the source and every target, trained or taken from the store."""
        context, source_run, evaluators, store = self.context, self.source_run, self.evaluators, self.store
        source, key = context.source, coefficient_key(context.source)
        histories = {f"source {key}": source_run.history}
        saved = self._prepared(method)
        prepared = saved["prepare"]
        if prepared is not None:
            histories[f"{method.name} prepare {key}"] = History(**prepared["history"])
        before = evaluators[key](method.source_model())

        pieces = {coefficient_key(t): store.load(target_piece(method.name, coefficient_key(t))) if store else None
                  for t in context.targets}
        if self.executor is not None:
            pieces.update(self._train_elsewhere(method, saved, [t for t in context.targets
                                                                 if pieces[coefficient_key(t)] is None]))
        # Stored targets are taken up first: the order the rest train in may depend on them.
        networks, waiting = {}, []
        for target in context.targets:
            piece = pieces[coefficient_key(target)]
            if piece is None:
                waiting.append(target)
            else:
                networks[coefficient_key(target)] = method.load_target(target, piece)
        # Each method gets its own target losses: RAD moves their points during training.
        for target in method.training_order(waiting):
            target_key = coefficient_key(target)
            loss = physics_loss(target, self.settings, n_interior=self.context.target_points)
            options = {"progress": context.progress,
                       "state": store.training_state(target_piece(method.name, target_key)) if store else None,
                       "callbacks": store.callbacks if store else ()}
            networks[target_key], pieces[target_key] = adapt_target(method, target, self.transfer_settings.calibrate,
                                                                     evaluators, loss, key, options)
            if store:
                store.save(target_piece(method.name, target_key), pieces[target_key])
        target_records, target_states = [], []
        for target in context.targets:
            target_key = coefficient_key(target)
            piece = pieces[target_key]
            histories[f"{method.name} {target_key}"] = History(**piece.pop("history"))
            target_records.append(Record(**piece.pop("record")))
            target_states.append({k: v for k, v in piece.items() if k not in method.store_only})

        source_model = method.source_model()
        source_history = History(**prepared["history"]) if prepared else source_run.history
        source_record = Record(
            source.name, source.coefficients, "source", before.rel_l2, before.max_abs_err,
            method.source_count(), source_run.record.seconds + (prepared["seconds"] if prepared else 0.0),
            prepared["stopped_because"] if prepared else source_run.record.stopped_because, method.name,
            rel_l2_after_calibration=evaluators[key](source_model).rel_l2 if method.keeps_source else None,
            optimizer=source_history.optimizer or None, reference=evaluators[key].reference is not None,
        )
        checkpoint = {k: v for k, v in saved.items() if k != "prepare"}
        checkpoint["targets"] = target_states
        members = [(source, source_model), *((t, networks[coefficient_key(t)]) for t in context.targets)]
        try:
            learned = learn_indicator(members, self.settings)
        except InputError:  # a family the reduced basis refuses: `predict --model` says why when asked
            learned = None
        if learned is not None:
            checkpoint[FAMILY_INDICATOR] = learned
        return TransferRun(
            source, context.targets, self.settings, self.transfer_settings, method,
            [source_record] + target_records, histories, evaluators, networks, checkpoint,
        )

    def _prepared(self, method: TransferMethod) -> dict[str, Any]:
        """Prepare `method`, or take up its stored preparation: its piece for a store (run
        metadata, the method's shared state, and under "prepare" what its training cost, if any)."""
        context, store = self.context, self.store
        piece = prepared_piece(method.name)
        saved = store.load(piece) if store else None
        if saved is not None:
            method.load_prepared(context, saved)
            return saved
        key = coefficient_key(context.source)
        prepared = method.prepare(context, self.transfer_settings.allocate, self.evaluators[key],
                                  label=f"{method.name} prepare {key}", progress=context.progress,
                                  state=store.training_state(piece) if store else None,
                                  callbacks=store.callbacks if store else ())
        budgets = {phase: asdict(getattr(self.transfer_settings, phase)) for phase in TransferSettings.PHASES}
        saved = {"kind": "transfer", **run_metadata(context.source, self.settings), "method": method.name,
                 "options": method.options_dict(), "budgets": budgets,
                 **method.prepared_state(), "prepare": prepared and {
                     "seconds": prepared.seconds, "stopped_because": prepared.stopped_because,
                     "history": prepared.history.as_dict()}}
        if store:
            store.save(piece, saved)
        return saved

    def _worker_state(self, method: TransferMethod, target: Equation) -> TrainingState | None:
        """Where a worker keeps `target`'s training state: the store, where it can write there."""
        if self.store is None or not self.executor.shares_files:
            return None
        return self.store.training_state(target_piece(method.name, coefficient_key(target)))

    def _train_elsewhere(self, method: TransferMethod, prepared: dict[str, Any],
                         targets: list[Equation]) -> dict[str, dict[str, Any]]:
        """Train `targets` by the executor; each piece is stored the moment it arrives."""
        source = self.context.source
        settings = replace(self.settings, threads=self.executor.threads)
        tasks = [TargetTask(
            equations.source_of(type(source)), source.coefficients, [t.coefficients for t in self.context.targets],
            target.coefficients,
            method.name, method.options_dict(), settings, self.transfer_settings.calibrate,
            self.source_run.network.state_dict(), {k: v for k, v in prepared.items() if k != "prepare"},
            self.context.target_points, self._worker_state(method, target),
            self.store.callbacks if self.store and self.executor.shares_files else [],
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
