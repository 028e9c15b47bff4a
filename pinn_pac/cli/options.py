"""The command line's options: settings, budgets and every transfer method's options (its
flags made from its options dataclass), read back into library objects; and which options
the user typed, told apart from defaults."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

from equations.errors import InputError

from ..runs import DEVICES, Settings, TransferSettings, resolve_device
from ..runs.config import FOURIER_MODES
from ..solver.derivatives import DERIVATIVE_METHODS
from ..solver.optim import OPTIMIZERS, default_steps
from ..solver.posing import CONDITION_MODES
from ..solver.train import Budget
from ..transfer import METHODS
from ..transfer.base import TransferMethod


class UsageError(InputError):
    """Bad command-line input."""


def add_settings_options(parser: argparse.ArgumentParser) -> None:
    """What a run is (network, points, numerics), then how it runs (`add_runtime_options`)."""
    defaults = Settings()
    group = parser.add_argument_group("network and points")
    group.add_argument("--width", type=int, default=defaults.width, help="neurons per hidden layer (%(default)s)")
    group.add_argument("--depth", type=int, default=defaults.depth, help="hidden layers (%(default)s)")
    group.add_argument("--dtype", choices=("float64", "float32"), default=defaults.dtype)
    group.add_argument("--seed", type=int, default=defaults.seed, help="fixes init, points and masks (%(default)s)")
    group.add_argument("--points", type=int, default=defaults.n_interior, help="interior collocation points (%(default)s)")
    group.add_argument("--condition-points", type=int, default=defaults.n_condition,
                       help="points per initial/boundary condition; a region's boundary condition gets more "
                            "where its pieces need them to lie as densely as the interior points (%(default)s)")
    group.add_argument("--conditions", choices=CONDITION_MODES, default=defaults.conditions,
                       help="'exact': conditions built into the solution, by the family's exact form or one "
                            "built from its conditions (those that cannot be built stay soft); 'given': the "
                            "family's form only; 'soft': every condition is a loss term (%(default)s)")
    group.add_argument("--rad-every", type=int, default=defaults.rad_every,
                       help="redraw the interior points by RAD every this many quasi-Newton iterations, "
                            "0 for fixed points (%(default)s)")
    group.add_argument("--rad-candidates", type=int, default=defaults.rad_candidates,
                       help="uniform candidates RAD draws from (%(default)s)")
    group.add_argument("--fourier", choices=FOURIER_MODES, default=defaults.fourier,
                       help="'auto': Fourier features on inputs along which the conditions' data have more "
                            "than 4 periods across the box; 'off': none (%(default)s)")
    group.add_argument("--boundary-features", choices=FOURIER_MODES, default=defaults.boundary_features,
                       help="'auto': on a region, the network also sees the distance to the pieces of each "
                            "boundary condition the loss fits (Neumann, Robin, soft Dirichlet); 'off': "
                            "none (%(default)s)")
    group.add_argument("--start-layer", choices=FOURIER_MODES, default=defaults.start_layer,
                       help="'auto': where a region's Neumann or Robin data disagree with the initial "
                            "data, the built form carries the heat that flows in at once; 'off': "
                            "never (%(default)s)")
    group.add_argument("--balance", action="store_true",
                       help="weight the loss terms left soft by their gradient norms during Adam, "
                            "frozen afterwards (off)")
    group.add_argument("--causal", type=float, default=defaults.causal,
                       help="causal weighting of the residual in time with this epsilon, 0 for off "
                            "(%(default)s)")
    group.add_argument("--optimizer", choices=OPTIMIZERS, default="ssbroyden",
                       help="method of every phase after Adam: dense self-scaled Broyden, self-scaled BFGS, "
                            "BFGS, L-BFGS for networks too large for a dense matrix, or lm (Levenberg-Marquardt "
                            "on the loss's rows, for a few hundred to a few thousand weights) (%(default)s)")
    add_runtime_options(parser)


def add_runtime_options(parser: argparse.ArgumentParser) -> None:
    """Where a new run goes (--out), and how a run runs: each of those may change on --resume,
    --from and `pinn-pac run`."""
    parser.add_argument("--out", type=Path, default=None, help="run directory (default runs/<command>-<equation>-<time>)")
    group = parser.add_argument_group("how it runs (may change on --resume, --from, run)")
    group.add_argument("--derivatives", choices=DERIVATIVE_METHODS, default="compiled",
                       help="how u_x, u_xx, ... are computed: 'compiled' is the fastest measured "
                            "(needs a C++ compiler; compiles for seconds first), 'autograd' works "
                            "everywhere (%(default)s)")
    group.add_argument("--threads", type=int, default=None, help="torch CPU threads (torch's default)")
    group.add_argument("--thread-invariant", action=argparse.BooleanOptionalAction, default=False,
                       help="the same bits on any number of threads or worker processes: MKL's strict "
                            "reproducibility mode (x86 CPUs where it holds); with --derivatives autograd or "
                            "forward, since compiled kernels split their sums by thread count (off)")
    add_device_option(group)
    group.add_argument("--quiet", action="store_true", help="no progress bars")
    group.add_argument("--tensorboard", type=Path, default=None, metavar="DIR",
                       help="also write every record (loss, error, loss terms) as TensorBoard scalars under DIR "
                            "as the run trains (needs the tensorboard package); RUN/history.csv grows a row per "
                            "record either way")


def add_device_option(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument("--device", choices=DEVICES, default="cpu",
                        help="where networks train and evaluate: cpu, cuda, or auto (cuda where available) "
                             "(%(default)s)")


def add_equation_source_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("a saved run's own equation (with a run folder)")
    group.add_argument("--equation-from", default=None, metavar="FILE.py:CLASS",
                       help="where the run's equation file is now, if it moved (its sha256 is still checked)")
    group.add_argument("--allow-changed-equation", action="store_true",
                       help="rebuild the run from its equation file as it is now, though it changed since the run")


def add_budget_options(parser: argparse.ArgumentParser, prefix: str, budget: Budget, what: str) -> None:
    group = parser.add_argument_group(f"{what} budget")
    group.add_argument(f"--{prefix}adam", type=int, default=budget.adam_steps, help="Adam steps (%(default)s)")
    group.add_argument(f"--{prefix}adam-lr", type=float, default=budget.adam_lr, help="Adam learning rate (%(default)s)")
    group.add_argument(f"--{prefix}iterations", type=int, default=None,
                       help=f"quasi-Newton iterations ({budget.iterations}), or lm steps "
                            f"({default_steps('lm', budget.iterations)})")
    group.add_argument(f"--{prefix}finish", type=int, default=budget.finish, metavar="STEPS",
                       help="lm (Levenberg-Marquardt) steps that go on from where the quasi-Newton iterations "
                            "end: a few dozen polish a few hundred weights, such as PAC-Net's (%(default)s)")
    if prefix:
        group.add_argument(f"--{prefix}optimizer", choices=OPTIMIZERS, default=None,
                           help="this phase's method after Adam (default: --optimizer's)")
    group.add_argument(f"--{prefix}seconds", type=float, default=budget.max_seconds,
                       help="wall-clock cap in seconds, 0 for none (default: none; budgets count steps)")
    group.add_argument(f"--{prefix}target-error", type=float, default=budget.target_error,
                       help="stop at this relative L2 error")
    group.add_argument(f"--{prefix}target-loss", type=float, default=budget.target_loss,
                       help="stop at this loss: a stop that needs no reference")


def _method_options() -> dict[str, tuple[Any, list[str]]]:
    """Every method option by name: its field (the first method's that declares it) and the
    methods that declare it."""
    declared: dict[str, tuple[Any, list[str]]] = {}
    for method in METHODS.values():
        for option in method.option_fields():
            declared.setdefault(option.name, (option, []))[1].append(method.name)
    return declared


def _own_defaults(name: str, owners: list[str]) -> dict[str, Any]:
    """Each owner's default of option `name`."""
    return {owner: next(f.default for f in METHODS[owner].option_fields() if f.name == name) for owner in owners}


def add_method_options(parser: argparse.ArgumentParser) -> None:
    """One flag per option of every method, made from its options dataclass; an option that
    several methods declare (the same field) is one flag, its help naming them. Where their
    defaults differ, the flag's default is None: each method keeps its own."""
    group = parser.add_argument_group("method options")
    for name, (option, owners) in _method_options().items():
        flag = "--" + name.replace("_", "-")
        shared = f"{', '.join(owners)}: " if len(owners) > 1 else ""
        defaults = _own_defaults(name, owners)
        if len(set(defaults.values())) > 1:
            default = None
            shown = " (" + ", ".join(f"{owner} {value}" for owner, value in defaults.items()) + ")"
        else:
            default, shown = option.default, " (%(default)s)"
        help_text = shared + option.metadata["help"] + shown
        if isinstance(option.default, bool):
            group.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction,
                               default=default, help=help_text)
        else:
            group.add_argument(flag, dest=name, type=type(option.default), default=default,
                               choices=option.metadata["choices"], help=help_text)


def settings_from(args: argparse.Namespace) -> Settings:
    """The run's settings; "auto" resolved to the device this machine has, so that a resumed
    run trains where it started."""
    if args.thread_invariant and args.derivatives == "compiled":
        print("pinn-pac: note: --thread-invariant fixes the matrix products; the compiled derivative kernels "
              "still split their sums by thread count (--derivatives autograd is invariant throughout)",
              file=sys.stderr)
    return Settings(
        width=args.width, depth=args.depth, dtype=args.dtype, seed=args.seed,
        n_interior=args.points, n_condition=args.condition_points, threads=args.threads,
        derivative_method=args.derivatives, conditions=args.conditions, rad_every=args.rad_every,
        rad_candidates=args.rad_candidates, fourier=args.fourier,
        boundary_features=args.boundary_features, start_layer=args.start_layer, balance=args.balance, causal=args.causal,
        device=resolve_device(args.device).type, thread_invariant=args.thread_invariant,
    )


#: Options that say how a run runs, not what it is: each may change on --resume and --from
#: (by its destination, and the `Settings` field it sets).
RUNTIME_OPTIONS = {"device": "device", "threads": "threads", "thread_invariant": "thread_invariant",
                   "derivatives": "derivative_method"}


def with_runtime(settings: Settings, args: argparse.Namespace, typed: set[str]) -> Settings:
    """A stored run's `settings` with the runtime options typed now (see `RUNTIME_OPTIONS`)."""
    given = {field: getattr(args, option) for option, field in RUNTIME_OPTIONS.items() if option in typed}
    if "device" in given:
        given["device"] = resolve_device(given["device"]).type
    return replace(settings, **given)


def budget_from(args: argparse.Namespace, prefix: str, default: Budget) -> Budget:
    """A phase's budget as given; iterations not given are `default`'s for the phase's optimizer."""
    key = prefix.replace("-", "_")
    optimizer = getattr(args, f"{key}optimizer", None) or args.optimizer
    iterations = getattr(args, f"{key}iterations")
    if iterations is None:
        iterations = default_steps(optimizer, default.iterations)
    return Budget(
        adam_steps=getattr(args, f"{key}adam"), iterations=iterations,
        optimizer=optimizer, adam_lr=getattr(args, f"{key}adam_lr"), finish=getattr(args, f"{key}finish"),
        max_seconds=getattr(args, f"{key}seconds") or None,
        target_error=getattr(args, f"{key}target_error"), target_loss=getattr(args, f"{key}target_loss"),
    )


def transfer_settings_from(args: argparse.Namespace) -> TransferSettings:
    defaults = TransferSettings()
    return TransferSettings(**{phase: budget_from(args, f"{phase}-", getattr(defaults, phase))
                               for phase in TransferSettings.PHASES})


def methods_from(args: argparse.Namespace, typed: set[str]) -> list[TransferMethod]:
    """The methods asked for (`--method NAME` or all), each with the options given; an option
    given (in `typed`) that none of them takes is refused rather than silently dropped."""
    names = list(METHODS) if args.method == "all" else [args.method]
    declared = _method_options()
    taken = {f.name for name in names for f in METHODS[name].option_fields()}
    stray = sorted((typed & declared.keys()) - taken)
    if stray:
        flags = ", ".join(f"--{name.replace('_', '-')} ({', '.join(declared[name][1])})" for name in stray)
        raise UsageError(f"--method {args.method} takes no {flags}")
    return [METHODS[name](**{f.name: getattr(args, f.name) for f in METHODS[name].option_fields()
                             if getattr(args, f.name) is not None})
            for name in names]


def typed_options(parser: argparse.ArgumentParser, argv: Sequence[str]) -> set[str]:
    """The destinations of the options `argv` gives, whatever their values: the same parser
    read again with every default replaced by "not given"."""
    _suppress_defaults(parser)
    given, _ = parser.parse_known_args(argv)
    return set(vars(given)) - {"command"}


def _suppress_defaults(parser: argparse.ArgumentParser) -> None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _suppress_defaults(sub)
        elif action.dest != "help":
            action.default = argparse.SUPPRESS
