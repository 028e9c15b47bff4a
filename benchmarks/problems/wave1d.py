"""PINNacle's Wave1d-C (Hao et al. 2024, `src/pde/wave.py`, Wave1D with C = 2, a = 4) written as a
user writes it: the conditions its source states, no exact form, no residual scale.

u_tt = C^2 u_xx on [0, 1] x [0, 1]; u(x, 0) = sin(pi x) + 0.5 sin(4 pi x), u_t(x, 0) = 0,
u(0, t) = u(1, t) = 0. Analytic: u = sin(pi x) cos(C pi t) + 0.5 sin(4 pi x) cos(4 C pi t).
"""

import numpy as np
import torch

from equations import Coefficient, DirichletCondition, Equation


class Wave1D(Equation):
    name = "wave1d"
    summary = "u_tt = C^2 u_xx; x, t in [0, 1]; u(x,0) = sin(pi x) + 0.5 sin(4 pi x), u_t(x,0) = 0, u = 0 at x = 0, 1"
    inputs = ("x", "t")
    coefficient_specs = (Coefficient("C", 2.0, 0.0, 10.0, "the wave speed C in (0, 10)"),)
    derivatives = ("u_tt", "u_xx")
    example_targets = "C=1.5;C=2.5"
    domain = property(lambda self: {"x": (0.0, 1.0), "t": (0.0, 1.0)})

    def conditions(self):
        def initial(p):
            x = p[:, :1]
            return torch.sin(torch.pi * x) + 0.5 * torch.sin(4 * torch.pi * x)

        return [
            DirichletCondition("initial value", on="t", at=(0.0,), value=initial),
            DirichletCondition("initial velocity", on="t", at=(0.0,), value=lambda p: 0 * p[:, :1], fields=("u_t",)),
            DirichletCondition("ends", on="x", at=(0.0, 1.0), value=lambda p: 0 * p[:, :1]),
        ]

    def residual(self, f):
        return f["u_tt"] - self.coefficients["C"] ** 2 * f["u_xx"]

    def standard_grid(self):
        return {"x": np.linspace(0.0, 1.0, 101), "t": np.linspace(0.0, 1.0, 101)}

    def reference(self, grid):
        x, t = np.meshgrid(grid["x"], grid["t"], indexing="ij")
        c = self.coefficients["C"]
        return np.sin(np.pi * x) * np.cos(c * np.pi * t) + 0.5 * np.sin(4 * np.pi * x) * np.cos(4 * c * np.pi * t)
