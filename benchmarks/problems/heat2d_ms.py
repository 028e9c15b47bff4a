"""PINNacle's Heat2d-MS (Hao et al. 2024, `src/pde/heat.py`, HeatMultiscale) written as a user
writes it: the conditions its source states, no exact form, no residual scale.

u_t = k1 u_xx + k2 u_yy on [0, 1]^2 x [0, 5], k1 = 1/(500 pi)^2, k2 = 1/pi^2;
u(x, y, 0) = sin(20 pi x) sin(pi y), u = 0 on the sides.
Analytic: u = sin(20 pi x) sin(pi y) exp(-((20 pi)^2 k1 + pi^2 k2) t).
"""

import math

import numpy as np
import torch

from equations import Coefficient, DirichletCondition, Equation


class Heat2DMultiscale(Equation):
    name = "heat2d-ms"
    summary = "u_t = k1 u_xx + k2 u_yy; [0,1]^2 x [0,5]; u0 = sin(20 pi x) sin(pi y); u = 0 on the sides"
    inputs = ("x", "y", "t")
    coefficient_specs = (
        Coefficient("k1", 1 / (500 * math.pi) ** 2, 0.0, 1.0, "the x diffusivity k1 in (0, 1)"),
        Coefficient("k2", 1 / math.pi**2, 0.0, 1.0, "the y diffusivity k2 in (0, 1)"),
    )
    derivatives = ("u_t", "u_xx", "u_yy")
    example_targets = "k2=0.05;k2=0.2"
    domain = property(lambda self: {"x": (0.0, 1.0), "y": (0.0, 1.0), "t": (0.0, 5.0)})

    def conditions(self):
        zero = lambda p: 0 * p[:, :1]
        return [
            DirichletCondition("initial", on="t", at=(0.0,),
                               value=lambda p: torch.sin(20 * torch.pi * p[:, :1]) * torch.sin(torch.pi * p[:, 1:2])),
            DirichletCondition("sides x", on="x", at=(0.0, 1.0), value=zero),
            DirichletCondition("sides y", on="y", at=(0.0, 1.0), value=zero),
        ]

    def residual(self, f):
        k1, k2 = self.coefficients["k1"], self.coefficients["k2"]
        return f["u_t"] - k1 * f["u_xx"] - k2 * f["u_yy"]

    def standard_grid(self):
        return {"x": np.linspace(0.0, 1.0, 201), "y": np.linspace(0.0, 1.0, 21), "t": np.linspace(0.0, 5.0, 21)}

    def reference(self, grid):
        x, y, t = np.meshgrid(grid["x"], grid["y"], grid["t"], indexing="ij")
        k1, k2 = self.coefficients["k1"], self.coefficients["k2"]
        rate = (20 * np.pi) ** 2 * k1 + np.pi**2 * k2
        return np.sin(20 * np.pi * x) * np.sin(np.pi * y) * np.exp(-rate * t)
