"""`pinn-pac solve` and `pinn-pac transfer`: options read into a job in library terms, every
input checked before any training, the run folder's manifest written before training, and
--resume/--from taken up from that manifest."""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from equations import Equation, EquationSource, coefficient_key

from ..runs import (
    Record, SolveJob, TransferJob, check_transfer, comparison_table, error_text, evaluator_for, save_comparison,
    save_family, save_solve, save_transfer, solve, transfer,
)
from ..runs.assemble import check_run
from ..runs.coefficients import parse_assignments, parse_value
from ..runs.families import checked_family, recorded_family
from ..runs.parallel import ProcessPool, RayTasks, TargetExecutor
from ..runs.solve_job import stored_solve
from ..runs.store import MANIFEST, SOLVE, SOURCE, RunStore
from ..transfer import METHODS
from .options import UsageError, budget_from, methods_from, settings_from, transfer_settings_from


class Interrupted(Exception):
    """SIGINT or SIGTERM stopped a command; the message says what was kept."""


#: Options that may be given with --resume or --from: they say how to run, not what to train.
RESUMABLE = {"resume", "from_run", "quiet", "workers", "ray", "device", "equation_from", "allow_changed_equation"}
SOLVE_RESUMABLE = {"resume", "quiet", "device", "equation_from", "allow_changed_equation"}
LOCAL_RAY = "local"


def equation_with_flags(spec: str, extra: list[str]) -> tuple[Equation, EquationSource]:
    """The equation `spec` names (a built-in, a plug-in, file.py:Class or package.module:Class;
    a user's class checked first), with coefficient flags such as --nu 0.01/pi read from
    `extra`; and where its family came from."""
    family, source = checked_family(spec)
    parser = argparse.ArgumentParser(prog=f"pinn-pac ... {family.name}", add_help=False, allow_abbrev=False)
    for spec in family.coefficient_specs:
        parser.add_argument(f"--{spec.name}", default=None, help=spec.description)
    values, unknown = parser.parse_known_args(extra)
    if unknown:
        names = ", ".join(f"--{s.name}" for s in family.coefficient_specs)
        raise UsageError(f"unrecognised arguments: {' '.join(unknown)} ({family.name} takes {names})")
    given = {k: parse_value(v) for k, v in vars(values).items() if v is not None}
    return family(**given), source


def check_writable(folder: Path, what: str) -> None:
    """Create `folder` if need be, then write and sync one byte there: refused in one line
    where that fails (a folder not writable, a full disk), before any work."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder) as probe:
            probe.write(b"\0")
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as error:
        raise UsageError(f"cannot write {what} to {folder}: {error.strerror or error}") from None


def run_dir_for(args: argparse.Namespace, equation: Equation) -> Path:
    """Where the run goes, created and checked writable before any training; refused if it
    is a file or already holds a run. The default folder is new: a second run started in the
    same second gets the next free name."""
    if args.out is None:
        base = Path("runs") / f"{args.command}-{equation.name}-{time.strftime('%Y%m%d-%H%M%S')}"
        for attempt in range(1, 1000):
            out = base if attempt == 1 else base.with_name(f"{base.name}-{attempt}")
            try:
                out.mkdir(parents=True)
                break
            except FileExistsError:
                continue
            except OSError as error:
                raise UsageError(f"cannot write the run to {out}: {error.strerror or error}") from None
        check_writable(out, "the run")
        return out
    out = args.out
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a directory for the run")
    if any((out / name).exists() for name in ("checkpoint.pt", "comparison.json", MANIFEST)):
        raise UsageError(f"{out} already holds a run; choose another --out, remove it first, "
                         f"or continue it with pinn-pac {args.command} --resume {out}")
    check_writable(out, "the run")
    return out


def format_table(records: list[Record]) -> str:
    header = f"{'coefficients':<22} {'role':<7} {'rel L2':>10} {'max err':>10} {'trainable':>10} {'seconds':>8}"
    lines = [header, "-" * len(header)]
    for r in records:
        coefficients = ",".join(f"{k}={v:.5g}" for k, v in r.coefficients.items())
        seconds = "-" if r.seconds is None else f"{r.seconds:.1f}"
        lines.append(f"{coefficients:<22} {r.role:<7} {error_text(r.rel_l2, '.3e'):>10} "
                     f"{error_text(r.max_abs_err, '.3e'):>10} {r.trainable_params:>10d} {seconds:>8}")
        if r.role == "target" and r.method in METHODS and not METHODS[r.method].keeps_source:
            lines.append(f"{'':<22} {r.method} forgets the source: its rel L2 on the source is now "
                         f"{error_text(r.source_rel_l2_after, '.3e')}")
        if r.rel_l2_after_calibration is not None and error_text(r.rel_l2) != "n/a":
            same = "identical" if r.rel_l2_after_calibration == r.rel_l2 else "CHANGED"
            lines.append(f"{'':<22} source rel L2 after all calibrations: "
                         f"{r.rel_l2_after_calibration:.3e} ({same})")
    return "\n".join(lines)


def _refuse_options_of_the_run(typed: set[str], allowed: set[str], command: str) -> None:
    given = sorted(typed - allowed)
    if given:
        flags = ", ".join("equation" if k == "equation" else "--" + k.replace("_", "-") for k in given)
        accepted = ", ".join("--" + name.replace("_", "-") for name in sorted(allowed - {"resume", "from_run"}))
        raise UsageError(f"{flags}: not with --resume or --from; the run's own options apply "
                         f"(pinn-pac {command} --resume takes only {accepted})")


def run_solve(args: argparse.Namespace, extra: list[str], typed: set[str]) -> None:
    if args.resume is not None:
        if extra:
            raise UsageError(f"unrecognised arguments: {' '.join(extra)} (the run's own coefficients apply)")
        _refuse_options_of_the_run(typed, SOLVE_RESUMABLE, "solve")
        store = RunStore.open(args.resume)
        if store.job.get("kind") != SolveJob.kind:
            raise UsageError(f"{args.resume} holds a {store.job.get('kind')} run; resume it with "
                             f"pinn-pac {store.job.get('kind')} --resume {args.resume}")
        if store.has(SOLVE):  # listed once its every report is written (a failed save leaves it resumable)
            raise UsageError(f"{args.resume} is finished; pinn-pac evaluate {args.resume} re-measures it")
        job = SolveJob.from_dict(store.job)
        if "device" in typed:
            job.settings = replace(job.settings, device=settings_from(args).device)
        equation = recorded_family(store.job, args.equation_from, args.allow_changed_equation)(**job.coefficients)
    else:
        if args.equation is None:
            raise UsageError("solve needs an equation, or --resume RUN_DIR")
        equation, source = equation_with_flags(args.equation, extra)
        job = SolveJob(equation.name, equation.coefficients, settings_from(args), budget_from(args, ""),
                       source.as_record())
        check_run(equation, job.settings, job.budget.optimizer)
        out = run_dir_for(args, equation)
    evaluator = evaluator_for(equation, job.settings)  # a reference it cannot serve is refused here
    if args.resume is None:
        store = RunStore.create(out, job.as_dict())
    out = store.run_dir
    try:
        # The trained network is kept as the run's source piece before any report: a save
        # that fails leaves a run that --resume finishes without training again.
        run = stored_solve(equation, job.settings, job.budget, store, SOURCE, state_piece=SOLVE,
                           progress=not args.quiet, evaluator=evaluator)
        save_solve(run, out)
    except KeyboardInterrupt:
        raise Interrupted(f"the training so far is kept in {out}; resume with: pinn-pac solve --resume {out}") from None
    store.finish(SOLVE)  # the mark of a finished run, written last
    print(format_table([run.record]))
    print(f"stopped: {run.record.stopped_because}; run saved to {out}")


def _executor(args: argparse.Namespace) -> TargetExecutor | None:
    """Where targets train: a Ray cluster, a local process pool, or (None) this process."""
    if args.workers < 1:
        raise UsageError(f"--workers must be >= 1, got {args.workers}")
    if args.ray is not None:
        if args.workers > 1:
            raise UsageError("--workers and --ray: choose one (Ray decides how many targets run at once)")
        return RayTasks(None if args.ray == LOCAL_RAY else args.ray, threads=args.threads or 1)
    if args.workers > 1:
        threads = args.threads or torch.get_num_threads()
        return ProcessPool(args.workers, max(1, threads // args.workers))
    return None


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
    """The job of the run that --resume or --from names, with --from's targets added (the
    manifest rewritten at once, so an interrupted --from resumes them) and --device applied."""
    _refuse_options_of_the_run(typed, RESUMABLE | ({"targets"} if args.from_run is not None else set()), "transfer")
    if args.from_run is not None and args.targets is None:
        raise UsageError("--from RUN_DIR needs --targets to add")
    store = RunStore.open(args.resume or args.from_run)
    if store.job.get("kind") != TransferJob.kind:
        raise UsageError(f"{store.run_dir} holds a {store.job.get('kind')} run, not a transfer")
    job = TransferJob.from_dict(store.job)
    if "device" in typed:
        job.settings = replace(job.settings, device=settings_from(args).device)
    family = recorded_family(store.job, args.equation_from, args.allow_changed_equation)
    if args.from_run is not None:
        source = family(**job.source)
        job.targets = job.targets + [source.with_coefficients(**t).coefficients for t in parse_assignments(args.targets)]
    return job, family, store


def run_transfer(args: argparse.Namespace, extra: list[str], typed: set[str]) -> None:
    stored = args.resume is not None or args.from_run is not None
    job, family, store = (_stored_transfer_job(args, typed) if stored
                          else (*_new_transfer_job(args, extra, typed), None))
    source = family(**job.source)
    targets = [source.with_coefficients(**t) for t in job.targets]
    methods = [METHODS[m["name"]](**m["options"]) for m in job.methods]
    executor = _executor(args)
    check_transfer(source, targets, job.settings, methods, job.target_points, executor)
    check_run(source, job.settings, job.budgets.source.optimizer)
    out = run_dir_for(args, source) if store is None else store.run_dir
    # Every reference before the manifest: one it cannot serve is refused before any work.
    evaluators = {coefficient_key(e): evaluator_for(e, job.settings) for e in (source, *targets)}
    if store is None:
        store = RunStore.create(out, job.as_dict())
    elif args.from_run is not None:
        store.set_job(job.as_dict())
    out = store.run_dir
    try:
        runs = transfer(source, targets, job.settings, job.budgets, methods, progress=not args.quiet,
                        target_points=job.target_points, store=store, executor=executor, evaluators=evaluators)
        if len(runs) > 1:
            save_comparison(runs, out)
        else:
            save_transfer(runs[0], out)
        save_family(runs, out)
    except KeyboardInterrupt:
        raise Interrupted(f"{store.summary()} saved in {out}; resume with: pinn-pac transfer --resume {out}") from None
    if len(runs) > 1:
        print(comparison_table([record for run in runs for record in run.records]))
    else:
        print(format_table(runs[0].records))
    print(f"run saved to {out}")
