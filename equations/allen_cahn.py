"""Allen-Cahn: u_t = d u_xx + r (u - u^3) on x in [-1, 1], t in [0, 1].

u(0, x) = x^2 cos(pi x), u(t, -1) = u(t, 1) = -1. The reference is a finite-difference
method of lines (scipy's Radau with a sparse Jacobian) on 1,000 and 2,000 cells combined by
Richardson extrapolation (fourth order in h), then a cubic spline in x. Chebyshev
collocation converged too slowly here: the interfaces are only ~0.02 wide.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import torch
from scipy.integrate import solve_ivp
import scipy.sparse as sparse
from scipy.interpolate import CubicSpline

from .base import Coefficient, DirichletCondition, Equation, ExactForm, Grid


class AllenCahn(Equation):
    name = "allen-cahn"
    summary = "u_t = d u_xx + r (u - u^3); x in [-1, 1], t in [0, 1]; u(0, x) = x^2 cos(pi x), u(t, +-1) = -1"
    inputs = ("x", "t")
    coefficient_specs = (
        Coefficient("d", 0.001, 0.0, 1.0, "the diffusion d in (0, 1)"),
        Coefficient("r", 5.0, 0.0, 50.0, "the reaction rate r in (0, 50)"),
    )
    derivatives = ("u_t", "u_xx")
    example_targets = "d=0.002;d=0.0005"

    @property
    def domain(self) -> dict[str, tuple[float, float]]:
        return {"x": (-1.0, 1.0), "t": (0.0, 1.0)}

    def conditions(self) -> list[DirichletCondition]:
        return [
            DirichletCondition("initial", on="t", at=(0.0,),
                               value=lambda p: p[:, :1] ** 2 * torch.cos(torch.pi * p[:, :1])),
            DirichletCondition("boundary", on="x", at=(-1.0, 1.0), value=lambda p: -torch.ones_like(p[:, :1])),
        ]

    def exact_form(self) -> ExactForm:
        """u = x^2 cos(pi x) + t (1 - x^2) N, the form of DeepXDE's Allen-Cahn example: the
        initial profile is -1 at both ends, so the boundary values hold too."""
        return ExactForm(offset=lambda p: p[:, :1] ** 2 * torch.cos(torch.pi * p[:, :1]),
                         factor=lambda p: p[:, 1:2] * (1 - p[:, :1] ** 2), imposes=("initial", "boundary"))

    def residual(self, fields: Mapping[str, torch.Tensor]) -> torch.Tensor:
        u = fields["u"]
        d, r = self.coefficients["d"], self.coefficients["r"]
        return fields["u_t"] - d * fields["u_xx"] - r * (u - u**3)

    def standard_grid(self) -> dict[str, np.ndarray]:
        return {"x": np.linspace(-1.0, 1.0, 201), "t": np.linspace(0.0, 1.0, 101)}

    def reference(self, grid: Grid, cells: int = 1000) -> np.ndarray:
        d, r = self.coefficients["d"], self.coefficients["r"]
        t = np.asarray(grid["t"])
        x, coarse = finite_difference_allen_cahn(d, r, t, cells)
        _, fine = finite_difference_allen_cahn(d, r, t, 2 * cells)
        extrapolated = (4.0 * fine[::2] - coarse) / 3.0
        return CubicSpline(x, extrapolated, axis=0)(np.asarray(grid["x"]))


def finite_difference_allen_cahn(d: float, r: float, t: np.ndarray, cells: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and u[node, t] from second-order central differences with u = -1 at both ends."""
    x = np.linspace(-1.0, 1.0, cells + 1)
    h = 2.0 / cells
    inner = cells - 1
    laplacian = sparse.diags(
        [np.ones(inner - 1), -2.0 * np.ones(inner), np.ones(inner - 1)], [-1, 0, 1], format="csc"
    ) / h**2
    boundary = np.zeros(inner)
    boundary[[0, -1]] = -1.0 / h**2  # the u = -1 end values entering the stencil

    def rhs(_, u):
        return d * (laplacian @ u + boundary) + r * (u - u**3)

    def jacobian(_, u):
        return (d * laplacian + sparse.diags(r * (1 - 3 * u**2))).tocsc()

    start = x[1:-1] ** 2 * np.cos(np.pi * x[1:-1])
    solution = solve_ivp(rhs, (0.0, float(t.max())), start, method="Radau", t_eval=t, jac=jacobian,
                         rtol=1e-10, atol=1e-12)
    if not solution.success:
        raise RuntimeError(f"Allen-Cahn reference failed: {solution.message}")
    ends = -np.ones((1, t.size))
    return x, np.vstack([ends, solution.y, ends])
