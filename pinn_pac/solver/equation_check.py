"""A user's equation class checked before any training: each problem in one line that names
the attribute, where training would otherwise fail far from its cause or silently learn the
wrong thing.

Checked: the class attributes and their types; derivative names (the family's, and those its
conditions' fields name); a bound for every input; coefficient defaults inside their own
ranges; the residual and the exact form on a few random points (they run, and give one row
per point); that the exact form meets the conditions it claims to impose, at random points of
their faces (`exact_form_check`); the reference's shape on a small grid, or its values at points.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from equations import BoundaryCondition, Coefficient, DirichletCondition, Equation, Region
from equations.errors import InputError
from equations.geometry import Shape

from .boundary import check_boundary_condition
from .derivatives import parse_derivatives
from .evaluate import reference_values
from .exact_form_check import POINTS, check_exact_form, field_parts
from .sampling import uniform_interior



class EquationClassError(InputError):
    """A user's equation class cannot be trained as it is written."""


def _names(value: object) -> bool:
    return isinstance(value, (tuple, list)) and bool(value) and all(isinstance(v, str) and v for v in value)


def check_equation_class(cls: type[Equation], label: str) -> None:
    """Refuse `cls` (named `label` in messages) in one line at its first problem."""

    def fail(attribute: str, problem: str) -> None:
        raise EquationClassError(f"{label}: {attribute}: {problem}")

    for attribute in ("name", "summary", "example_targets"):
        value = getattr(cls, attribute, None)
        if not isinstance(value, str) or (attribute == "name" and not value.strip()):
            fail(attribute, f"must be a string, got {value!r}")
    for attribute in ("inputs", "outputs"):
        if not _names(getattr(cls, attribute, None)):
            fail(attribute, f"must be a tuple of names, got {getattr(cls, attribute, None)!r}")
    derivatives = getattr(cls, "derivatives", None)
    if not isinstance(derivatives, (tuple, list)) or not all(isinstance(d, str) for d in derivatives):
        fail("derivatives", f"must be a tuple of derivative names such as 'u_x', got {derivatives!r}")
    specs = getattr(cls, "coefficient_specs", None)
    if not isinstance(specs, (tuple, list)) or not all(isinstance(s, Coefficient) for s in specs):
        fail("coefficient_specs", f"must be a tuple of equations.Coefficient, got {specs!r}")
    try:
        parse_derivatives(tuple(derivatives), tuple(cls.inputs), tuple(cls.outputs))
    except ValueError as error:
        fail("derivatives", str(error))
    for spec in specs:
        if not (math.isfinite(spec.default) and spec.low < spec.default < spec.high):
            fail("coefficient_specs", f"{spec.name}'s default {spec.default:g} is outside its own range "
                                      f"({spec.low:g}, {spec.high:g})")
    try:
        equation = cls()
    except Exception as error:
        fail("__init__", f"the family at its default coefficients cannot be made: {type(error).__name__}: {error}")
    _check_domain(equation, fail)
    _check_condition_fields(equation, fail)
    points = _random_points(equation, POINTS)
    _check_residual(equation, points, fail)
    form = _called(equation.exact_form, "exact_form", fail)
    if form is not None:
        check_exact_form(equation, form, points, fail)
    if equation.has_reference:
        _check_reference(equation, fail)


def _called(method, attribute: str, fail):
    """What `method()` gives, or the class refused in one line naming `attribute`."""
    try:
        return method()
    except Exception as error:
        fail(attribute, f"raised {type(error).__name__}: {error}")


def _check_region(equation: Equation, fail) -> None:
    region = _called(equation.region, "region", fail)
    if region is None:
        return
    if not isinstance(region, Region) or not isinstance(region.shape, Shape):
        fail("region", f"must be an equations.Region of a shape from equations.geometry, got {region!r}")
    named = [*region.over, *region.intervals]
    if sorted(named) != sorted(equation.inputs):
        fail("region", f"its shape's inputs ({', '.join(region.over)}) and intervals ({', '.join(region.intervals)}) "
                       f"must name every input ({', '.join(equation.inputs)}) once")
    if len(region.over) != region.shape.dim:
        fail("region", f"a {region.shape.dim}-D shape over {len(region.over)} inputs ({', '.join(region.over)})")
    try:
        region.shape.validate()
    except InputError as error:
        fail("region", str(error))


def _check_domain(equation: Equation, fail) -> None:
    _check_region(equation, fail)
    try:
        domain = equation.domain
    except Exception as error:
        fail("domain", f"raised {type(error).__name__}: {error}")
    if not isinstance(domain, dict):
        fail("domain", f"must be a dict of (low, high) per input, got {domain!r}")
    for name in equation.inputs:
        bounds = domain.get(name)
        if not (isinstance(bounds, (tuple, list)) and len(bounds) == 2
                and all(isinstance(b, (int, float)) and math.isfinite(b) for b in bounds) and bounds[0] < bounds[1]):
            fail("domain", f"no finite bound (low, high) with low < high for input {name!r}, got {bounds!r}")


def _check_condition_fields(equation: Equation, fail) -> None:
    try:
        conditions = equation.conditions()
    except Exception as error:
        fail("conditions", f"raised {type(error).__name__}: {error}")
    points = _random_points(equation, POINTS)
    region = equation.region()
    for condition in conditions:
        if isinstance(condition, BoundaryCondition):
            try:
                check_boundary_condition(condition, equation)
            except InputError as error:
                fail("conditions", str(error))
        elif region is not None and condition.on in region.over:
            fail("conditions", f"{condition.name} is on faces of {condition.on}, a coordinate of the region's shape; "
                               "state it on boundary pieces (BoundaryCondition)")
        for field_name in getattr(condition, "fields", ()):
            field_parts(field_name, equation, condition, fail)
        if isinstance(condition, (DirichletCondition, BoundaryCondition)):
            try:
                value = condition.value(points)
            except Exception as error:
                fail("conditions", f"{condition.name}'s value raised {type(error).__name__}: {error} on random points")
            expected = (len(points), len(condition.fields))
            if not isinstance(value, torch.Tensor) or tuple(value.shape) != expected:
                shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
                fail("conditions", f"{condition.name}'s value returned {shape} on {len(points)} points; it must be "
                                   f"{expected}, one column per field ({', '.join(condition.fields)})")


def _random_points(equation: Equation, n: int) -> torch.Tensor:
    if equation.region() is not None:
        return uniform_interior(equation, n, np.random.default_rng(0), torch.float64)
    generator = torch.Generator().manual_seed(0)
    columns = [low + (high - low) * torch.rand(n, 1, generator=generator, dtype=torch.float64)
               for low, high in (equation.domain[name] for name in equation.inputs)]
    return torch.cat(columns, dim=1)


def _check_residual(equation: Equation, points: torch.Tensor, fail) -> None:
    generator = torch.Generator().manual_seed(1)
    fields = {name: points[:, k:k + 1] for k, name in enumerate(equation.inputs)}
    for name in (*equation.outputs, *equation.derivatives):
        fields[name] = torch.randn(len(points), 1, generator=generator, dtype=torch.float64)
    try:
        residual = equation.residual(fields)
    except Exception as error:
        fail("residual", f"raised {type(error).__name__}: {error} on {len(points)} random points (it is given the "
                         f"inputs, the outputs and the derivatives it lists: {', '.join(fields)})")
    if not isinstance(residual, torch.Tensor) or residual.dim() != 2 or residual.shape[0] != len(points):
        shape = tuple(residual.shape) if isinstance(residual, torch.Tensor) else type(residual).__name__
        fail("residual", f"returned {shape} on {len(points)} points; it must be a ({len(points)}, k) tensor")


def _check_reference(equation: Equation, fail) -> None:
    if equation.reference_by == "points":
        _check_reference_at(equation, fail)
        return
    if equation.reference_by == "values":
        try:
            reference_values(equation)
        except InputError as error:
            fail("reference_values", str(error).split(": ", 1)[-1])
        except Exception as error:
            fail("reference_values", f"raised {type(error).__name__}: {error}")
        return
    try:
        grid = equation.standard_grid()
        small = {name: np.linspace(float(np.min(grid[name])), float(np.max(grid[name])), 3) for name in equation.inputs}
    except Exception as error:
        fail("standard_grid", f"must give one axis per input ({', '.join(equation.inputs)}): "
                              f"{type(error).__name__}: {error}")
    expected = (3,) * len(equation.inputs) + ((len(equation.outputs),) if len(equation.outputs) > 1 else ())
    try:
        reference = np.asarray(equation.reference(small))
    except Exception as error:
        fail("reference", f"raised {type(error).__name__}: {error} on a grid of 3 points per input")
    if reference.shape != expected:
        fail("reference", f"returned shape {reference.shape} on a grid of 3 points per input; it must be {expected} "
                          "(indexed in the order of inputs, one last axis per output where there are several)")


def _check_reference_at(equation: Equation, fail) -> None:
    points = _random_points(equation, 3).numpy()
    try:
        reference = np.asarray(equation.reference_at(points))
    except Exception as error:
        fail("reference_at", f"raised {type(error).__name__}: {error} on 3 points")
    outputs = len(equation.outputs)
    if reference.shape not in ((3, outputs),) + (((3,),) if outputs == 1 else ()):
        fail("reference_at", f"returned shape {reference.shape} on 3 points; it must be (3, {outputs})"
                             + (" or (3,)" if outputs == 1 else ""))
