"""A user's exact form checked before any training (part of `equation_check`): its parts run
and give one row per point, and it meets each condition it claims to impose, at random points
of their faces or boundary pieces."""

from __future__ import annotations

import numpy as np
import torch

from equations import BoundaryCondition, Equation, ExactForm, PeriodicCondition

from .derivatives import parse_derivatives
from .sampling import boundary_points

#: Random points each check draws.
POINTS = 16
#: How closely an exact form must meet an imposed condition, relative to the value's size.
TOLERANCE = 1e-9


def check_exact_form(equation: Equation, form: ExactForm, points: torch.Tensor, fail) -> None:
    """Refuse, through `fail(attribute, problem)`, an exact form `form` of `equation` that does
    not run on `points`, gives the wrong shape, or misses a condition it claims to impose."""
    conditions = {c.name: c for c in equation.conditions()}
    unknown = [name for name in form.imposes if name not in conditions]
    if unknown:
        fail("exact_form", f"imposes {', '.join(unknown)}, which conditions() does not declare "
                           f"(it declares {', '.join(conditions) or 'none'})")
    outputs = len(equation.outputs)
    for part in ("offset", "factor"):
        try:
            value = getattr(form, part)(points)
        except Exception as error:
            fail(f"exact_form.{part}", f"raised {type(error).__name__}: {error} on random points")
        if not isinstance(value, torch.Tensor) or value.dim() != 2 or value.shape[0] != len(points) \
                or value.shape[1] not in (1, outputs):
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            fail(f"exact_form.{part}", f"returned {shape} on {len(points)} points; it must be "
                                       f"({len(points)}, {outputs}) or ({len(points)}, 1)")
    for name in form.imposes:
        _check_imposed(equation, form, conditions[name], points, fail)


def _check_imposed(equation: Equation, form, condition, points: torch.Tensor, fail) -> None:
    """u = offset + factor N meets `condition` for any N: on a Dirichlet condition's faces (or
    boundary pieces) factor (and, for a derivative field, its derivative) vanishes and offset
    meets the value; for a periodic one, N is periodic in that input and offset and factor
    agree on both faces."""
    if isinstance(condition, BoundaryCondition):
        _check_imposed_on_boundary(equation, form, condition, fail)
        return
    column = equation.inputs.index(condition.on)
    low, high = equation.domain[condition.on]

    def on_face(at: float) -> torch.Tensor:
        face = points.clone()
        face[:, column] = at
        return face.requires_grad_(True)

    if isinstance(condition, PeriodicCondition):
        if condition.on not in form.periodic:
            fail("exact_form", f"claims to impose the periodic {condition.name}, but {condition.on!r} is not in "
                               "its periodic inputs, so the network is not periodic there")
        for part in ("offset", "factor"):
            ends = [getattr(form, part)(on_face(at)).detach() for at in (low, high)]
            miss = (ends[0] - ends[1]).abs().max()
            if miss > TOLERANCE * max(1.0, float(ends[0].abs().max())):
                fail("exact_form", f"claims to impose the periodic {condition.name}, but its {part} differs by "
                                   f"{miss:.3g} between {condition.on}={low:g} and {high:g}")
        return
    for at in condition.at:
        face = on_face(at)
        for k, field_name in enumerate(condition.fields):
            index, wrt = field_parts(field_name, equation, condition, fail)
            factor = form.factor(face)
            terms = {"factor": _field_of(factor, index, face, ())}
            if wrt:
                terms[f"factor's {field_name.removeprefix(equation.outputs[index] + '_')}-derivative"] = \
                    _field_of(factor, index, face, wrt)
            for what, term in terms.items():
                size = float(term.detach().abs().max())
                if size > TOLERANCE:
                    fail("exact_form", f"claims to impose {condition.name}, but its {what} is {size:.3g} on "
                                       f"{condition.on}={at:g}, not 0: the network would move {field_name} there")
            offset = _field_of(form.offset(face), index, face, wrt).detach()
            target = condition.value(face.detach())[:, k]
            miss = float((offset - target).abs().max())
            if miss > TOLERANCE * max(1.0, float(target.abs().max())):
                fail("exact_form", f"claims to impose {condition.name} ({field_name} on {condition.on}={at:g}), "
                                   f"but its offset misses the value by {miss:.3g}")


def _check_imposed_on_boundary(equation: Equation, form, condition: BoundaryCondition, fail) -> None:
    if condition.kind != "dirichlet":
        fail("exact_form", f"claims to impose the {condition.kind} {condition.name}; an exact form's imposed "
                           "boundary conditions must be Dirichlet (values)")
    points = torch.tensor(boundary_points(equation, equation.region(), condition, POINTS, "sobol",
                                          np.random.default_rng(0))[0], dtype=torch.float64)
    for k, field_name in enumerate(condition.fields):
        index = equation.outputs.index(field_name)
        factor = form.factor(points)
        size = float(factor[:, min(index, factor.shape[1] - 1)].abs().max())
        if size > TOLERANCE:
            fail("exact_form", f"claims to impose {condition.name}, but its factor is {size:.3g} on its boundary "
                               f"pieces, not 0: the network would move {field_name} there")
        target = condition.value(points)[:, k]
        offset = form.offset(points)
        miss = float((offset[:, min(index, offset.shape[1] - 1)] - target).abs().max())
        if miss > TOLERANCE * max(1.0, float(target.abs().max())):
            fail("exact_form", f"claims to impose {condition.name}, but its offset misses the value by {miss:.3g}")


def field_parts(field_name: str, equation: Equation, condition, fail) -> tuple[int, tuple[int, ...]]:
    """A condition's field as (output index, input indices): "u" or a derivative "u_x"."""
    if field_name in equation.outputs:
        return equation.outputs.index(field_name), ()
    try:
        (derivative,) = parse_derivatives((field_name,), tuple(equation.inputs), tuple(equation.outputs))
    except ValueError as error:
        fail("conditions", f"{condition.name}'s field {field_name!r}: {error}")
    return derivative.output, derivative.wrt


def _field_of(values: torch.Tensor, index: int, points: torch.Tensor, wrt: tuple[int, ...]) -> torch.Tensor:
    """Column `index` of `values`, or its first derivative along input `wrt` (only one
    derivative order is checked: "u_t", not "u_tt")."""
    column = values[:, min(index, values.shape[1] - 1)]
    if not wrt:
        return column
    if len(wrt) != 1:
        return torch.zeros_like(column)  # a higher derivative: not checked here
    if not column.requires_grad:
        return torch.zeros_like(column)  # constant in the points
    (gradient,) = torch.autograd.grad(column.sum(), points, create_graph=True, allow_unused=True)
    return torch.zeros_like(column) if gradient is None else gradient[:, wrt[0]]
