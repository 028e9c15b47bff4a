"""`pinn-pac evaluate`, `predict`, `reference` and `equations`: reading runs and references."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import torch

import equations
from equations import Equation

from ..runs.checkpoint import atomic_write
from ..runs.families import checked_family
from ..runs.family_range import family_range, plot_family_range, varying_coefficient
from ..runs.numerics import CROSS_MACHINE_ATOL, machine, same_numerics
from ..runs.folder_jobs import RunInterrupted, Runtime, add_members
from ..runs.predict import MAX_POINTS, SavedModel, grid_axes, load_model, read_points
from ..runs.reload import load_runs, measure
from ..solver.boundary_features import boundary_features
from ..solver.capacity import data_frequencies
from ..solver.evaluate import reference_on_grid, reference_values
from ..solver.posing import Posing
from .jobs import check_writable, equation_with_flags, format_table, interrupted
from .options import UsageError


def run_evaluate(args: argparse.Namespace) -> None:
    runs = load_runs(args.run_dir, args.device, args.equation_from, args.allow_changed_equation)
    if args.family:
        for loaded in runs:
            varying_coefficient(loaded)
        check_writable(args.run_dir, "the family figure")
    print(format_table(measure(runs, args.device)))
    if args.family:
        for loaded in runs:
            name = "family_range.png" if len(runs) == 1 else f"family_range_{loaded.method}.png"
            _evaluate_family(loaded, Path(args.run_dir) / name)
    recorded = runs[0].metadata
    if not same_numerics(recorded):
        made = recorded.get("machine")
        made = f"{made['cpu']}, MKL {made['mkl_path']}" if made else "a machine it did not record"
        here = machine()
        print(f"pinn-pac: note: the run was made on {made}, torch {recorded.get('versions', {}).get('torch')}; "
              f"here: {here['cpu']}, MKL {here['mkl_path']}, torch {torch.__version__}, so its errors agree "
              f"to {CROSS_MACHINE_ATOL:g}, not bit for bit", file=sys.stderr)


def _evaluate_family(loaded, path: Path) -> None:
    """The family over its range (`runs.family_range`): a table, and the figure at `path`."""
    name, members, answers = family_range(loaded)
    print(f"\n{len(answers)} coefficients between the {len(members)} members of {loaded.method}, "
          f"answered from the family:")
    print(f"| {name} | rel L2 | estimated | seconds |\n|---|---|---|---|")
    for p in answers:
        error = "no reference" if p.rel_l2 is None else f"{p.rel_l2:.2e}"
        print(f"| {p.coefficient:.6g} | {error} | {p.indicator:.2e} | {p.seconds:.2f} |")
    plot_family_range(name, members, answers, path)
    print(f"wrote {path}")


def _check_output_file(path, what: str) -> None:
    """Refuse, before any work, an output path that is a folder or cannot be written."""
    if path.is_dir():
        raise UsageError(f"--out {path} is a directory; give the .npz file to write")
    check_writable(path.parent, what)


def run_predict(args: argparse.Namespace, extra: list[str]) -> None:
    if extra:
        raise UsageError(f"unrecognised arguments: {' '.join(extra)}")
    _check_output_file(args.out, "the prediction")
    if args.tolerance is not None and not args.tolerance > 0:
        raise UsageError(f"--tolerance must be > 0, got {args.tolerance}")
    model = load_model(args.run_dir, args.model, args.method, args.equation_from, args.allow_changed_equation)
    if model.answer is not None:
        model = _checked_answer(model, args)
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


def _checked_answer(model: SavedModel, args: argparse.Namespace) -> SavedModel:
    """A family answer as it stands, or, where its indicator is above --tolerance, the member
    calibrated there (added to the run, as `transfer --from RUN --targets` adds one)."""
    answer = model.answer
    print(f"answered {model.equation.describe()} from the family's {len(answer.members)} members in "
          f"{answer.seconds:.2f} s: estimated rel L2 {answer.indicator:.1e} (no reference used)")
    if args.tolerance is None or answer.indicator <= args.tolerance:
        return model
    wanted = ",".join(f"{name}={value:.17g}" for name, value in model.equation.coefficients.items())
    print(f"above --tolerance {args.tolerance:g}: calibrating a member there "
          f"(pinn-pac transfer --from {args.run_dir} --targets {wanted})")
    try:
        add_members(args.run_dir, [model.equation.coefficients], Runtime(progress=not args.quiet),
                    args.equation_from, args.allow_changed_equation)
    except RunInterrupted as stopped:
        raise interrupted(stopped.store, "transfer") from None
    return load_model(args.run_dir, wanted, args.method, args.equation_from, args.allow_changed_equation)


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


def run_reference(args: argparse.Namespace, extra: list[str]) -> None:
    equation, _ = equation_with_flags(args.equation, extra)
    if equation.reference_by == "values":
        _write_reference_values(equation, args)
        return
    grid = _grid(equation, args.grid)
    _check_output_file(args.out, "the reference")
    solution = reference_on_grid(equation, grid)
    if len(equation.outputs) == 1:
        fields = {equation.outputs[0]: solution}
    else:
        fields = {name: solution[..., k] for k, name in enumerate(equation.outputs)}
    atomic_write(args.out, lambda stream: np.savez(stream, **grid, **fields))
    shape = ", ".join(f"{len(grid[n])} in {n}" for n in equation.inputs)
    print(f"wrote {equation.describe()} reference ({shape}) to {args.out} "
          f"(arrays {', '.join([*grid, *fields])}; {', '.join(fields)} indexed [{', '.join(equation.inputs)}])")


def _write_reference_values(equation: Equation, args: argparse.Namespace) -> None:
    """A family's reference at its own points (`reference_values`): one array per input and output."""
    if args.grid is not None:
        raise UsageError(f"--grid: {equation.name} gives its reference at its own points (reference_values), "
                         "not on a grid")
    _check_output_file(args.out, "the reference")
    points, values = reference_values(equation)
    arrays = {name: points[:, k] for k, name in enumerate(equation.inputs)}
    arrays.update({name: values[:, k] for k, name in enumerate(equation.outputs)})
    atomic_write(args.out, lambda stream: np.savez(stream, **arrays))
    print(f"wrote {equation.describe()} reference ({len(points)} points, the family's own) to {args.out} "
          f"(arrays {', '.join(arrays)})")


def _describe(name: str, family: type[Equation]) -> None:
    coefficients = ", ".join(f"--{c.name} {c.default:.6g}" for c in family.coefficient_specs)
    print(f"{name:<20} {family.summary}")
    print(f"{'':<20} inputs ({', '.join(family.inputs)}) -> {', '.join(family.outputs)}; {coefficients}")


def _what_the_solver_builds(equation: Equation) -> str:
    """The posing and network features the solver chooses for `equation` at the defaults."""
    posing = Posing(equation)
    built = "exact form given by the family" if posing.built is None else posing.built.describe()
    features = [f"{name} ({', '.join(f'{w / math.pi:g}' for w in found)} periods)"
                for name, found in zip(equation.inputs, data_frequencies(equation)) if found]
    soft = [condition.name for condition in posing.soft_conditions()]
    distances = [name for name in soft if boundary_features(equation, [name])]
    return (f"{built}; Fourier features: {', '.join(features) if features else 'none'}; "
            f"distance features: {', '.join(distances) if distances else 'none'}")


def run_list_equations(args: argparse.Namespace) -> None:
    """The built-in families and those installed packages ship; or the one `args.spec`
    names (file.py:Class), checked."""
    if args.spec is not None:
        family, source = checked_family(args.spec)
        _describe(family.name, family)
        origin = f"{source.path} (sha256 {source.sha256[:12]})" if source.path else source.kind
        print(f"{'':<20} from {origin}; checked: attributes, derivatives, domain, residual, exact form, reference")
        print(f"{'':<20} solver: {_what_the_solver_builds(family())}")
        return
    for name, family in sorted(equations.FAMILIES.items()):
        _describe(name, family)
    installed = equations.plugins()
    if installed:
        print("\ninstalled (entry points in the group pinn_pac.equations):")
    for name, family in sorted(installed.items()):
        if isinstance(family, str):
            print(f"{name:<20} cannot be used: {family}")
        else:
            _describe(name, family)
