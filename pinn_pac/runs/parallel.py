"""Where targets train when not in the calling process: a local process pool, or Ray tasks.

Both run a picklable function over a list of tasks and hand back (index, result) as each
finishes. A target's training depends only on the run and its own coefficients (see
`runs.targets.train_target`), so which process trains it does not change its record.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import sys
from typing import Any, Callable, Iterator, Protocol

import torch

from equations.errors import InputError


class TargetExecutor(Protocol):
    """Runs target tasks in other processes: `ProcessPool` or `RayTasks`."""

    #: Torch threads each task runs on.
    threads: int
    #: True where tasks run on this machine and can write the run's folder (to keep their
    #: training state there as they go).
    shares_files: bool

    def map_unordered(self, function: Callable[[Any], Any], tasks: list[Any]) -> Iterator[tuple[int, Any]]:
        """(index, function(task)) for every task, in the order they finish."""


def _start_worker() -> None:
    # Ctrl-C reaches the whole process group; the parent alone handles it (it stops the pool).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The pool stops its workers by SIGTERM: exit cleanly, releasing what this process holds.
    signal.signal(signal.SIGTERM, _exit)


def _exit(signum: int, frame: object) -> None:
    sys.exit(0)


def _indexed(call: tuple[Callable[[Any], Any], int, Any]) -> tuple[int, Any]:
    function, index, task = call
    return index, function(task)


def _indexed_bytes(call: bytes) -> bytes:
    # Tasks and results cross as plain pickles, tensors copied: with multiprocessing's own
    # pickler torch would move each tensor through shared memory, a file descriptor apiece.
    return pickle.dumps(_indexed(pickle.loads(call)))


class ProcessPool:
    """`workers` local processes (spawned: fresh interpreters), each on `threads` torch threads."""

    shares_files = True

    def __init__(self, workers: int, threads: int | None = None) -> None:
        if workers < 1:
            raise InputError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        #: The machine's threads split evenly between the workers, unless given.
        self.threads = threads or max(1, torch.get_num_threads() // workers)

    def map_unordered(self, function: Callable[[Any], Any], tasks: list[Any]) -> Iterator[tuple[int, Any]]:
        if not tasks:
            return
        pool = multiprocessing.get_context("spawn").Pool(min(self.workers, len(tasks)), _start_worker)
        try:
            calls = [pickle.dumps((function, i, task)) for i, task in enumerate(tasks)]
            for result in pool.imap_unordered(_indexed_bytes, calls):
                yield pickle.loads(result)
            pool.close()
            pool.join()  # let the workers finish exiting before the SIGTERM of terminate()
        finally:
            pool.terminate()
            pool.join()


class RayTasks:
    """Ray tasks of `threads` CPUs each, on the cluster at `address`, or on a local Ray of
    `cpus` CPUs (all of this machine's by default) when no address is given."""

    def __init__(self, address: str | None = None, threads: int = 1, cpus: int | None = None) -> None:
        try:
            import ray  # noqa: F401
        except ImportError:
            raise InputError("--ray needs Ray: pip install -e '.[ray]'") from None
        if threads < 1:
            raise InputError(f"threads per Ray task must be >= 1, got {threads}")
        self.address, self.threads, self.cpus = address, threads, cpus
        self.shares_files = address is None

    def map_unordered(self, function: Callable[[Any], Any], tasks: list[Any]) -> Iterator[tuple[int, Any]]:
        import ray

        if not tasks:
            return
        # Workers see this process's numerics choice (MKL's mode is read from the environment).
        environment = {name: os.environ[name] for name in ("MKL_CBWR",) if name in os.environ}
        started = not ray.is_initialized()
        if started:
            if self.address is None:  # Ray's workers run at nice 15 by default; these are the job's main work
                os.environ.setdefault("RAY_worker_niceness", "0")
            ray.init(address=self.address, num_cpus=None if self.address else self.cpus,
                     runtime_env={"env_vars": environment}, include_dashboard=False,
                     log_to_driver=False, configure_logging=False)
        pending: list = []
        try:
            remote = ray.remote(num_cpus=self.threads, max_retries=0)(_indexed)
            pending = [remote.remote((function, i, task)) for i, task in enumerate(tasks)]
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                yield ray.get(done[0])
        finally:
            for reference in pending:
                ray.cancel(reference, force=True)
            if started:
                ray.shutdown()
