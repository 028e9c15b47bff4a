"""Distance features where a region's boundary data are fitted by the loss.

A condition on a region's boundary that stays in the loss (Neumann, Robin, or a Dirichlet one
that is not built in) drives the solution through its data: the field it makes follows the
distance to its pieces (heat flowing in from 11 holes of a plate is, near each, much the same
function of the distance to that hole and of time). A tanh network of 20 units must otherwise
build one bump per hole from the coordinates. So each such condition gives the network one more
input (see `model.TanhNetwork`'s `features`): the smooth minimum of its pieces' levels (each
piece's `Shape.levels()` function: zero on it, ~ the distance to it nearby, smooth through it),

    d_c(x) = -l log sum_i exp(-level_i(x) / l),  l = shape size / `SOFTMIN_PARTS`,

scaled to [-1, 1] over the shape's interior like every other input. Measured on PINNacle's
Heat2d-CG (17 holes, Robin data on every boundary; benchmarks/README.md): see there.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from equations import BoundaryCondition, Equation

Feature = Callable[[torch.Tensor], torch.Tensor]

#: The softmin's length is the shape's size over this: the kink of a plain minimum, where the
#: nearest piece changes, is smoothed over that length.
SOFTMIN_PARTS = 48
#: Interior points over which a feature is scaled to [-1, 1].
_SCALE_POINTS = 4096


def boundary_features(equation: Equation, soft: list[str]) -> tuple[Feature, ...]:
    """One feature per boundary condition named in `soft` (the conditions the loss fits): a
    function of (N, n_inputs) points giving (N, 1) values. () where the equation has no region."""
    region = equation.region()
    if region is None:
        return ()
    conditions = [c for c in equation.conditions() if isinstance(c, BoundaryCondition) and c.name in soft]
    if not conditions:
        return ()
    levels = region.shape.levels()
    columns = [equation.inputs.index(name) for name in region.over]
    length = region.shape.size() / SOFTMIN_PARTS
    inside = torch.tensor(region.shape.sample_interior(_SCALE_POINTS, np.random.default_rng(0)), dtype=torch.float64)
    features = []
    for condition in conditions:
        pieces = [levels[name] for name in region.pieces_named(condition.on, condition.name)]
        values = _softmin(pieces, length, inside)
        low, high = float(values.min()), float(values.max())
        features.append(_Scaled(pieces, length, columns, low, high))
    return tuple(features)


def _softmin(levels: list[Feature], length: float, points: torch.Tensor) -> torch.Tensor:
    if len(levels) == 1:
        return levels[0](points)
    stacked = torch.cat([-level(points) / length for level in levels], dim=1)
    return -length * torch.logsumexp(stacked, dim=1, keepdim=True)


class _Scaled:
    """The softmin of `levels` over the shape's inputs `columns`, mapped from [low, high] to
    [-1, 1] (a callable, so that a network holding it can be copied)."""

    def __init__(self, levels: list[Feature], length: float, columns: list[int], low: float, high: float) -> None:
        self.levels, self.length, self.columns = levels, length, columns
        self.low, self.high = low, max(high, low + 1e-12)

    def __call__(self, points: torch.Tensor) -> torch.Tensor:
        values = _softmin(self.levels, self.length, points[:, self.columns])
        return 2 * (values - self.low) / (self.high - self.low) - 1
