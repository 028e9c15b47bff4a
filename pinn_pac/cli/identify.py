"""`pinn-pac identify`: unknown coefficients from measurements, every input checked first."""

from __future__ import annotations

import argparse
import math
from dataclasses import replace
from pathlib import Path

from ..runs.assemble import check_run
from ..runs.identify_job import FROM_BUDGET, IDENTIFY_BUDGET, IdentifyRun, Start, best_member, family_start, identify
from ..runs.predict import read_points
from ..runs.reports import save_identify
from ..solver.observations import DEFAULT_DATA_WEIGHT, check_data_weight, read_observations
from ..solver.unknowns import check_residual_only, check_unknowns
from .jobs import Interrupted, equation_with_flags, run_dir_for, runtime_from
from .options import RUNTIME_OPTIONS, UsageError, settings_from, with_runtime

#: Budget flags (their destinations) and the `Budget` field each sets.
BUDGET_FLAGS = {"adam": "adam_steps", "adam_lr": "adam_lr", "iterations": "iterations", "seconds": "max_seconds",
                "target_loss": "target_loss", "optimizer": "optimizer", "finish": "finish"}
#: What may be given with --from: how to run, the budget, the data; not the network or points.
FROM_ALLOWED = {"equation", "data", "unknowns", "from_run", "data_weight", "out", "quiet", "tensorboard",
                "equation_from", "allow_changed_equation", *RUNTIME_OPTIONS, *BUDGET_FLAGS}


def add_identify_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("equation", help="the family; its coefficient flags (--nu ...) give known values and the "
                                         "unknowns' starting guesses (default: the family's defaults)")
    parser.add_argument("--data", type=Path, required=True, metavar="FILE.npz",
                        help="one 1-D array per input (named as the equation names them) and per observed output")
    parser.add_argument("--unknowns", required=True, help="the coefficients to find, e.g. nu or alpha,beta")
    parser.add_argument("--from", dest="from_run", type=Path, default=None, metavar="RUN_DIR",
                        help="start from the member of this trained run (source or target) that fits the data "
                             "best, and its network; the run's network and point settings apply")
    parser.add_argument("--data-weight", type=float, default=DEFAULT_DATA_WEIGHT,
                        help="weight of the data misfit (mean squared mismatch over mean squared data) "
                             "against the physics loss (%(default)s)")


def _budget(args: argparse.Namespace, typed: set[str]):
    """The default budget (from scratch or from a run) with every budget flag given applied."""
    base = FROM_BUDGET if args.from_run is not None else IDENTIFY_BUDGET
    given = {field: getattr(args, flag) for flag, field in BUDGET_FLAGS.items() if flag in typed}
    if given.get("max_seconds") == 0:
        given["max_seconds"] = None
    return replace(base, **given)


def print_start(start: Start, run_dir: Path) -> None:
    found = ", ".join(f"{k}={v:.6g}" for k, v in start.coefficients.items())
    if start.searched is None:
        print(f"starting from the {start.role} {found} of {run_dir}: data misfit {start.misfit:.2e}, "
              f"the best of {len(start.misfits)} members")
    else:
        print(f"starting from {found}, searched in the family of {run_dir}: its answer's data misfit "
              f"{start.misfit:.2e} against the best member's {min(start.misfits.values()):.2e} ({start.searched})")


def run_identify(args: argparse.Namespace, extra: list[str], typed: set[str]) -> None:
    if "target_error" in typed:
        raise UsageError("--target-error: identify has no reference while it trains (the coefficients are unknown)")
    if args.from_run is not None:
        given = sorted(typed - FROM_ALLOWED)
        if given:
            flags = ", ".join("--" + name.replace("_", "-") for name in given)
            raise UsageError(f"{flags}: not with --from; the run's network and point settings apply")
    equation, _ = equation_with_flags(args.equation, extra)
    unknowns = [name.strip() for name in args.unknowns.split(",") if name.strip()]
    if args.optimizer == "lm" or args.finish:
        raise UsageError("identify: lm steps train a network's weights on its physics loss; the unknown "
                         "coefficients and the data are not its rows: use another optimizer and no --finish")
    check_unknowns(equation, unknowns)
    check_residual_only(equation, unknowns)
    observations = read_observations(read_points(args.data, "data"), equation)
    check_data_weight(args.data_weight)
    budget = _budget(args, typed)
    start = None
    if args.from_run is not None:
        start = best_member(args.from_run, equation, observations, args.equation_from, args.allow_changed_equation)
        settings = with_runtime(start.settings, args, typed)
    else:
        settings = settings_from(args)
    check_run(equation, settings, budget)
    runtime = runtime_from(args)
    runtime.check()
    out = run_dir_for(args, equation)
    try:
        if start is not None:
            start = family_start(start, equation, unknowns, observations)
            print_start(start, args.from_run)
        run = identify(equation, observations, unknowns, settings, budget, args.data_weight, start,
                       progress=runtime.progress, callbacks=runtime.logs(out))
    except KeyboardInterrupt:
        raise Interrupted(f"identify stopped before it finished; only its history so far is in {out}") from None
    save_identify(run, out)
    print(format_identified(run))
    print(f"stopped: {run.stopped_because}; run saved to {out}")


#: A physics loss on fresh points this many times that on the training points gets a warning.
HELD_OUT_WARNING = 100.0


def format_identified(run: IdentifyRun) -> str:
    """The table of unknowns, then the fit's figures."""
    errors = run.standard_errors if isinstance(run.standard_errors, dict) else {}
    header = f"{'unknown':<10} {'start':>12} {'identified':>14} {'std error (approx.)':>20}"
    lines = [header, "-" * len(header)]
    for name, value in run.identified.items():
        error = f"{errors[name]:.2e}" if name in errors else "-"
        lines.append(f"{name:<10} {run.start[name]:>12.6g} {value:>14.8g} {error:>20}")
    if not errors:
        lines.append(f"no standard errors: {run.standard_errors}")
    no_reference = run.evaluator is None or run.evaluator.reference is None
    rel_l2 = "n/a (no reference)" if no_reference else f"{run.rel_l2:.2e}"
    lines.append(f"data misfit {run.data_misfit:.2e}, physics loss {run.residual_loss:.2e} "
                 f"({run.held_out_loss:.2e} on fresh points), "
                 f"rel L2 of the solution at the identified coefficients {rel_l2}; "
                 f"{len(run.observations)} data points, {run.seconds:.1f} s")
    if run.at_bound:
        lines.append(_bound_warning(run))
    if run.held_out_loss > HELD_OUT_WARNING * run.residual_loss:
        ratio = run.held_out_loss / run.residual_loss if run.residual_loss > 0 else math.inf
        lines.append(f"warning: the physics loss on fresh points is {ratio:.0f} "
                     "times that on the training points: the network meets the equation only where it trained, "
                     "and the identified values are not to be trusted (more --points, or a start from scratch)")
    return "\n".join(lines)


def _bound_warning(run: IdentifyRun) -> str:
    """One line naming the unknowns that reached a bound of their range."""
    specs = {spec.name: spec for spec in run.equation.coefficient_specs}
    reached = "; ".join(f"{name} reached a bound of its range ({specs[name].low:g}, {specs[name].high:g})"
                        for name in run.at_bound)
    return (f"warning: {reached}: the fit is kept, held just inside it, but the data may want a value "
            "beyond; widen the range")
