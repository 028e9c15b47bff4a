"""g and d of a built form on a box's faces (see `built_form`): values and normal derivatives
prescribed on faces met by the Theory of Functional Connections' projection, input after
input (`face_offset`), and a power of the distance to each constrained face (`face_factor`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from equations import DirichletCondition

Function = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class FaceConstraint:
    """Output `output`'s value (order 0) or normal derivative (order 1) on the face where input
    `axis` equals `at`, prescribed by column `column` of `condition.value`."""

    output: int
    axis: int
    at: float
    order: int
    condition: DirichletCondition
    column: int


def face_offset(constraints: list[FaceConstraint], inputs, lower, upper, start: Function | None = None) -> Function:
    """g for one output: `start` (zero by default) projected onto each constrained input's
    faces in turn."""
    g: Function = start or (lambda p: torch.zeros(len(p), 1, dtype=p.dtype, device=p.device))
    for axis in sorted({c.axis for c in constraints}):
        mine = sorted((c for c in constraints if c.axis == axis), key=lambda c: (c.at, c.order))
        g = _project(g, axis, mine, lower[inputs[axis]], upper[inputs[axis]])
    return g


def _project(previous: Function, axis: int, constraints: list[FaceConstraint], low: float, high: float) -> Function:
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


def face_factor(constraints: list[FaceConstraint], inputs, lower, upper) -> Function:
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
