"""Viscous Burgers' equation: u_t + u u_x = nu u_xx on x in [-1, 1], t in [0, 1].

u(0, x) = -sin(pi x), u(t, -1) = u(t, 1) = 0. The reference is the Cole-Hopf solution,
whose integrals are evaluated with Gauss-Hermite quadrature (Basdevant et al., 1986).
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np
import torch
from scipy.special import roots_hermite

from .errors import InputError
from .base import Coefficient, DirichletCondition, Equation, ExactForm, Grid

#: Gauss-Hermite nodes: converged to round-off (<1e-15 change against 12,000 nodes) for
#: every nu >= 3e-4 on the standard grid; below that the shock is too steep for them.
QUADRATURE_NODES = 400
SMALLEST_REFERENCE_NU = 3e-4


class Burgers(Equation):
    name = "burgers"
    summary = "u_t + u u_x = nu u_xx; x in [-1, 1], t in [0, 1]; u(0, x) = -sin(pi x), u(t, +-1) = 0"
    inputs = ("x", "t")
    coefficient_specs = (
        Coefficient("nu", 0.01 / math.pi, 0.0, math.inf, "the viscosity nu > 0"),
    )
    derivatives = ("u_t", "u_x", "u_xx")
    example_targets = "nu=0.02/pi,nu=0.005/pi"

    @property
    def domain(self) -> dict[str, tuple[float, float]]:
        return {"x": (-1.0, 1.0), "t": (0.0, 1.0)}

    def conditions(self) -> list[DirichletCondition]:
        return [
            DirichletCondition(
                "initial", on="t", at=(0.0,), value=lambda p: -torch.sin(math.pi * p[:, :1])
            ),
            DirichletCondition(
                "boundary", on="x", at=(-1.0, 1.0), value=lambda p: torch.zeros_like(p[:, :1])
            ),
        ]

    def exact_form(self) -> ExactForm:
        """u = -sin(pi x) + t (1 - x^2) N: the initial and both boundary values hold exactly."""
        return ExactForm(
            offset=lambda p: -torch.sin(math.pi * p[:, :1]),
            factor=lambda p: p[:, 1:2] * (1 - p[:, :1].square()),
            imposes=("initial", "boundary"),
        )

    def residual(self, fields: Mapping[str, torch.Tensor]) -> torch.Tensor:
        u = fields["u"]
        return fields["u_t"] + u * fields["u_x"] - self.coefficients["nu"] * fields["u_xx"]

    def standard_grid(self) -> dict[str, np.ndarray]:
        return {"x": np.linspace(-1.0, 1.0, 256), "t": np.linspace(0.0, 0.99, 100)}

    def reference(self, grid: Grid) -> np.ndarray:
        return cole_hopf_solution(self.coefficients["nu"], grid["x"], grid["t"])


def cole_hopf_solution(
    nu: float, x: np.ndarray, t: np.ndarray, nodes: int = QUADRATURE_NODES
) -> np.ndarray:
    """Burgers' solution u[x, t] for u(0, x) = -sin(pi x) by the Cole-Hopf transform.

    u = -int sin(pi (x - eta)) f(x - eta) G(eta) d eta / int f(x - eta) G(eta) d eta with
    f(y) = exp(-cos(pi y) / (2 pi nu)) and G the heat kernel; eta = 2 sqrt(nu t) z turns
    both integrals into Gauss-Hermite form. Sums are taken in log space so nothing
    overflows even where f spans hundreds of orders of magnitude.
    """
    if nu < SMALLEST_REFERENCE_NU:
        raise InputError(
            f"the Cole-Hopf reference is only supported for nu >= {SMALLEST_REFERENCE_NU:g}, "
            f"got nu={nu:g}"
        )
    x = np.asarray(x, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    z, w = roots_hermite(nodes)
    with np.errstate(divide="ignore"):
        log_w = np.log(w)
    keep = np.isfinite(log_w)
    z, log_w = z[keep], log_w[keep]

    u = np.empty((x.size, t.size))
    for j, tj in enumerate(t):
        if tj == 0.0:
            u[:, j] = -np.sin(np.pi * x)
            continue
        y = x[:, None] - 2.0 * math.sqrt(nu * tj) * z[None, :]
        log_terms = log_w[None, :] - np.cos(np.pi * y) / (2.0 * np.pi * nu)
        terms = np.exp(log_terms - log_terms.max(axis=1, keepdims=True))
        u[:, j] = -(np.sin(np.pi * y) * terms).sum(axis=1) / terms.sum(axis=1)
    return u
