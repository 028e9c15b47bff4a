"""A fourth-order problem with a manufactured solution: a clamped Euler-Bernoulli beam,
written as a user writes it (its conditions, no exact form, no residual scale).

u_tt + k u_xxxx = f on [0, 1] x [0, 1], clamped ends u = u_x = 0 at x = 0, 1,
u(x, 0) = sin(pi x)^2, u_t(x, 0) = 0; f chosen so that u = sin(pi x)^2 cos(pi t).
"""

import numpy as np
import torch

from equations import Coefficient, DirichletCondition, Equation


class ClampedBeam(Equation):
    name = "clamped-beam"
    summary = "u_tt + k u_xxxx = f; x, t in [0, 1]; u = u_x = 0 at x = 0, 1; u(x,0) = sin(pi x)^2, u_t(x,0) = 0"
    inputs = ("x", "t")
    coefficient_specs = (Coefficient("k", 1.0, 0.0, 10.0, "the bending stiffness k in (0, 10)"),)
    derivatives = ("u_tt", "u_xxxx")
    example_targets = "k=0.5;k=2"
    domain = property(lambda self: {"x": (0.0, 1.0), "t": (0.0, 1.0)})

    def conditions(self):
        zero = lambda p: 0 * p[:, :1]
        return [
            DirichletCondition("initial", on="t", at=(0.0,), fields=("u", "u_t"),
                               value=lambda p: torch.cat([torch.sin(torch.pi * p[:, :1]) ** 2, zero(p)], 1)),
            DirichletCondition("clamped", on="x", at=(0.0, 1.0), value=lambda p: torch.cat([zero(p), zero(p)], 1),
                               fields=("u", "u_x")),
        ]

    def residual(self, f):
        x, t, k = f["x"], f["t"], self.coefficients["k"]
        # u = (1 - cos 2 pi x) / 2 cos(pi t): u_tt = -pi^2 u, u_xxxx = -8 pi^4 cos(2 pi x) cos(pi t)
        source = torch.cos(torch.pi * t) * (-torch.pi**2 * torch.sin(torch.pi * x) ** 2
                                            - 8 * k * torch.pi**4 * torch.cos(2 * torch.pi * x))
        return f["u_tt"] + k * f["u_xxxx"] - source

    def standard_grid(self):
        return {"x": np.linspace(0.0, 1.0, 101), "t": np.linspace(0.0, 1.0, 101)}

    def reference(self, grid):
        """The manufactured solution (the source carries k, so it holds for every k)."""
        x, t = np.meshgrid(grid["x"], grid["t"], indexing="ij")
        return np.sin(np.pi * x) ** 2 * np.cos(np.pi * t)
