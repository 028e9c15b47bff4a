"""What the run commands (`solve`, `transfer`, `identify`, `run`) share: the equation a spec
and its flags name, the run folder (new, or refused where it holds a run), how a run runs from
the options typed (`Runtime`), the results table and what a stopped run says it kept."""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

import equations
from equations import Equation, EquationSource

from ..runs import Record, SolveJob, TransferJob
from ..runs.coefficients import parse_value
from ..runs.families import checked_family, recorded_family
from ..runs.folder_jobs import Runtime
from ..runs.parallel import ProcessPool, RayTasks, TargetExecutor
from ..runs.store import MANIFEST, RunStore
from ..transfer import METHODS
from .options import RUNTIME_OPTIONS, UsageError, with_runtime


class Interrupted(Exception):
    """SIGINT or SIGTERM stopped a command; the message says what was kept."""


def interrupted(store: RunStore, command: str) -> Interrupted:
    """What a run command stopped by Ctrl-C or SIGTERM says it kept, and how to go on."""
    if store.finished:
        return Interrupted(f"the run is finished and saved in {store.run_dir}")
    return Interrupted(f"{store.summary()} kept in {store.run_dir}; resume with: pinn-pac {command} --resume "
                       f"{store.run_dir}")


#: Options that may be given with --resume or --from: they say how to run, not what to train.
SOLVE_RESUMABLE = {"resume", "quiet", "tensorboard", "equation_from", "allow_changed_equation", *RUNTIME_OPTIONS}
RESUMABLE = {"from_run", "workers", "ray", *SOLVE_RESUMABLE}
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
        resume = f", or continue it with pinn-pac {args.command} --resume {out}" if hasattr(args, "resume") else ""
        raise UsageError(f"{out} already holds a run; choose another --out or remove it first{resume}")
    check_writable(out, "the run")
    return out


def format_table(records: list[Record]) -> str:
    header = f"{'coefficients':<22} {'role':<7} {'rel L2':>10} {'max err':>10} {'trainable':>10} {'seconds':>8}"
    lines = [header, "-" * len(header)]
    several = len({r.method for r in records}) > 1
    for r in records:
        coefficients = ",".join(f"{k}={v:.5g}" for k, v in r.coefficients.items())
        seconds = "-" if r.seconds is None else f"{r.seconds:.1f}"
        if several and r.role == "source":  # each method's block opens with its source
            lines.append(f"method {r.method}")
        lines.append(f"{coefficients:<22} {r.role:<7} {r.error('rel_l2', '.3e'):>10} "
                     f"{r.error('max_abs_err', '.3e'):>10} {r.trainable_params:>10d} {seconds:>8}")
        if r.role == "target" and r.method in METHODS and not METHODS[r.method].keeps_source:
            lines.append(f"{'':<22} {r.method} forgets the source: its rel L2 on the source is now "
                         f"{r.error('source_rel_l2_after', '.3e')}")
        if r.rel_l2_after_calibration is not None and r.error('rel_l2') not in ("n/a", "nan"):
            same = "identical" if r.rel_l2_after_calibration == r.rel_l2 else "CHANGED"
            lines.append(f"{'':<22} source rel L2 after all calibrations: "
                         f"{r.rel_l2_after_calibration:.3e} ({same})")
    return "\n".join(lines)


def refuse_options_of_the_run(typed: set[str], allowed: set[str], command: str) -> None:
    given = sorted(typed - allowed)
    if given:
        flags = ", ".join("equation" if k == "equation" else "--" + k.replace("_", "-") for k in given)
        accepted = ", ".join("--" + name.replace("_", "-") for name in sorted(allowed - {"resume", "from_run"}))
        raise UsageError(f"{flags}: not with --resume or --from; the run's own options apply "
                         f"(pinn-pac {command} --resume takes only {accepted})")


def stored_job(stored: dict, job_type: type[SolveJob] | type[TransferJob], args: argparse.Namespace,
               typed: set[str]) -> tuple[SolveJob | TransferJob, type[Equation]]:
    """The job a run's manifest holds (`stored`), with the runtime options typed now applied,
    and its family, read from where --equation-from says (and remembered there from now on)."""
    job = job_type.from_dict(stored)
    job.settings = with_runtime(job.settings, args, typed)
    family = recorded_family(stored, args.equation_from, args.allow_changed_equation)
    job.equation_source = _remembered_source(family, job.equation_source, args)
    return job, family


def _remembered_source(family: type[Equation], recorded: dict | None, args: argparse.Namespace) -> dict | None:
    """Where the run's family is read from from now on: where --equation-from found it (and,
    with --allow-changed-equation, its file as it is now), else where the run recorded it."""
    if args.equation_from is None and not args.allow_changed_equation:
        return recorded
    return equations.source_of(family).as_record()


def runtime_from(args: argparse.Namespace) -> Runtime:
    """How the run is to run, from the options typed (see `folder_jobs.Runtime`)."""
    runtime = Runtime(progress=not args.quiet, executor=_executor(args) if hasattr(args, "workers") else None,
                      tensorboard=args.tensorboard)
    if runtime.tensorboard is not None:
        check_writable(runtime.tensorboard, "TensorBoard's event files")
    return runtime


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
