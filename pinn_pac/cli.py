"""The `pinn-pac` command: parse, call the library, print. Errors are one line, exit 2."""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

import equations
from equations import Equation

from .checkpoint import CheckpointError, atomic_write
from .coefficients import parse_assignments, parse_value
from .derivatives import DERIVATIVE_METHODS, CompileUnavailable
from .numerics import CROSS_MACHINE_ATOL, machine, same_numerics
from .optim import OPTIMIZERS
from .parallel import ProcessPool, RayTasks
from .posing import CONDITION_MODES
from .predict import MAX_POINTS, grid_axes, load_model, read_points
from .runs import (
    DEVICES, Record, Settings, TargetExecutor, error_text, TransferSettings, check_targets, comparison_table, evaluate_run,
    save_comparison, save_family, save_solve, save_transfer, solve, transfer,
)
from .store import MANIFEST, RunStore, read_payload
from .train import Budget, TrainingDiverged
from .transfer import METHODS, PAC

class UsageError(ValueError):
    """Bad command-line input."""


class Interrupted(Exception):
    """SIGINT or SIGTERM stopped a command; the message says what was kept."""


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _add_settings_options(parser: argparse.ArgumentParser) -> None:
    defaults = Settings()
    group = parser.add_argument_group("network and points")
    group.add_argument("--width", type=int, default=defaults.width, help="neurons per hidden layer (%(default)s)")
    group.add_argument("--depth", type=int, default=defaults.depth, help="hidden layers (%(default)s)")
    group.add_argument("--dtype", choices=("float64", "float32"), default=defaults.dtype)
    group.add_argument("--seed", type=int, default=defaults.seed, help="fixes init, points and masks (%(default)s)")
    group.add_argument("--points", type=int, default=defaults.n_interior, help="interior collocation points (%(default)s)")
    group.add_argument("--condition-points", type=int, default=defaults.n_condition,
                       help="points per initial/boundary condition (%(default)s)")
    group.add_argument("--derivatives", choices=DERIVATIVE_METHODS, default="compiled",
                       help="how u_x, u_xx, ... are computed: 'compiled' is the fastest measured "
                            "(needs a C++ compiler; compiles for seconds first), 'autograd' works "
                            "everywhere (%(default)s)")
    group.add_argument("--conditions", choices=CONDITION_MODES, default=defaults.conditions,
                       help="'exact': initial and boundary values built into the solution where the family "
                            "declares how (the rest stay soft); 'soft': every condition is a loss term (%(default)s)")
    group.add_argument("--rad-every", type=int, default=defaults.rad_every,
                       help="redraw the interior points by RAD every this many quasi-Newton iterations, "
                            "0 for fixed points (%(default)s)")
    group.add_argument("--rad-candidates", type=int, default=defaults.rad_candidates,
                       help="uniform candidates RAD draws from (%(default)s)")
    group.add_argument("--balance", action="store_true",
                       help="weight the loss terms left soft by their gradient norms during Adam, "
                            "frozen afterwards (off)")
    group.add_argument("--causal", type=float, default=defaults.causal,
                       help="causal weighting of the residual in time with this epsilon, 0 for off "
                            "(%(default)s)")
    group.add_argument("--optimizer", choices=OPTIMIZERS, default="ssbroyden",
                       help="quasi-Newton method of every phase after Adam: dense self-scaled Broyden, "
                            "self-scaled BFGS, BFGS, or L-BFGS for networks too large for a dense matrix "
                            "(%(default)s)")
    group.add_argument("--threads", type=int, default=None, help="torch CPU threads (torch's default)")
    group.add_argument("--thread-invariant", action="store_true",
                       help="the same bits on any number of threads or worker processes: MKL's strict "
                            "reproducibility mode (x86 CPUs); with --derivatives autograd or forward, since "
                            "compiled kernels split their sums by thread count (off)")
    _add_device_option(group)
    group.add_argument("--out", type=Path, default=None, help="run directory (default runs/<command>-<equation>-<time>)")
    group.add_argument("--quiet", action="store_true", help="no progress bars")


def _add_device_option(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument("--device", choices=DEVICES, default="cpu",
                        help="where networks train and evaluate: cpu, cuda, or auto (cuda where available) "
                             "(%(default)s)")


def _add_budget_options(parser: argparse.ArgumentParser, prefix: str, budget: Budget, what: str) -> None:
    group = parser.add_argument_group(f"{what} budget")
    group.add_argument(f"--{prefix}adam", type=int, default=budget.adam_steps, help="Adam steps (%(default)s)")
    group.add_argument(f"--{prefix}adam-lr", type=float, default=budget.adam_lr, help="Adam learning rate (%(default)s)")
    group.add_argument(f"--{prefix}iterations", type=int, default=budget.iterations,
                       help="quasi-Newton iterations (%(default)s)")
    group.add_argument(f"--{prefix}seconds", type=float, default=budget.max_seconds,
                       help="wall-clock cap in seconds, 0 for none (default: none; budgets count steps)")
    group.add_argument(f"--{prefix}target-error", type=float, default=budget.target_error,
                       help="stop at this relative L2 error")


def _budget(args: argparse.Namespace, prefix: str) -> Budget:
    key = prefix.replace("-", "_")
    return Budget(
        adam_steps=getattr(args, f"{key}adam"), iterations=getattr(args, f"{key}iterations"),
        optimizer=args.optimizer, adam_lr=getattr(args, f"{key}adam_lr"),
        max_seconds=getattr(args, f"{key}seconds") or None,
        target_error=getattr(args, f"{key}target_error"),
    )


#: Measured on Burgers nu = 0.01/pi (benchmarks/defaults.py): about 3.5 minutes on 2 cores.
SOLVE_BUDGET = Budget(adam_steps=1000, iterations=5000, adam_lr=5e-3)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pinn-pac", allow_abbrev=False,
        description="Physics-informed neural networks for equation families, with PAC-Net transfer. "
        "Coefficients are flags named after them (--nu 0.01/pi); `pinn-pac equations` lists them.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("equations", help="list the equation families, their coefficients and defaults",
                        allow_abbrev=False)

    solve_parser = commands.add_parser("solve", help="train one PINN and report its error", allow_abbrev=False)
    solve_parser.add_argument("equation")
    _add_settings_options(solve_parser)
    _add_budget_options(solve_parser, "", SOLVE_BUDGET, "training")

    defaults = TransferSettings()
    transfer_parser = commands.add_parser(
        "transfer", help="train a source, then move it to targets (PAC-Net or a baseline)", allow_abbrev=False)
    transfer_parser.add_argument("equation", nargs="?", help="the family (not with --resume or --from)")
    stored = transfer_parser.add_mutually_exclusive_group()
    stored.add_argument("--resume", type=Path, default=None, metavar="RUN_DIR",
                        help="continue an interrupted run, skipping what it finished (no other options)")
    stored.add_argument("--from", dest="from_run", type=Path, default=None, metavar="RUN_DIR",
                        help="add --targets to a run's trained source, with the run's options")
    transfer_parser.add_argument("--source", default="", help="source coefficients, e.g. nu=0.01/pi (defaults)")
    transfer_parser.add_argument("--targets", default=None,
                                 help="targets, e.g. nu=0.02/pi,nu=0.005/pi; ranges nu=0.005/pi..0.05/pi:16 "
                                      "(evenly spaced, ends included), nu=0.001..0.1:5:log; ranges in one "
                                      "target multiply (default: the family's examples)")
    transfer_parser.add_argument("--method", default="pac", choices=(*METHODS, "all"),
                                 help="transfer method; all runs every one from the same source (%(default)s)")
    transfer_parser.add_argument("--target-points", type=int, default=None,
                                 help="interior points each target trains on (default: --points)")
    where = transfer_parser.add_argument_group("where targets train")
    where.add_argument("--workers", type=int, default=1,
                       help="train targets in this many local processes, the threads split between them; "
                            "1 trains them in this process (%(default)s)")
    where.add_argument("--ray", nargs="?", const=LOCAL_RAY, default=None, metavar="ADDRESS",
                       help="send targets to a Ray cluster as tasks of --threads CPUs (default 1) each; "
                            "without ADDRESS, a local Ray on this machine's CPUs (pip install -e '.[ray]')")
    knobs = transfer_parser.add_argument_group("method options")
    knobs.add_argument("--ratio", type=float, default=defaults.ratio, help="pac: fraction of weights freed (%(default)s)")
    knobs.add_argument("--penalty", type=float, default=defaults.penalty,
                       help="pac: lambda of the L2 pull of freed weights to 0 (%(default)s)")
    knobs.add_argument("--scope", choices=("global", "layer"), default=defaults.scope, help="pac: prune threshold")
    knobs.add_argument("--warm-start", choices=PAC.WARM_STARTS, default=defaults.warm_start,
                       help="pac: start each target's freed weights from the source's zeros, or from the "
                            "nearest target calibrated before it, in the order given (%(default)s)")
    knobs.add_argument("--alpha", type=float, default=defaults.alpha,
                       help="l2sp: weight of ||theta - theta_source||^2 (%(default)s)")
    knobs.add_argument("--rank", type=int, default=defaults.rank, help="lora: rank of each update (%(default)s)")
    knobs.add_argument("--members", type=int, default=defaults.members,
                       help="parametric: coefficients trained on across the range (%(default)s)")
    _add_settings_options(transfer_parser)
    _add_budget_options(transfer_parser, "source-", defaults.source, "source training")
    _add_budget_options(transfer_parser, "allocate-", defaults.allocate,
                        "preparation (pac: Allocate; parametric: range training)")
    _add_budget_options(transfer_parser, "calibrate-", defaults.calibrate, "per-target training (every method)")

    evaluate_parser = commands.add_parser("evaluate", help="reload a run directory and re-evaluate it",
                                          allow_abbrev=False)
    evaluate_parser.add_argument("run_dir", type=Path)
    _add_device_option(evaluate_parser)

    predict_parser = commands.add_parser(
        "predict", help="write a run's solution (and derivatives) at your points as .npz", allow_abbrev=False)
    predict_parser.add_argument("run_dir", type=Path)
    predict_parser.add_argument("--model", default=None,
                                help="source (default) or a target's coefficients, e.g. nu=0.02/pi")
    where = predict_parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--points", type=Path, help=".npz with one array per input, named as the equation names them")
    where.add_argument("--grid", help="a grid of every input, e.g. x=-1:1:256,t=0:0.99:100")
    predict_parser.add_argument("--derivatives", default="", help="derivatives of u to add, e.g. u_x,u_xx")
    predict_parser.add_argument("--out", type=Path, required=True, help="output .npz file")

    reference_parser = commands.add_parser("reference", help="write the scipy reference as .npz arrays",
                                           allow_abbrev=False)
    reference_parser.add_argument("equation")
    reference_parser.add_argument("--out", type=Path, required=True, help="output .npz file")
    reference_parser.add_argument("--grid", default=None,
                                  help="points per axis, e.g. 201,101 for x and t (default: the standard grid)")
    return parser


def _equation_with_flags(name: str, extra: list[str]) -> Equation:
    """The equation named `name`, with coefficient flags such as --nu 0.01/pi read from `extra`."""
    family = equations.family(name)
    parser = argparse.ArgumentParser(prog=f"pinn-pac ... {family.name}", add_help=False, allow_abbrev=False)
    for spec in family.coefficient_specs:
        parser.add_argument(f"--{spec.name}", default=None, help=spec.description)
    values, unknown = parser.parse_known_args(extra)
    if unknown:
        names = ", ".join(f"--{s.name}" for s in family.coefficient_specs)
        raise UsageError(f"unrecognised arguments: {' '.join(unknown)} ({family.name} takes {names})")
    given = {k: parse_value(v) for k, v in vars(values).items() if v is not None}
    return family(**given)


def _settings(args: argparse.Namespace) -> Settings:
    if args.thread_invariant and args.derivatives == "compiled":
        print("pinn-pac: note: --thread-invariant fixes the matrix products; the compiled derivative kernels "
              "still split their sums by thread count (--derivatives autograd is invariant throughout)",
              file=sys.stderr)
    return Settings(
        width=args.width, depth=args.depth, dtype=args.dtype, seed=args.seed,
        n_interior=args.points, n_condition=args.condition_points, threads=args.threads,
        derivative_method=args.derivatives, conditions=args.conditions, rad_every=args.rad_every,
        rad_candidates=args.rad_candidates, balance=args.balance, causal=args.causal, device=args.device,
        thread_invariant=args.thread_invariant,
    )


def _run_dir(args: argparse.Namespace, equation: Equation) -> Path:
    """Where the run goes, created and checked writable before any training; refused if it
    is a file or already holds a run."""
    out = args.out or Path("runs") / f"{args.command}-{equation.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a directory for the run")
    if any((out / name).exists() for name in ("checkpoint.pt", "comparison.json", MANIFEST)):
        raise UsageError(f"{out} already holds a run; choose another --out, remove it first, "
                         f"or continue it with pinn-pac transfer --resume {out}")
    _check_writable(out, "the run")
    return out


def _check_writable(folder: Path, what: str) -> None:
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


def _solve(args: argparse.Namespace, extra: list[str]) -> None:
    equation = _equation_with_flags(args.equation, extra)
    settings, budget = _settings(args), _budget(args, "")
    out = _run_dir(args, equation)
    try:
        run = solve(equation, settings, budget, progress=not args.quiet)
    except KeyboardInterrupt:
        raise Interrupted(f"nothing was finished, so nothing was saved in {out}; "
                          "run the same pinn-pac solve command again to start over") from None
    save_solve(run, out)
    print(format_table([run.record]))
    print(f"stopped: {run.record.stopped_because}; run saved to {out}")


#: Options of `transfer` that are not the run's: they may differ when it is resumed.
_NOT_STORED = ("command", "out", "quiet", "resume", "from_run", "workers", "ray")
LOCAL_RAY = "local"


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


def _transfer(args: argparse.Namespace, extra: list[str]) -> None:
    if extra:
        raise UsageError(f"unrecognised arguments: {' '.join(extra)} (use --source and --targets)")
    if args.resume is not None or args.from_run is not None:
        args, store = _stored_run(args)
    elif args.equation is None:
        raise UsageError("transfer needs an equation, or --resume RUN_DIR, or --from RUN_DIR --targets ...")
    else:
        args.targets = equations.family(args.equation).example_targets if args.targets is None else args.targets
        store = None
    source, targets, settings, transfer_settings, methods = _transfer_job(args)
    executor = _executor(args)
    if store is None:
        store = RunStore.create(_run_dir(args, source), {k: v for k, v in vars(args).items() if k not in _NOT_STORED})
    elif args.from_run is not None:
        store.set_options({k: v for k, v in vars(args).items() if k not in _NOT_STORED})
    out = store.run_dir
    try:
        runs = transfer(source, targets, settings, transfer_settings, methods, progress=not args.quiet,
                        target_points=args.target_points, store=store, executor=executor)
        if args.method == "all":
            save_comparison(runs, out)
        else:
            save_transfer(runs[0], out)
        save_family(runs, out)
    except KeyboardInterrupt:
        raise Interrupted(f"{store.summary()} saved in {out}; resume with: pinn-pac transfer --resume {out}") from None
    if args.method == "all":
        print(comparison_table([record for run in runs for record in run.records]))
    else:
        print(format_table(runs[0].records))
    print(f"run saved to {out}")


def _stored_run(args: argparse.Namespace) -> tuple[argparse.Namespace, RunStore]:
    """The options of the run that --resume or --from names (with --from's targets added)
    and its store; any other option is refused, as the run's own apply."""
    defaults = vars(build_parser().parse_args(["transfer"]))
    allowed = {"resume", "from_run", "quiet", "workers", "ray"} | ({"targets"} if args.from_run is not None else set())
    given = sorted(k for k, v in vars(args).items() if k not in allowed and v != defaults.get(k))
    if given:
        flags = ", ".join("equation" if k == "equation" else "--" + k.replace("_", "-") for k in given)
        raise UsageError(f"{flags}: not with --resume or --from; the run's own options apply")
    if args.from_run is not None and args.targets is None:
        raise UsageError("--from RUN_DIR needs --targets to add")
    store = RunStore.open(args.resume or args.from_run)
    options = dict(store.options)
    if args.from_run is not None:
        options["targets"] = f"{options['targets']};{args.targets}"
    stored = argparse.Namespace(**{**defaults, **options, "out": store.run_dir, "quiet": args.quiet,
                                   "resume": args.resume, "from_run": args.from_run,
                                   "workers": args.workers, "ray": args.ray})
    return stored, store


def _transfer_job(args: argparse.Namespace):
    """The source, targets, settings, transfer settings and methods `args` ask for, checked."""
    family = equations.family(args.equation)
    groups = parse_assignments(args.source) if args.source.strip() else [{}]
    if len(groups) > 1:
        raise UsageError(f"--source takes one set of coefficients, got {len(groups)}: {args.source!r}")
    source = family(**groups[0])
    targets = [source.with_coefficients(**t) for t in parse_assignments(args.targets)]
    check_targets(source, targets)
    transfer_settings = TransferSettings(
        ratio=args.ratio, penalty=args.penalty, scope=args.scope, warm_start=args.warm_start,
        alpha=args.alpha, rank=args.rank,
        members=args.members, source=_budget(args, "source-"), allocate=_budget(args, "allocate-"),
        calibrate=_budget(args, "calibrate-"),
    )
    methods = tuple(METHODS) if args.method == "all" else (args.method,)
    if args.target_points is not None and args.target_points < 1:
        raise UsageError(f"--target-points must be >= 1, got {args.target_points}")
    return source, targets, _settings(args), transfer_settings, methods


def _evaluate(args: argparse.Namespace) -> None:
    print(format_table(evaluate_run(args.run_dir, args.device)))
    recorded = read_payload(args.run_dir)
    if not same_numerics(recorded):
        made = recorded.get("machine")
        made = f"{made['cpu']}, MKL {made['mkl_path']}" if made else "a machine it did not record"
        here = machine()
        print(f"pinn-pac: note: the run was made on {made}, torch {recorded.get('versions', {}).get('torch')}; "
              f"here: {here['cpu']}, MKL {here['mkl_path']}, torch {torch.__version__}, so its errors agree "
              f"to {CROSS_MACHINE_ATOL:g}, not bit for bit", file=sys.stderr)


def _predict(args: argparse.Namespace, extra: list[str]) -> None:
    if extra:
        raise UsageError(f"unrecognised arguments: {' '.join(extra)}")
    if args.out.is_dir():
        raise UsageError(f"--out {args.out} is a directory; give the .npz file to write")
    model = load_model(args.run_dir, args.model)
    derivatives = [name.strip() for name in args.derivatives.split(",") if name.strip()]
    if args.grid is not None:
        inputs = grid_axes(args.grid, model.equation.inputs)
        points = dict(zip(inputs, np.meshgrid(*inputs.values(), indexing="ij")))
    else:
        inputs = points = read_points(args.points)
    values = model(points, derivatives)
    atomic_write(args.out, lambda stream: np.savez(stream, **inputs, **values))
    print(f"wrote {', '.join(values)} of the {model.role} {model.equation.describe()} at "
          f"{next(iter(values.values())).size:,} points to {args.out}")


def _grid(equation: Equation, sizes: str | None) -> dict[str, np.ndarray]:
    """The standard grid, or the same ranges with the given number of points per axis."""
    grid = equation.standard_grid()
    if sizes is None:
        return grid
    try:
        counts = [int(n) for n in sizes.split(",")]
    except ValueError:
        counts = []
    if len(counts) != len(equation.inputs) or min(counts) < 2:
        axes = ",".join(equation.inputs)
        raise UsageError(f"--grid needs {len(equation.inputs)} whole numbers >= 2 ({axes}), got {sizes!r}")
    if math.prod(counts) > MAX_POINTS:
        raise UsageError(f"--grid {sizes} has {math.prod(counts):,} points; at most {MAX_POINTS:,} are written")
    return {name: np.linspace(grid[name][0], grid[name][-1], n) for name, n in zip(equation.inputs, counts)}


def _reference(args: argparse.Namespace, extra: list[str]) -> None:
    equation = _equation_with_flags(args.equation, extra)
    grid = _grid(equation, args.grid)
    _check_writable(args.out.parent, "the reference")
    solution = equation.reference(grid)
    if len(equation.outputs) == 1:
        fields = {equation.outputs[0]: solution}
    else:
        fields = {name: solution[..., k] for k, name in enumerate(equation.outputs)}
    atomic_write(args.out, lambda stream: np.savez(stream, **grid, **fields))
    shape = ", ".join(f"{len(grid[n])} in {n}" for n in equation.inputs)
    print(f"wrote {equation.describe()} reference ({shape}) to {args.out} "
          f"(arrays {', '.join([*grid, *fields])}; {', '.join(fields)} indexed [{', '.join(equation.inputs)}])")


def _list_equations() -> None:
    for name, family in sorted(equations.FAMILIES.items()):
        coefficients = ", ".join(f"--{c.name} {c.default:.6g}" for c in family.coefficient_specs)
        print(f"{name:<20} {family.summary}")
        print(f"{'':<20} inputs ({', '.join(family.inputs)}) -> {', '.join(family.outputs)}; {coefficients}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # Ctrl-C and SIGTERM alike stop a command at once, keeping what is finished.
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        if args.command == "equations":
            _list_equations()
        elif args.command == "solve":
            _solve(args, extra)
        elif args.command == "transfer":
            _transfer(args, extra)
        elif args.command == "reference":
            _reference(args, extra)
        elif args.command == "predict":
            _predict(args, extra)
        else:
            if extra:
                raise UsageError(f"unrecognised arguments: {' '.join(extra)}")
            _evaluate(args)
    except (ValueError, CheckpointError, TrainingDiverged, CompileUnavailable, FileNotFoundError,
            KeyError) as error:
        print(f"pinn-pac: error: {error}", file=sys.stderr)
        return 2
    except Interrupted as interrupted:
        print(f"pinn-pac: interrupted: {interrupted}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:  # before training started or while printing: nothing is half-written
        print(f"pinn-pac: interrupted: {args.command} stopped before it trained or saved anything new",
              file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":
    sys.exit(main())
