"""PINNacle's HNd (Hao et al. 2024, `src/pde/heat.py`, HeatND with d = 5) written as a user writes
it: the domain, the conditions its source states, no exact form, no scale.

u_t = (1/d) laplace(u) + f on the unit ball in 5-D times t in [0, 1], with
f = -(1/d) |x|^2 exp(|x|^2 / 2 + t); du/dn = exp(|x|^2 / 2 + t) on the sphere (Neumann) and
u = exp(|x|^2 / 2) at t = 0. Analytic: u = exp(|x|^2 / 2 + t).
"""

import numpy as np
import torch

from equations import Ball, BoundaryCondition, Coefficient, DirichletCondition, Equation, Region

NAMES = ("x1", "x2", "x3", "x4", "x5")
D = len(NAMES)


def exact(p):
    """exp(|x|^2 / 2 + t) at (N, 6) points (x1..x5, t)."""
    return torch.exp((p[:, :D] ** 2).sum(dim=1, keepdim=True) / 2 + p[:, D:])


class HeatBall(Equation):
    name = "heat-ball"
    summary = "u_t = laplace(u)/5 + f on the unit 5-ball x [0,1]; du/dn given on the sphere; u0 = exp(|x|^2/2)"
    inputs = (*NAMES, "t")
    coefficient_specs = (Coefficient("k", 1 / D, 0.0, 1.0, "the diffusivity k in (0, 1)"),)
    derivatives = tuple(f"u_{n}_{n}" for n in NAMES) + ("u_t",)
    example_targets = "k=0.3"

    def region(self):
        return Region(Ball((0.0,) * D, 1.0, name="sphere"), NAMES, {"t": (0.0, 1.0)})

    def conditions(self):
        return [
            DirichletCondition("initial", on="t", at=(0.0,), value=exact),
            BoundaryCondition("sphere", kind="neumann", value=exact),
        ]

    def residual(self, f):
        k = self.coefficients["k"]
        square = sum(f[n] ** 2 for n in NAMES)
        laplacian = sum(f[f"u_{n}_{n}"] for n in NAMES)
        source = (1 - k * D - k * square) * torch.exp(square / 2 + f["t"])
        return f["u_t"] - k * laplacian - source

    def standard_grid(self):
        return {**{n: np.linspace(-1.0, 1.0, 7) for n in NAMES}, "t": np.linspace(0.0, 1.0, 5)}

    def reference_at(self, points):
        return np.exp((points[:, :D] ** 2).sum(axis=1) / 2 + points[:, D])
