"""Reaction (Fisher's logistic growth without diffusion) and reaction-diffusion.

Both on x in [0, 2 pi), t in [0, 1], periodic in x, from the periodic Gaussian
u(0, x) = G(x - pi) + G(x + pi) + G(x - 3 pi), G(s) = exp(-s^2 / (2 (pi/4)^2)): the Gaussian
centred at pi plus its two nearest periodic images (the next ones are below 1e-31), so u(0, x)
is periodic with every derivative. The bare Gaussian is periodic in value only; its slope
jumps by 3.4e-3 across the seam, which a solution periodic in u_x cannot match.

* reaction: u_t = rho u (1 - u); exact reference u = h e^(rho t) / (h e^(rho t) + 1 - h).
* reaction-diffusion: u_t = nu u_xx + rho u (1 - u); reference by a Fourier
  pseudo-spectral method of lines integrated with scipy's Radau at tight tolerances.
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np
import torch
from scipy.integrate import solve_ivp

from .base import Coefficient, Grid
from .periodic import PeriodicInX

WIDTH = math.pi / 4


def gaussian(x):
    """The initial condition (the periodic Gaussian) on x in [0, 2 pi); numpy or torch."""
    exp = torch.exp if isinstance(x, torch.Tensor) else np.exp
    return sum(exp(-((x - centre) ** 2) / (2 * WIDTH**2)) for centre in (math.pi, -math.pi, 3 * math.pi))


class _PeriodicGaussianFamily(PeriodicInX):
    def initial(self, x: torch.Tensor) -> torch.Tensor:
        return gaussian(x)


RHO = Coefficient("rho", 5.0, 0.0, 50.0, "the growth rate rho in (0, 50)")


class Reaction(_PeriodicGaussianFamily):
    name = "reaction"
    summary = "u_t = rho u (1 - u); x in [0, 2 pi) periodic, t in [0, 1]; periodic Gaussian u(0, x)"
    coefficient_specs = (RHO,)
    derivatives = ("u_t",)
    example_targets = "rho=3,rho=7"

    def residual(self, fields: Mapping[str, torch.Tensor]) -> torch.Tensor:
        u = fields["u"]
        return fields["u_t"] - self.coefficients["rho"] * u * (1 - u)

    def reference(self, grid: Grid) -> np.ndarray:
        h = gaussian(np.asarray(grid["x"]))[:, None]
        growth = np.exp(self.coefficients["rho"] * np.asarray(grid["t"]))[None, :]
        return h * growth / (h * growth + 1 - h)


class ReactionDiffusion(_PeriodicGaussianFamily):
    name = "reaction-diffusion"
    summary = "u_t = nu u_xx + rho u (1 - u); x in [0, 2 pi) periodic, t in [0, 1]; periodic Gaussian u(0, x)"
    coefficient_specs = (Coefficient("nu", 3.0, 0.0, 20.0, "the diffusivity nu in (0, 20)"), RHO)
    derivatives = ("u_t", "u_xx")
    example_targets = "nu=2,rho=5;nu=4,rho=5"
    periodic_fields = ("u", "u_x")

    def residual(self, fields: Mapping[str, torch.Tensor]) -> torch.Tensor:
        u = fields["u"]
        nu, rho = self.coefficients["nu"], self.coefficients["rho"]
        return fields["u_t"] - nu * fields["u_xx"] - rho * u * (1 - u)

    def reference(self, grid: Grid, modes: int = 128) -> np.ndarray:
        return fourier_reaction_diffusion(
            self.coefficients["nu"], self.coefficients["rho"], np.asarray(grid["x"]),
            np.asarray(grid["t"]), modes,
        )


def fourier_reaction_diffusion(nu: float, rho: float, x: np.ndarray, t: np.ndarray, n: int) -> np.ndarray:
    """u[x, t] from n Fourier nodes on [0, 2 pi), integrated by Radau, then interpolated
    to the requested x by evaluating the Fourier series (smooth for t > 0)."""
    nodes = 2 * np.pi * np.arange(n) / n
    k = np.fft.fftfreq(n, d=1.0 / n)
    second = np.real(np.fft.ifft(-(k[:, None] ** 2) * np.fft.fft(np.eye(n), axis=0), axis=0))

    def rhs(_, u):
        return nu * (second @ u) + rho * u * (1 - u)

    def jacobian(_, u):
        return nu * second + np.diag(rho * (1 - 2 * u))

    solution = solve_ivp(rhs, (0.0, float(t.max())), gaussian(nodes), method="Radau", t_eval=t,
                         jac=jacobian, rtol=1e-12, atol=1e-13)
    if not solution.success:
        raise RuntimeError(f"reaction-diffusion reference failed: {solution.message}")
    coefficients = np.fft.fft(solution.y, axis=0) / n
    return np.real(np.exp(1j * np.outer(x, k)) @ coefficients)
