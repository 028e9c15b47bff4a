"""The `pinn-pac` command: parse, call the library, print. Errors are one line, exit 2."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Sequence

from equations.errors import InputError

from ..runs import SOLVE_BUDGET, TransferSettings
from ..runs.identify_job import FROM_BUDGET, IDENTIFY_BUDGET
from ..solver.derivatives import CompileUnavailable
from ..solver.interrupts import request_stop, stop_signal
from ..solver.train import TrainingDiverged
from ..transfer import DEFAULT_METHOD, METHODS
from .identify import add_identify_arguments, run_identify
from .jobs import LOCAL_RAY, Interrupted
from .options import (
    add_budget_options, add_device_option, add_equation_source_options, add_method_options, add_runtime_options,
    add_settings_options, typed_options,
)
from .run import add_run_arguments, run_manifest
from .solve import run_solve
from .tools import run_evaluate, run_list_equations, run_predict, run_reference
from .transfer import run_transfer


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pinn-pac", allow_abbrev=False,
        description="Physics-informed neural networks for equation families, with PAC-Net transfer. "
        "Coefficients are flags named after them (--nu 0.01/pi); `pinn-pac equations` lists them.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    equations_parser = commands.add_parser(
        "equations", help="list the equation families (built-in and installed), or check and describe yours",
        allow_abbrev=False)
    equations_parser.add_argument("spec", nargs="?", help="a family to check and describe: path/to/file.py:ClassName "
                                                          "or package.module:ClassName")

    solve_parser = commands.add_parser("solve", help="train one PINN and report its error", allow_abbrev=False)
    solve_parser.add_argument("equation", nargs="?", help="the family (not with --resume)")
    solve_parser.add_argument("--resume", type=Path, default=None, metavar="RUN_DIR",
                              help="continue an interrupted solve where its training was kept (no other options "
                                   "but how it runs: --device, --threads, --derivatives, --quiet, ...)")
    add_settings_options(solve_parser)
    add_equation_source_options(solve_parser)
    add_budget_options(solve_parser, "", SOLVE_BUDGET, "training")

    defaults = TransferSettings()
    transfer_parser = commands.add_parser(
        "transfer", help="train a source, then move it to targets (PAC-Net or a baseline)", allow_abbrev=False)
    transfer_parser.add_argument("equation", nargs="?", help="the family (not with --resume or --from)")
    stored = transfer_parser.add_mutually_exclusive_group()
    stored.add_argument("--resume", type=Path, default=None, metavar="RUN_DIR",
                        help="continue an interrupted run, skipping what it finished (no other options but "
                             "how it runs: --device, --threads, --workers, --ray, --quiet, ...)")
    stored.add_argument("--from", dest="from_run", type=Path, default=None, metavar="RUN_DIR",
                        help="add --targets to a run's trained source, with the run's options")
    transfer_parser.add_argument("--source", default="", help="source coefficients, e.g. nu=0.01/pi (defaults)")
    transfer_parser.add_argument("--targets", default=None,
                                 help="targets, e.g. nu=0.02/pi,nu=0.005/pi; ranges nu=0.005/pi..0.05/pi:16 "
                                      "(evenly spaced, ends included), nu=0.001..0.1:5:log; ranges in one "
                                      "target multiply (default: the family's examples)")
    transfer_parser.add_argument("--method", default=DEFAULT_METHOD, choices=(*METHODS, "all"),
                                 help="transfer method; all runs every one from the same source (%(default)s)")
    transfer_parser.add_argument("--target-points", type=int, default=None,
                                 help="interior points each target trains on (default: --points)")
    _add_where_options(transfer_parser)
    add_method_options(transfer_parser)
    add_equation_source_options(transfer_parser)
    add_settings_options(transfer_parser)
    add_budget_options(transfer_parser, "source-", defaults.source, "source training")
    add_budget_options(transfer_parser, "allocate-", defaults.allocate,
                       "preparation (pac: Allocate; parametric: range training)")
    add_budget_options(transfer_parser, "calibrate-", defaults.calibrate, "per-target training (every method)")

    run_parser = commands.add_parser(
        "run", help="run a run folder's job (its manifest.json) again in a new folder, to the same bits",
        allow_abbrev=False)
    add_run_arguments(run_parser)
    add_runtime_options(run_parser)
    _add_where_options(run_parser)
    add_equation_source_options(run_parser)

    identify_parser = commands.add_parser(
        "identify", help="find unknown coefficients from measurements (an inverse problem)", allow_abbrev=False)
    add_identify_arguments(identify_parser)
    add_settings_options(identify_parser)
    add_equation_source_options(identify_parser)
    add_budget_options(identify_parser, "", IDENTIFY_BUDGET, "training (with --from: 0 Adam steps and "
                       f"{FROM_BUDGET.iterations} iterations unless given)")

    evaluate_parser = commands.add_parser("evaluate", help="reload a run directory and re-evaluate it",
                                          allow_abbrev=False)
    evaluate_parser.add_argument("run_dir", type=Path)
    evaluate_parser.add_argument("--family", action="store_true",
                                 help="also answer 24 coefficients spread between a transfer's members from the "
                                      "family, measure each against its reference, and draw RUN_DIR/family_range.png")
    add_device_option(evaluate_parser)
    add_equation_source_options(evaluate_parser)

    predict_parser = commands.add_parser(
        "predict", help="write a run's solution (and derivatives) at your points as .npz", allow_abbrev=False)
    predict_parser.add_argument("run_dir", type=Path)
    predict_parser.add_argument("--model", default=None,
                                help="source (default), a member's coefficients (nu=0.02/pi), or any coefficients "
                                     "between a transfer's members: answered from the family in about a second, "
                                     "with an estimated error")
    predict_parser.add_argument("--tolerance", type=float, default=None,
                                help="where a family answer's estimated rel L2 is above this, calibrate a member "
                                     "there (added to the run) and predict with it")
    predict_parser.add_argument("--quiet", action="store_true", help="no progress bars")
    predict_parser.add_argument("--method", default=None, choices=tuple(METHODS),
                                help="the transfer method's models, where the run holds several (--method all)")
    where = predict_parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--points", type=Path, help=".npz with one array per input, named as the equation names them")
    where.add_argument("--grid", help="a grid of every input, e.g. x=-1:1:256,t=0:0.99:100")
    predict_parser.add_argument("--derivatives", default="", help="derivatives of u to add, e.g. u_x,u_xx")
    predict_parser.add_argument("--out", type=Path, required=True, help="output .npz file")
    add_equation_source_options(predict_parser)

    reference_parser = commands.add_parser("reference", help="write the scipy reference as .npz arrays",
                                           allow_abbrev=False)
    reference_parser.add_argument("equation")
    reference_parser.add_argument("--out", type=Path, required=True, help="output .npz file")
    reference_parser.add_argument("--grid", default=None,
                                  help="points per axis, e.g. 201,101 for x and t (default: the standard grid)")
    return parser


def _add_where_options(parser: argparse.ArgumentParser) -> None:
    where = parser.add_argument_group("where targets train")
    where.add_argument("--workers", type=int, default=1,
                       help="train targets in this many local processes, the threads split between them; "
                            "1 trains them in this process (%(default)s)")
    where.add_argument("--ray", nargs="?", const=LOCAL_RAY, default=None, metavar="ADDRESS",
                       help="send targets to a Ray cluster as tasks of --threads CPUs (default 1) each; "
                            "without ADDRESS, a local Ray on this machine's CPUs (pip install -e '.[ray]')")


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args, extra = build_parser().parse_known_args(argv)
    # Ctrl-C and SIGTERM alike stop a command at once, keeping what is finished.
    request_stop(False)
    previous = {number: signal.signal(number, stop_signal) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        if args.command == "equations":
            run_list_equations(args)
        elif args.command == "solve":
            run_solve(args, extra, typed_options(build_parser(), argv))
        elif args.command == "transfer":
            run_transfer(args, extra, typed_options(build_parser(), argv))
        elif args.command == "run":
            run_manifest(args, extra, typed_options(build_parser(), argv))
        elif args.command == "identify":
            run_identify(args, extra, typed_options(build_parser(), argv))
        elif args.command == "reference":
            run_reference(args, extra)
        elif args.command == "predict":
            run_predict(args, extra)
        else:
            if extra:
                raise InputError(f"unrecognised arguments: {' '.join(extra)}")
            run_evaluate(args)
    except (InputError, TrainingDiverged, CompileUnavailable, FileNotFoundError) as error:
        print(f"pinn-pac: error: {error}", file=sys.stderr)
        return 2
    except Interrupted as interrupted:
        print(f"pinn-pac: interrupted: {interrupted}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:  # before training started or while printing: nothing is half-written
        print(f"pinn-pac: interrupted: {args.command} stopped; every file it wrote is whole", file=sys.stderr)
        return 130
    finally:
        request_stop(False)  # a stop asked of this command is not one asked of what the process does next
        for number, handler in previous.items():
            signal.signal(number, handler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
