"""`pinn-pac transfer`: options read into a `TransferJob`, or the job of the run --resume or
--from names (--from's targets added; how it is to run changed where typed), run in its folder
by the library."""

from __future__ import annotations

import argparse

from equations import Equation

from ..runs import TransferJob, TransferRun, comparison_table
from ..runs.coefficients import parse_assignments
from ..runs.families import checked_family
from ..runs.folder_jobs import RunInterrupted, TransferInFolder
from ..runs.store import RunStore
from .jobs import (
    RESUMABLE, format_table, interrupted, refuse_options_of_the_run, run_dir_for, runtime_from, stored_job,
)
from .options import UsageError, methods_from, settings_from, transfer_settings_from


def _new_transfer_job(args: argparse.Namespace, extra: list[str],
                      typed: set[str]) -> tuple[TransferJob, type[Equation]]:
    if extra:
        raise UsageError(f"unrecognised arguments: {' '.join(extra)} (use --source and --targets)")
    if args.equation is None:
        raise UsageError("transfer needs an equation, or --resume RUN_DIR, or --from RUN_DIR --targets ...")
    family, origin = checked_family(args.equation)
    groups = parse_assignments(args.source) if args.source.strip() else [{}]
    if len(groups) > 1:
        raise UsageError(f"--source takes one set of coefficients, got {len(groups)}: {args.source!r}")
    source = family(**groups[0])
    targets = parse_assignments(family.example_targets if args.targets is None else args.targets)
    methods = [{"name": m.name, "options": m.options_dict()} for m in methods_from(args, typed)]
    job = TransferJob(source.name, source.coefficients, [source.with_coefficients(**t).coefficients for t in targets],
                      settings_from(args), transfer_settings_from(args), methods, args.target_points, origin.as_record())
    return job, family


def _stored_transfer_job(args: argparse.Namespace, typed: set[str]) -> tuple[TransferJob, type[Equation], RunStore]:
    """The job of the run that --resume or --from names, with --from's targets added and the
    runtime options typed now applied (see `options.RUNTIME_OPTIONS`); its manifest is changed
    only once the job has passed every check."""
    refuse_options_of_the_run(typed, RESUMABLE | ({"targets"} if args.from_run is not None else set()), "transfer")
    if args.from_run is not None and args.targets is None:
        raise UsageError("--from RUN_DIR needs --targets to add")
    store = RunStore.open(args.resume or args.from_run)
    if store.job.get("kind") != TransferJob.kind:
        raise UsageError(f"{store.run_dir} holds a {store.job.get('kind')} run, not a transfer")
    if args.resume is not None and store.finished:
        raise UsageError(f"{store.run_dir} is finished; pinn-pac evaluate {store.run_dir} re-measures it, and "
                         f"pinn-pac transfer --from {store.run_dir} --targets ... adds members")
    job, family = stored_job(store.job, TransferJob, args, typed)
    if args.from_run is not None:
        source = family(**job.source)
        job.targets = job.targets + [source.with_coefficients(**t).coefficients for t in parse_assignments(args.targets)]
    return job, family, store


def run_transfer(args: argparse.Namespace, extra: list[str], typed: set[str]) -> None:
    if args.resume is not None or args.from_run is not None:
        job, family, folder = _stored_transfer_job(args, typed)
        checked = TransferInFolder(job, family, runtime_from(args), folder)
    else:
        job, family = _new_transfer_job(args, extra, typed)
        checked = TransferInFolder(job, family, runtime_from(args))
        folder = run_dir_for(args, checked.source)
    try:
        runs = checked.run(folder)
    except RunInterrupted as stopped:
        raise interrupted(stopped.store, "transfer") from None
    print_transfer(runs)
    print(f"run saved to {folder.run_dir if isinstance(folder, RunStore) else folder}")


def print_transfer(runs: list[TransferRun]) -> None:
    if len(runs) > 1:
        print(comparison_table([record for run in runs for record in run.records]))
    else:
        print(format_table(runs[0].records))
