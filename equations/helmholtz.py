"""Helmholtz 2-D (steady): u_xx + u_yy + k^2 u = q(x, y) on [-1, 1]^2.

The manufactured solution u = sin(a1 pi x) sin(a2 pi y) fixes q and the boundary
values; it is also the reference.
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np
import torch

from .base import Coefficient, DirichletCondition, Equation, Grid


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

    def residual(self, fields: Mapping[str, torch.Tensor]) -> torch.Tensor:
        k, a1, a2 = (self.coefficients[n] for n in ("k", "a1", "a2"))
        forcing = (k**2 - (a1 * math.pi) ** 2 - (a2 * math.pi) ** 2) * self.exact(fields["x"], fields["y"])
        return fields["u_xx"] + fields["u_yy"] + k**2 * fields["u"] - forcing

    def standard_grid(self) -> dict[str, np.ndarray]:
        return {"x": np.linspace(-1.0, 1.0, 101), "y": np.linspace(-1.0, 1.0, 101)}

    def reference(self, grid: Grid) -> np.ndarray:
        return self.exact(np.asarray(grid["x"])[:, None], np.asarray(grid["y"])[None, :])
