"""`pinn-pac solve`: options read into a `SolveJob`, or the job of the run --resume names
(with how it is to run changed where typed), run in its folder by the library."""

from __future__ import annotations

import argparse

from ..runs import SOLVE_BUDGET, SolveJob
from ..runs.folder_jobs import RunInterrupted, SolveInFolder
from ..runs.store import RunStore
from .jobs import (
    SOLVE_RESUMABLE, equation_with_flags, format_table, interrupted, refuse_options_of_the_run, run_dir_for,
    runtime_from, stored_job,
)
from .options import UsageError, budget_from, settings_from


def run_solve(args: argparse.Namespace, extra: list[str], typed: set[str]) -> None:
    if args.resume is not None:
        if extra:
            raise UsageError(f"unrecognised arguments: {' '.join(extra)} (the run's own coefficients apply)")
        refuse_options_of_the_run(typed, SOLVE_RESUMABLE, "solve")
        store = RunStore.open(args.resume)
        if store.job.get("kind") != SolveJob.kind:
            raise UsageError(f"{args.resume} holds a {store.job.get('kind')} run; resume it with "
                             f"pinn-pac {store.job.get('kind')} --resume {args.resume}")
        if store.finished:  # listed once its every report is written (a failed save leaves it resumable)
            raise UsageError(f"{args.resume} is finished; pinn-pac evaluate {args.resume} re-measures it")
        job, family = stored_job(store.job, SolveJob, args, typed)
        checked = SolveInFolder(job, family, runtime_from(args))
        folder = store
    else:
        if args.equation is None:
            raise UsageError("solve needs an equation, or --resume RUN_DIR")
        equation, source = equation_with_flags(args.equation, extra)
        job = SolveJob(equation.name, equation.coefficients, settings_from(args), budget_from(args, "", SOLVE_BUDGET),
                       source.as_record())
        checked = SolveInFolder(job, type(equation), runtime_from(args))
        folder = run_dir_for(args, equation)
    try:
        run = checked.run(folder)
    except RunInterrupted as stopped:
        raise interrupted(stopped.store, "solve") from None
    print(format_table([run.record]))
    print(f"stopped: {run.record.stopped_because}; run saved to {args.resume or folder}")
