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

g's projection and d on the faces live in `face_form`.

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

import numpy as np
import torch

from equations import BoundaryCondition, DirichletCondition, Equation, ExactForm, PeriodicCondition

from .derivatives import parse_derivatives
from .face_form import FaceConstraint, Function, face_factor, face_offset
from .region_form import check_region_part, region_part
from .sampling import uniform_interior
from .start_layer import StartLayer, start_layer

#: How closely a built form must meet its conditions, relative to the data's size.
TOLERANCE = 1e-8
_CHECK_POINTS = 64

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
    constraints: dict[str, list[FaceConstraint]] = {}
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
        offsets.append(face_offset(mine, inputs, lower, upper, None if part is None else part.offsets[k]))
        factor = face_factor(mine, inputs, lower, upper)
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


def _face_constraints(condition: DirichletCondition, inputs, outputs) -> tuple[list[FaceConstraint], str]:
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
        found += [FaceConstraint(output, axis, float(at), order, condition, column) for at in condition.at]
    return found, ""


def _drop_derivatives_without_values(constraints: dict[str, list[FaceConstraint]], soft: dict[str, str],
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


def _check(equation: Equation, form: ExactForm, constraints: list[FaceConstraint]) -> str:
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
