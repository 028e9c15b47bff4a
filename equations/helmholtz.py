"""Helmholtz 2-D (steady): u_xx + u_yy + k^2 u = q(x, y) on [-1, 1]^2.

The manufactured solution u = sin(a1 pi x) sin(a2 pi y) fixes q and the boundary
values; it is also the reference.
"""

from __future__ import annotations

import math
from typing import Callable, Mapping

import numpy as np
import torch

from .base import Coefficient, DirichletCondition, Equation, ExactForm, Grid


class Helmholtz(Equation):
    name = "helmholtz"
    summary = "u_xx + u_yy + k^2 u = q on [-1, 1]^2; exact u = sin(a1 pi x) sin(a2 pi y)"
    inputs = ("x", "y")
    coefficient_specs = (
        Coefficient("k", 1.0, 0.0, 50.0, "the wave number k in (0, 50)"),
        Coefficient("a1", 1.0, 0.0, 10.0, "the x frequency a1 in (0, 10)"),
        Coefficient("a2", 4.0, 0.0, 10.0, "the y frequency a2 in (0, 10)"),
    )
    derivatives = ("u_xx", "u_yy")
    example_targets = "k=2;k=4"

    @property
    def domain(self) -> dict[str, tuple[float, float]]:
        return {"x": (-1.0, 1.0), "y": (-1.0, 1.0)}

    def exact(self, x, y):
        """sin(a1 pi x) sin(a2 pi y) on numpy arrays or torch tensors."""
        sin = torch.sin if isinstance(x, torch.Tensor) else np.sin
        return sin(self.coefficients["a1"] * math.pi * x) * sin(self.coefficients["a2"] * math.pi * y)

    def conditions(self) -> list[DirichletCondition]:
        def value(points: torch.Tensor) -> torch.Tensor:
            return self.exact(points[:, :1], points[:, 1:2])

        return [DirichletCondition("boundary x", on="x", at=(-1.0, 1.0), value=value),
                DirichletCondition("boundary y", on="y", at=(-1.0, 1.0), value=value)]

    def exact_form(self) -> ExactForm:
        """u = g + (1 - x^2)(1 - y^2) N, where g is the transfinite (Coons) interpolant of the
        boundary values: it equals them on all four sides and reads nothing but them."""
        return ExactForm(offset=lambda p: coons_patch(self.conditions()[0].value, p),
                         factor=lambda p: (1 - p[:, :1] ** 2) * (1 - p[:, 1:2] ** 2),
                         imposes=("boundary x", "boundary y"))

    @property
    def residual_scale(self) -> float:
        """1 / max((a1^2 + a2^2) pi^2, k^2), the size of the operator's largest term per unit
        of u: the forcing is that many times the boundary values, and unscaled it would
        dominate every other term (Wang, Teng, Perdikaris 2021)."""
        a1, a2, k = (self.coefficients[n] for n in ("a1", "a2", "k"))
        return 1.0 / max((a1**2 + a2**2) * math.pi**2, k**2)

    def residual(self, fields: Mapping[str, torch.Tensor]) -> torch.Tensor:
        k, a1, a2 = (self.coefficients[n] for n in ("k", "a1", "a2"))
        forcing = (k**2 - (a1 * math.pi) ** 2 - (a2 * math.pi) ** 2) * self.exact(fields["x"], fields["y"])
        return fields["u_xx"] + fields["u_yy"] + k**2 * fields["u"] - forcing

    def standard_grid(self) -> dict[str, np.ndarray]:
        return {"x": np.linspace(-1.0, 1.0, 101), "y": np.linspace(-1.0, 1.0, 101)}

    def reference(self, grid: Grid) -> np.ndarray:
        return self.exact(np.asarray(grid["x"])[:, None], np.asarray(grid["y"])[None, :])


def coons_patch(boundary: Callable[[torch.Tensor], torch.Tensor], points: torch.Tensor) -> torch.Tensor:
    """The bilinearly blended interpolant on [-1, 1]^2 of `boundary`, evaluated only on the
    square's sides: it matches `boundary` on every side (Gordon, Hall 1973)."""
    x, y = points[:, :1], points[:, 1:2]

    def at(xs, ys):
        return boundary(torch.cat([xs.expand_as(x), ys.expand_as(y)], dim=1))

    one = torch.ones_like(x)
    left, right = (1 - x) / 2, (1 + x) / 2
    bottom, top = (1 - y) / 2, (1 + y) / 2
    sides = left * at(-one, y) + right * at(one, y) + bottom * at(x, -one) + top * at(x, one)
    corners = (bottom * (left * at(-one, -one) + right * at(one, -one))
               + top * (left * at(-one, one) + right * at(one, one)))
    return sides - corners
