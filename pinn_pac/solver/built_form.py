"""An exact form built from a family's declared conditions, for families that give none.

On a box, values on faces (initial and boundary data, varying along the face), first
derivatives normal to a face where the face also has a value (an initial velocity), and
periodic faces are built into u = g + d N (see `equations.ExactForm`):

* g meets every built condition. It is the constrained expression of the Theory of
  Functional Connections (Mortari 2017; Leake & Mortari, "Deep TFC", 2020) applied to zero,
  one input at a time: for input x with constraints C_j (a value or a normal derivative at a
  face x = a_j) and prescribed data kappa_j,
      g <- g + sum_j phi_j(x) (kappa_j - C_j[g]),
  where the switching functions phi_j are the polynomials with C_i[phi_j] = delta_ij (Hermite
  interpolation on the faces). Projecting input after input gives transfinite (Coons)
  interpolation; it meets all constraints when the data agree where faces meet.
* d vanishes on every constrained face to the order its constraints need: a factor
  ((x - a) / length)^(m + 1) per face, m the highest derivative order prescribed there,
  normalised to a maximum of 1 over the input's interval. So C_j[d N] = 0 for any N.
* Periodic faces are met by a network periodic in that input (`periodic`), as for a given form.

On a region (`equations.Region`), Dirichlet data on its boundary pieces give g's start and a
distance factor (see `region_form`); the interval inputs' faces (an initial time) are then
built in as above, starting from that g, and d is the product of both factors.

What cannot be built this way stays a soft loss term, and `BuiltPosing.soft` says why: a
derivative on a face without a value there (Neumann or Robin: fixing it in g + d N would fix
the value too), a derivative along the face or of order two or more, a periodic condition on
some outputs only or on an input that also has face values, data that are not differentiable
torch functions, or data that disagree where faces meet (the built form is checked
numerically, as a user's form is, and dropped whole if it misses).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from equations import BoundaryCondition, DirichletCondition, Equation, ExactForm, PeriodicCondition

from .derivatives import parse_derivatives
from .region_form import check_region_part, region_part
from .sampling import uniform_interior
from .start_layer import StartLayer, start_layer

#: How closely a built form must meet its conditions, relative to the data's size.
TOLERANCE = 1e-8
_CHECK_POINTS = 64

Function = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class _Constraint:
    """Output `output`'s value (order 0) or normal derivative (order 1) on the face where input
    `axis` equals `at`, prescribed by column `column` of `condition.value`."""

    output: int
    axis: int
    at: float
    order: int
    condition: DirichletCondition
    column: int


@dataclass
class BuiltPosing:
    """The form built from an equation's conditions (None where none could be built) and each
    condition that stays soft, with the reason."""

    form: ExactForm | None
    soft: dict[str, str] = field(default_factory=dict)
    #: The start layer in the form's offset, where boundary data disagree with the initial data.
    layer: StartLayer | None = None

    def describe(self) -> str:
        """One line: "exact form built from 3 conditions (initial, left, right); soft: ..."."""
        if self.form is None:
            built = "no exact form built"
        else:
            built = f"exact form built from {len(self.form.imposes)} conditions ({', '.join(self.form.imposes)})"
        parts = [built, *(f"{name} stays soft: {why}" for name, why in self.soft.items())]
        return "; ".join(parts + ([self.layer.describe()] if self.layer else []))


def build_exact_form(equation: Equation, with_start_layer: bool = True) -> BuiltPosing:
    """The exact form of `equation` built from its `conditions()` (see the module's docstring),
    with a start layer in its offset where asked and boundary data disagree with the initial
    data (see `start_layer`)."""
    inputs, outputs = equation.inputs, equation.outputs
    conditions = equation.conditions()
    region = equation.region()
    soft: dict[str, str] = {}
    constraints: dict[str, list[_Constraint]] = {}
    periodic: list[str] = []
    boundary = [c for c in conditions if isinstance(c, BoundaryCondition)]
    part = region_part(equation, region, boundary, soft) if boundary else None
    for condition in conditions:
        if isinstance(condition, BoundaryCondition):
            continue
        if isinstance(condition, PeriodicCondition):
            reason = _periodic_problem(condition, outputs)
            if reason:
                soft[condition.name] = reason
            else:
                periodic.append(condition.on)
            continue
        found, reason = _face_constraints(condition, inputs, outputs)
        if reason:
            soft[condition.name] = reason
        else:
            constraints[condition.name] = found
    for name, found in list(constraints.items()):
        if any(inputs[c.axis] in periodic for c in found):
            soft[name] = f"it sets values on faces of {inputs[found[0].axis]}, which is periodic"
            del constraints[name]
    _drop_derivatives_without_values(constraints, soft, inputs)
    if not constraints and not periodic and part is None:
        return BuiltPosing(None, soft)

    lower = {name: float(equation.domain[name][0]) for name in inputs}
    upper = {name: float(equation.domain[name][1]) for name in inputs}
    flat = [c for found in constraints.values() for c in found]
    offsets, factors = [], []
    for k in range(len(outputs)):
        mine = [c for c in flat if c.output == k]
        offsets.append(_offset(mine, inputs, lower, upper, None if part is None else part.offsets[k]))
        factor = _factor(mine, inputs, lower, upper)
        factors.append(factor if part is None else _product(factor, part.factors[k]))
    layer = start_layer(equation, region, [c for c in boundary if c.name in soft], constraints,
                        part is not None) if with_start_layer else None
    if layer is not None:
        offsets = [_sum(offsets[0], layer)]
    form = ExactForm(
        offset=lambda p: torch.cat([g(p) for g in offsets], dim=1),
        factor=lambda p: torch.cat([d(p) for d in factors], dim=1),
        imposes=tuple([*constraints, *(() if part is None else part.imposes),
                       *(c.name for c in conditions if isinstance(c, PeriodicCondition) and c.on in periodic)]),
        periodic=tuple(dict.fromkeys(periodic)),
    )
    with torch.enable_grad():
        problem = _check(equation, form, flat)
        if not problem and part is not None:
            problem = check_region_part(equation, region, form, part, TOLERANCE)
    if problem:
        return BuiltPosing(None, {**soft, **{name: problem for name in form.imposes}})
    return BuiltPosing(form, soft, layer)


def _sum(first: Function, second: Function) -> Function:
    return lambda p: first(p) + second(p)


def _periodic_problem(condition: PeriodicCondition, outputs: tuple[str, ...]) -> str:
    """Why a periodic condition cannot be met by a periodic network ("" where it can)."""
    if set(outputs) - set(condition.fields):
        return "a periodic network makes every output periodic; this condition names " + ", ".join(condition.fields)
    return ""


def _face_constraints(condition: DirichletCondition, inputs, outputs) -> tuple[list[_Constraint], str]:
    """The constraints a face condition sets, or the reason it cannot be built."""
    axis = inputs.index(condition.on)
    found = []
    for column, name in enumerate(condition.fields):
        if name in outputs:
            output, order = outputs.index(name), 0
        else:
            try:
                (derivative,) = parse_derivatives((name,), inputs, outputs)
            except ValueError as error:
                return [], str(error)
            if derivative.wrt != (axis,):
                return [], (f"{name} on the face {condition.on}=const is not the first derivative normal to it "
                            "(only values and normal first derivatives are built in)")
            output, order = derivative.output, 1
        found += [_Constraint(output, axis, float(at), order, condition, column) for at in condition.at]
    return found, ""


def _drop_derivatives_without_values(constraints: dict[str, list[_Constraint]], soft: dict[str, str],
                                     inputs) -> None:
    """Leave soft every condition prescribing a derivative on a face with no value there."""
    changed = True
    while changed:
        changed = False
        values = {(c.output, c.axis, c.at) for found in constraints.values() for c in found if c.order == 0}
        for name, found in list(constraints.items()):
            bare = [c for c in found if c.order == 1 and (c.output, c.axis, c.at) not in values]
            if bare:
                soft[name] = (f"it prescribes a derivative on {inputs[bare[0].axis]}={bare[0].at:g} where no value "
                              "is prescribed (a Neumann or Robin face: built into u = g + d N it would fix the "
                              "value too)")
                del constraints[name]
                changed = True


def _product(first: Function, second: Function) -> Function:
    return lambda points: first(points) * second(points)


def _offset(constraints: list[_Constraint], inputs, lower, upper, start: Function | None = None) -> Function:
    """g for one output: `start` (zero by default) projected onto each constrained input's
    faces in turn."""
    g: Function = start or (lambda p: torch.zeros(len(p), 1, dtype=p.dtype, device=p.device))
    for axis in sorted({c.axis for c in constraints}):
        mine = sorted((c for c in constraints if c.axis == axis), key=lambda c: (c.at, c.order))
        g = _project(g, axis, mine, lower[inputs[axis]], upper[inputs[axis]])
    return g


def _project(previous: Function, axis: int, constraints: list[_Constraint], low: float, high: float) -> Function:
    """previous + sum_j phi_j(x) (kappa_j - C_j[previous]) along input `axis`."""
    center, half = (low + high) / 2, (high - low) / 2
    degrees = np.arange(len(constraints))
    rows = []
    for c in constraints:
        xi = (c.at - center) / half
        if c.order == 0:
            rows.append(xi ** degrees)
        else:
            rows.append(np.where(degrees > 0, degrees * xi ** np.maximum(degrees - 1, 0), 0.0) / half)
    inverse = np.linalg.inv(np.array(rows))  # Hermite interpolation: nonsingular

    def projected(points: torch.Tensor) -> torch.Tensor:
        xi = (points[:, axis : axis + 1] - center) / half
        basis = torch.cat([xi ** int(k) for k in degrees], dim=1)
        switching = basis @ torch.as_tensor(inverse, dtype=points.dtype, device=points.device)
        total = previous(points)
        for j, c in enumerate(constraints):
            face = _on_face(points, axis, c.at)
            data = c.condition.value(face)[:, c.column : c.column + 1]
            current = previous(face) if c.order == 0 else _normal_derivative(previous, points, axis, c.at)
            total = total + switching[:, j : j + 1] * (data - current)
        return total

    return projected


def _on_face(points: torch.Tensor, axis: int, at: float | torch.Tensor) -> torch.Tensor:
    """`points` moved onto the face where input `axis` equals `at` (other columns tracked)."""
    column = at if isinstance(at, torch.Tensor) else torch.full_like(points[:, :1], at)
    return torch.cat([points[:, :axis], column, points[:, axis + 1 :]], dim=1)


def _normal_derivative(function: Function, points: torch.Tensor, axis: int, at: float) -> torch.Tensor:
    """d function / d x_axis on the face x_axis = at, differentiable further where gradients
    are on (and computed, then left untracked, where they are off)."""
    graph = torch.is_grad_enabled()
    with torch.enable_grad():
        column = torch.full_like(points[:, :1], at).requires_grad_(True)
        value = function(_on_face(points, axis, column))
        if not value.requires_grad:
            return torch.zeros_like(value)
        (derivative,) = torch.autograd.grad(value.sum(), column, create_graph=graph, allow_unused=True)
    return torch.zeros_like(value) if derivative is None else derivative


def _factor(constraints: list[_Constraint], inputs, lower, upper) -> Function:
    """d for one output: a power of the distance to each constrained face, 1 where none."""
    powers: dict[tuple[int, float], int] = {}
    for c in constraints:
        powers[c.axis, c.at] = max(powers.get((c.axis, c.at), 0), c.order + 1)
    norms = {}
    for axis in {axis for axis, _ in powers}:
        low, high = lower[inputs[axis]], upper[inputs[axis]]
        x = np.linspace(low, high, 2001)
        values = np.prod([((x - at) / (high - low)) ** n for (a, at), n in powers.items() if a == axis], axis=0)
        norms[axis] = float(values[np.abs(values).argmax()])  # signed: d > 0 inside

    def factor(points: torch.Tensor) -> torch.Tensor:
        d = torch.ones(len(points), 1, dtype=points.dtype, device=points.device)
        for (axis, at), n in powers.items():
            low, high = lower[inputs[axis]], upper[inputs[axis]]
            d = d * ((points[:, axis : axis + 1] - at) / (high - low)) ** n
        for axis, norm in norms.items():
            d = d / norm
        return d

    return factor


def _check(equation: Equation, form: ExactForm, constraints: list[_Constraint]) -> str:
    """Why the built form misses its conditions at random face points ("" where it meets them)."""
    generator = torch.Generator().manual_seed(0)
    cpu = {"dtype": torch.float64, "device": "cpu"}  # whatever torch's default device
    lower = torch.tensor([equation.domain[n][0] for n in equation.inputs], **cpu)
    upper = torch.tensor([equation.domain[n][1] for n in equation.inputs], **cpu)
    if equation.region() is None:
        points = lower + (upper - lower) * torch.rand(_CHECK_POINTS, len(lower), generator=generator, **cpu)
    else:  # inside the region, where the data are defined
        points = uniform_interior(equation, _CHECK_POINTS, np.random.default_rng(0), torch.float64)
    for c in constraints:
        face = points.clone()
        face[:, c.axis] = c.at
        face.requires_grad_(True)
        try:
            offset = form.offset(face)[:, c.output]
            data = c.condition.value(face.detach())[:, c.column]
            if c.order == 1:
                (offset,) = torch.autograd.grad(offset.sum(), face, allow_unused=True)
                offset = torch.zeros_like(data) if offset is None else offset[:, c.axis]
        except Exception as error:  # a user's data that autograd cannot follow
            return f"its data could not be built in ({type(error).__name__}: {error})"
        miss = float((offset.detach() - data).abs().max())
        if not miss <= TOLERANCE * max(1.0, float(data.abs().max())):
            name = equation.inputs[c.axis]
            return (f"the built form misses {c.condition.name} by {miss:.3g} on {name}={c.at:g}: the conditions "
                    "disagree where faces meet")
    for name in form.periodic:
        axis = equation.inputs.index(name)
        ends = []
        for at in equation.domain[name]:
            face = points.clone()
            face[:, axis] = at
            ends.append(form.offset(face).detach())
        miss = float((ends[0] - ends[1]).abs().max())
        if not miss <= TOLERANCE * max(1.0, float(ends[0].abs().max())):
            return f"the data on the other faces are not periodic in {name} (they differ by {miss:.3g} across it)"
    return ""
