"""What a region's boundary condition compares: a field (Dirichlet), its derivative along the
outward normal (Neumann), or the two together (Robin: du/dn + alpha u)."""

from __future__ import annotations

from typing import Mapping

import torch

from equations import BoundaryCondition, Equation
from equations.errors import InputError

from .derivative_names import derivative_name
from .derivatives import Derivative, parse_derivatives


def check_boundary_condition(condition: BoundaryCondition, equation: Equation) -> None:
    """Refuse, in one line, a boundary condition that cannot be posed on `equation`."""
    region = equation.region()
    if region is None:
        raise InputError(f"{condition.name}: a boundary condition needs a region (Equation.region); "
                         "on a box, state conditions on faces (DirichletCondition)")
    unknown = [name for name in condition.fields if name not in equation.outputs]
    if unknown:
        raise InputError(f"{condition.name}: fields must name outputs ({', '.join(equation.outputs)}), got "
                         f"{', '.join(unknown)}")
    region.pieces_named(condition.on, condition.name)


class BoundaryTerm:
    """A boundary condition's left side on `equation`'s region, read once from the region."""

    def __init__(self, condition: BoundaryCondition, equation: Equation) -> None:
        inputs, outputs = equation.inputs, equation.outputs
        self.condition = condition
        #: The columns of the shape's inputs (where the normals are not zero).
        self.columns = [inputs.index(x) for x in equation.region().over]
        #: For each field, the names of its derivatives along the shape's inputs.
        self.gradients = [[derivative_name(outputs.index(field), (c,), inputs, outputs) for c in self.columns]
                          for field in condition.fields]
        names = () if condition.kind == "dirichlet" else tuple(n for gradient in self.gradients for n in gradient)
        #: The first derivatives a Neumann or Robin condition needs (none for Dirichlet).
        self.derivatives: list[Derivative] = parse_derivatives(tuple(dict.fromkeys(names)), inputs, outputs)

    def left_side(self, fields: Mapping[str, torch.Tensor], normals: torch.Tensor) -> torch.Tensor:
        """The condition's left side at its points, (N, len(fields)): what must equal its value."""
        condition = self.condition
        if condition.kind == "dirichlet":
            return torch.cat([fields[name] for name in condition.fields], dim=1)
        sides = []
        for name, gradient in zip(condition.fields, self.gradients):
            normal = sum(normals[:, c : c + 1] * fields[g] for c, g in zip(self.columns, gradient))
            sides.append(normal + condition.alpha * fields[name] if condition.kind == "robin" else normal)
        return torch.cat(sides, dim=1)
