"""Heat equation: u_t = kappa u_xx on x in [0, 1], t in [0, 1], u = 0 at both ends.

u(0, x) = sin(pi x) + 0.5 sin(3 pi x) + 0.25 sin(5 pi x); the reference is the exact
sine series, each mode decaying as exp(-kappa (n pi)^2 t).
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np
import torch

from .base import Coefficient, DirichletCondition, Equation, ExactForm, Grid

MODES = ((1, 1.0), (3, 0.5), (5, 0.25))


class Diffusion(Equation):
    name = "diffusion"
    summary = "u_t = kappa u_xx; x in [0, 1], t in [0, 1]; three sine modes, u = 0 at both ends"
    inputs = ("x", "t")
    coefficient_specs = (Coefficient("kappa", 0.1, 0.0, 10.0, "the diffusivity kappa in (0, 10)"),)
    derivatives = ("u_t", "u_xx")
    example_targets = "kappa=0.05,kappa=0.2"

    @property
    def domain(self) -> dict[str, tuple[float, float]]:
        return {"x": (0.0, 1.0), "t": (0.0, 1.0)}

    def conditions(self) -> list[DirichletCondition]:
        return [
            DirichletCondition("initial", on="t", at=(0.0,), value=_initial),
            DirichletCondition("boundary", on="x", at=(0.0, 1.0), value=lambda p: torch.zeros_like(p[:, :1])),
        ]

    def exact_form(self) -> ExactForm:
        """u = u0(x) + t x (1 - x) N: u0 vanishes at both ends, so every condition holds."""
        return ExactForm(offset=_initial, factor=lambda p: p[:, 1:2] * p[:, :1] * (1 - p[:, :1]),
                         imposes=("initial", "boundary"))

    def residual(self, fields: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return fields["u_t"] - self.coefficients["kappa"] * fields["u_xx"]

    def standard_grid(self) -> dict[str, np.ndarray]:
        return {"x": np.linspace(0.0, 1.0, 201), "t": np.linspace(0.0, 1.0, 101)}

    def reference(self, grid: Grid) -> np.ndarray:
        x, t = np.asarray(grid["x"])[:, None], np.asarray(grid["t"])[None, :]
        kappa = self.coefficients["kappa"]
        return sum(a * np.sin(n * np.pi * x) * np.exp(-kappa * (n * np.pi) ** 2 * t) for n, a in MODES)


def _initial(points: torch.Tensor) -> torch.Tensor:
    x = points[:, :1]
    return sum(a * torch.sin(n * math.pi * x) for n, a in MODES)
