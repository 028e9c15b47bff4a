"""`pinn-pac run MANIFEST`: run again, in a new folder, the job a run folder's manifest holds
(a solve or a transfer), as it was made: the same bits on the same machine. How it runs
(threads, device, derivative path, workers, logs) may be given anew; a manifest is thus a
config file."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..runs import SolveJob, TransferJob
from ..runs.folder_jobs import RunInterrupted, SolveInFolder, TransferInFolder
from ..runs.store import MANIFEST, RunStore
from .jobs import format_table, interrupted, run_dir_for, runtime_from, stored_job
from .options import UsageError
from .transfer import print_transfer

JOBS = {SolveJob.kind: SolveJob, TransferJob.kind: TransferJob}


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("manifest", type=Path, help="a run folder's manifest.json (or the folder)")


def run_manifest(args: argparse.Namespace, extra: list[str], typed: set[str]) -> None:
    if extra:
        raise UsageError(f"unrecognised arguments: {' '.join(extra)} (the manifest's job applies)")
    folder = args.manifest.parent if args.manifest.name == MANIFEST else args.manifest
    stored = RunStore.open(folder).job
    kind = stored.get("kind")
    if kind not in JOBS:
        raise UsageError(f"{args.manifest} holds a {kind} job; pinn-pac run takes a solve or a transfer")
    if kind == SolveJob.kind and typed & {"workers", "ray"}:
        raise UsageError(f"{args.manifest} holds a solve: it has no targets to train in --workers or --ray")
    job, family = stored_job(stored, JOBS[kind], args, typed)
    checked = (SolveInFolder if kind == SolveJob.kind else TransferInFolder)(job, family, runtime_from(args))
    out = run_dir_for(args, family(**(job.coefficients if kind == SolveJob.kind else job.source)))
    try:
        result = checked.run(out)
    except RunInterrupted as stopped:
        raise interrupted(stopped.store, kind) from None
    if kind == SolveJob.kind:
        print(format_table([result.record]))
    else:
        print_transfer(result)
    print(f"run saved to {out}")
