"""PINNacle's PNd (Hao et al. 2024, `src/pde/poisson.py`, PoissonND with d = 5) written as a user
writes it: the conditions its source states, no exact form, no residual scale.

-laplace(u) = (pi^2 / 4) sum_i sin(pi x_i / 2) on [0, 1]^5, u = sum_i sin(pi x_i / 2) on the
boundary. Analytic: u = sum_i sin(pi x_i / 2). Inputs x1..x5 (names of two characters).
"""

import numpy as np
import torch

from equations import Coefficient, DirichletCondition, Equation

NAMES = ("x1", "x2", "x3", "x4", "x5")


def exact(p):
    return torch.sin(torch.pi * p / 2).sum(dim=1, keepdim=True)


class PoissonND(Equation):
    name = "poisson-5d"
    summary = "-laplace(u) = (pi^2/4) sum sin(pi x_i/2) on [0,1]^5; u = sum sin(pi x_i/2) on the boundary"
    inputs = NAMES
    coefficient_specs = (Coefficient("a", 1.0, 0.0, 10.0, "the source's amplitude a in (0, 10)"),)
    derivatives = tuple(f"u_{n}_{n}" for n in NAMES)
    example_targets = "a=0.5;a=2"
    domain = property(lambda self: {n: (0.0, 1.0) for n in NAMES})

    def conditions(self):
        a = self.coefficients["a"]
        return [DirichletCondition(f"faces {n}", on=n, at=(0.0, 1.0), value=lambda p: a * exact(p)) for n in NAMES]

    def residual(self, f):
        a = self.coefficients["a"]
        x = torch.cat([f[n] for n in NAMES], dim=1)
        laplacian = sum(f[f"u_{n}_{n}"] for n in NAMES)
        return -laplacian - a * (torch.pi**2 / 4) * torch.sin(torch.pi * x / 2).sum(dim=1, keepdim=True)

    def standard_grid(self):
        return {n: np.linspace(0.0, 1.0, 9) for n in NAMES}

    def reference(self, grid):
        axes = np.meshgrid(*(grid[n] for n in NAMES), indexing="ij")
        return self.coefficients["a"] * sum(np.sin(np.pi * x / 2) for x in axes)
