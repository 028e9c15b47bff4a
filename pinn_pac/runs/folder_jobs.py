"""Jobs that own their run folders: a solve or a transfer, given in library terms (what the run
IS: `SolveJob`, `TransferJob`) and how it is to run (`Runtime`), checked before anything is
written, its manifest written (or changed) only then, trained piece by piece into the folder,
its reports saved, and marked finished last. `--resume`, `--from`, `pinn-pac run` and the
library all go through here."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

from equations import Equation, coefficient_key
from equations.errors import InputError

from ..solver.callbacks import Callback, CsvLog, TensorBoardLog
from ..transfer import METHODS
from .assemble import apply_threads, check_run, evaluator_for
from .config import SolveJob, TransferJob
from .families import recorded_family
from .parallel import TargetExecutor
from .records import SolveRun, TransferRun
from .reports import save_comparison, save_family, save_solve, save_transfer
from .solve_job import stored_solve
from .store import HISTORY_LOG, SOLVE, SOURCE, RunStore
from .transfer_job import check_optimizers, check_transfer, transfer


#: What a job's training and saving gives back: a solve's run, a transfer's runs.
Finished = TypeVar("Finished")


class RunInterrupted(Exception):
    """Ctrl-C or SIGTERM stopped a job; `store` holds what it kept (`store.finished` says
    whether the stop came after the run was finished)."""

    def __init__(self, store: RunStore) -> None:
        super().__init__(f"stopped; {store.summary()} kept in {store.run_dir}")
        self.store = store


@dataclass
class Runtime:
    """How a run runs, which may change from one start of it to the next (the settings'
    device, threads, thread invariance and derivative path are the rest of it)."""

    progress: bool = True
    #: Where targets train: None for this process, else a `parallel` executor.
    executor: TargetExecutor | None = None
    #: A folder for TensorBoard scalars of every record, beside RUN/history.csv.
    tensorboard: Path | None = None

    def check(self) -> None:
        """Refuse, before any work, a TensorBoard folder without the package to write it."""
        if self.tensorboard is not None and importlib.util.find_spec("tensorboard") is None:
            raise InputError("--tensorboard needs the tensorboard package: pip install tensorboard")

    def logs(self, run_dir: Path) -> list[Callback]:
        """The live logs of a run in `run_dir`: RUN/history.csv, and TensorBoard scalars if asked."""
        return [CsvLog(Path(run_dir) / HISTORY_LOG), *([TensorBoardLog(self.tensorboard)] if self.tensorboard else [])]


class _InFolder:
    """What a job run in a folder shares: its store, made or taken up, with the live logs."""

    job: SolveJob | TransferJob
    runtime: Runtime

    def _store(self, folder: Path | RunStore) -> RunStore:
        """The store of `folder`, created with the job's manifest, or (a store already) its
        manifest changed to the job where it differs (--from's targets, a relocated family
        file, how it runs); a stop during the write takes effect once it is whole."""
        job = self.job.as_dict()
        if isinstance(folder, RunStore):
            store = folder
            if job != store.job:
                store.set_job(job)
        else:
            store = RunStore.create(Path(folder), job)
        store.callbacks = self.runtime.logs(store.run_dir)
        return store

    def _run_in(self, folder: Path | RunStore, train_and_save: Callable[[RunStore], Finished]) -> Finished:
        """`train_and_save` in the store of `folder` (see `_store`), then the job's finished mark,
        written last; Ctrl-C or SIGTERM once the store exists becomes `RunInterrupted`."""
        store = None
        try:
            store = self._store(folder)
            finished = train_and_save(store)
            store.finish(self.job.kind)
        except KeyboardInterrupt:
            if store is None:
                raise
            raise RunInterrupted(store) from None
        return finished


class SolveInFolder(_InFolder):
    """A solve job checked (before its folder is made), then run in a folder."""

    def __init__(self, job: SolveJob, family: type[Equation], runtime: Runtime) -> None:
        self.job, self.runtime = job, runtime
        self.equation = family(**job.coefficients)
        check_run(self.equation, job.settings, job.budget)
        apply_threads(job.settings)  # thread invariance refused here where MKL's strict mode does not hold
        runtime.check()

    def run(self, folder: Path | RunStore) -> SolveRun:
        """Train and save in `folder`: a new folder, or the store of one to go on with. The
        reference is built first: one it cannot serve is refused before the manifest."""
        job = self.job
        evaluator = evaluator_for(self.equation, job.settings)

        def train_and_save(store: RunStore) -> SolveRun:
            # The trained network is kept as the run's source piece before any report: a save
            # that fails leaves a run that goes on without training again.
            run = stored_solve(self.equation, job.settings, job.budget, store, SOURCE, state_piece=SOLVE,
                               progress=self.runtime.progress, evaluator=evaluator)
            save_solve(run, store.run_dir)
            return run

        return self._run_in(folder, train_and_save)


class TransferInFolder(_InFolder):
    """A transfer job checked (every method also against what `store`, the run it goes on
    with, holds of it) before its folder is made or its manifest changed, then run in a folder."""

    def __init__(self, job: TransferJob, family: type[Equation], runtime: Runtime,
                 store: RunStore | None = None) -> None:
        self.job, self.runtime = job, runtime
        self.source = family(**job.source)
        self.targets = [self.source.with_coefficients(**t) for t in job.targets]
        self.methods = [METHODS[m["name"]].from_record(m["options"]) for m in job.methods]
        check_transfer(self.source, self.targets, job.settings, self.methods, job.target_points, runtime.executor,
                       store)
        check_run(self.source, job.settings, job.budgets.source)
        check_optimizers(self.source, job.settings, job.budgets, self.methods)
        apply_threads(job.settings)  # thread invariance refused here where MKL's strict mode does not hold
        runtime.check()

    def run(self, folder: Path | RunStore) -> list[TransferRun]:
        """Train and save in `folder`: a new folder, or the store of one to go on with. Every
        reference is built first: one it cannot serve is refused before the manifest changes."""
        job = self.job
        evaluators = {coefficient_key(e): evaluator_for(e, job.settings) for e in (self.source, *self.targets)}

        def train_and_save(store: RunStore) -> list[TransferRun]:
            runs = transfer(self.source, self.targets, job.settings, job.budgets, self.methods,
                            progress=self.runtime.progress, target_points=job.target_points, store=store,
                            executor=self.runtime.executor, evaluators=evaluators)
            if len(runs) > 1:
                save_comparison(runs, store.run_dir)
            else:
                save_transfer(runs[0], store.run_dir)
            save_family(runs, store.run_dir)
            return runs

        return self._run_in(folder, train_and_save)


def add_members(run_dir: Path, targets: list[dict[str, float]], runtime: Runtime, equation: str | None = None,
                allow_changed: bool = False) -> list[TransferRun]:
    """`pinn-pac transfer --from RUN --targets ...` in library terms: the transfer in `run_dir`
    with `targets` added, trained into that folder (the family, as for `recorded_family`)."""
    store = RunStore.open(run_dir)
    if store.job.get("kind") != TransferJob.kind:
        raise InputError(f"{run_dir} holds a {store.job.get('kind')} run, not a transfer: it has no family to grow")
    job = TransferJob.from_dict(store.job)
    family = recorded_family(store.job, equation, allow_changed)
    job.targets = job.targets + targets
    return TransferInFolder(job, family, runtime, store).run(store)
