"""Convection: u_t + beta u_x = 0 on x in [0, 2 pi), t in [0, 1], periodic in x.

u(0, x) = sin x; the reference is the exact travelling wave sin(x - beta t). Plain PINNs
are known to fail here for beta of about 20 to 30 and above.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import torch

from .base import Coefficient, Grid
from .periodic import PeriodicInX


class Convection(PeriodicInX):
    name = "convection"
    summary = "u_t + beta u_x = 0; x in [0, 2 pi) periodic, t in [0, 1]; u(0, x) = sin x"
    coefficient_specs = (Coefficient("beta", 10.0, 0.0, 100.0, "the wave speed beta in (0, 100)"),)
    derivatives = ("u_t", "u_x")
    example_targets = "beta=5,beta=15"

    def initial(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(x)

    def residual(self, fields: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return fields["u_t"] + self.coefficients["beta"] * fields["u_x"]

    def reference(self, grid: Grid) -> np.ndarray:
        x, t = np.asarray(grid["x"])[:, None], np.asarray(grid["t"])[None, :]
        return np.sin(x - self.coefficients["beta"] * t)
