"""Ordinary differential equations in t: damped oscillator, Van der Pol, Lotka-Volterra."""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np
import torch
from scipy.integrate import solve_ivp

from .base import Coefficient, DirichletCondition, Equation, ExactForm, Grid


class _ODE(Equation):
    inputs = ("t",)
    end_time: float = 1.0

    @property
    def domain(self) -> dict[str, tuple[float, float]]:
        return {"t": (0.0, self.end_time)}

    def standard_grid(self) -> dict[str, np.ndarray]:
        return {"t": np.linspace(0.0, self.end_time, 201)}


def _constant(*values: float):
    return lambda points: torch.tensor([values], dtype=points.dtype, device=points.device).expand(len(points), -1)


def _start_at_rest(position: float) -> list[DirichletCondition]:
    """u(0) = position and u'(0) = 0, for second-order ODEs."""
    return [DirichletCondition("initial value", on="t", at=(0.0,), value=_constant(position)),
            DirichletCondition("initial velocity", on="t", at=(0.0,), value=_constant(0.0), fields=("u_t",))]


def _at_rest_form(position: float) -> ExactForm:
    """u = position + t^2 N: u(0) = position and u'(0) = 0 for any N."""
    return ExactForm(offset=_constant(position), factor=lambda p: p[:, :1].square(),
                     imposes=("initial value", "initial velocity"))


class Oscillator(_ODE):
    """Damped harmonic oscillator u'' + 2 zeta omega u' + omega^2 u = 0, u(0) = 1, u'(0) = 0,
    underdamped (0 < zeta < 1); exact reference."""

    name = "oscillator"
    summary = "u'' + 2 zeta omega u' + omega^2 u = 0; t in [0, 1]; u(0) = 1, u'(0) = 0"
    coefficient_specs = (
        Coefficient("zeta", 0.1, 0.0, 1.0, "the damping ratio zeta in (0, 1)"),
        Coefficient("omega", 20.0, 0.0, 100.0, "the natural frequency omega in (0, 100)"),
    )
    derivatives = ("u_t", "u_tt")
    example_targets = "zeta=0.05;zeta=0.2"

    def conditions(self) -> list[DirichletCondition]:
        return _start_at_rest(1.0)

    def exact_form(self) -> ExactForm:
        return _at_rest_form(1.0)

    def residual(self, fields: Mapping[str, torch.Tensor]) -> torch.Tensor:
        zeta, omega = self.coefficients["zeta"], self.coefficients["omega"]
        return fields["u_tt"] + 2 * zeta * omega * fields["u_t"] + omega**2 * fields["u"]

    @property
    def residual_scale(self) -> float:
        """1 / omega^2: the residual is about omega^2 times the state, which would otherwise
        make u = 0 the loss's easiest minimum."""
        return 1.0 / self.coefficients["omega"] ** 2

    def reference(self, grid: Grid) -> np.ndarray:
        zeta, omega = self.coefficients["zeta"], self.coefficients["omega"]
        t = np.asarray(grid["t"])
        damped = omega * math.sqrt(1 - zeta**2)
        return np.exp(-zeta * omega * t) * (np.cos(damped * t) + zeta * omega / damped * np.sin(damped * t))


class VanDerPol(_ODE):
    """Van der Pol u'' - mu (1 - u^2) u' + u = 0, u(0) = 2, u'(0) = 0, t in [0, 5];
    reference by scipy's Radau at rtol 1e-12."""

    name = "van-der-pol"
    summary = "u'' - mu (1 - u^2) u' + u = 0; t in [0, 5]; u(0) = 2, u'(0) = 0"
    end_time = 5.0
    coefficient_specs = (Coefficient("mu", 1.0, 0.0, 10.0, "the nonlinear damping mu in (0, 10)"),)
    derivatives = ("u_t", "u_tt")
    example_targets = "mu=0.5;mu=2"

    def conditions(self) -> list[DirichletCondition]:
        return _start_at_rest(2.0)

    def exact_form(self) -> ExactForm:
        return _at_rest_form(2.0)

    def residual(self, fields: Mapping[str, torch.Tensor]) -> torch.Tensor:
        u, u_t = fields["u"], fields["u_t"]
        return fields["u_tt"] - self.coefficients["mu"] * (1 - u**2) * u_t + u

    def reference(self, grid: Grid, method: str = "Radau") -> np.ndarray:
        mu = self.coefficients["mu"]

        def rhs(_, state):
            u, v = state
            return [v, mu * (1 - u**2) * v - u]

        def jacobian(_, state):
            u, v = state
            return [[0.0, 1.0], [-2 * mu * u * v - 1.0, mu * (1 - u**2)]]

        return _integrate(rhs, [2.0, 0.0], np.asarray(grid["t"]), method, jacobian)[0]


class LotkaVolterra(_ODE):
    """Lotka-Volterra u' = alpha u - beta u v, v' = delta u v - gamma v, u(0) = v(0) = 1,
    t in [0, 5]; reference by scipy's Radau at rtol 1e-12."""

    name = "lotka-volterra"
    summary = "u' = alpha u - beta u v, v' = delta u v - gamma v; t in [0, 5]; u(0) = v(0) = 1"
    end_time = 5.0
    outputs = ("u", "v")
    coefficient_specs = (
        Coefficient("alpha", 2 / 3, 0.0, 10.0, "the prey growth alpha in (0, 10)"),
        Coefficient("beta", 4 / 3, 0.0, 10.0, "the predation rate beta in (0, 10)"),
        Coefficient("gamma", 1.0, 0.0, 10.0, "the predator death rate gamma in (0, 10)"),
        Coefficient("delta", 1.0, 0.0, 10.0, "the predator growth delta in (0, 10)"),
    )
    derivatives = ("u_t", "v_t")
    example_targets = "alpha=0.5;alpha=0.8"

    def conditions(self) -> list[DirichletCondition]:
        return [DirichletCondition("initial", on="t", at=(0.0,), value=_constant(1.0, 1.0), fields=("u", "v"))]

    def exact_form(self) -> ExactForm:
        """u = 1 + t N_u, v = 1 + t N_v."""
        return ExactForm(offset=_constant(1.0, 1.0), factor=lambda p: p[:, :1], imposes=("initial",))

    def residual(self, fields: Mapping[str, torch.Tensor]) -> torch.Tensor:
        a, b, g, d = (self.coefficients[n] for n in ("alpha", "beta", "gamma", "delta"))
        u, v = fields["u"], fields["v"]
        return torch.cat([fields["u_t"] - (a * u - b * u * v), fields["v_t"] - (d * u * v - g * v)], dim=1)

    def rhs(self, _, state):
        a, b, g, d = (self.coefficients[n] for n in ("alpha", "beta", "gamma", "delta"))
        u, v = state
        return [a * u - b * u * v, d * u * v - g * v]

    def reference(self, grid: Grid, method: str = "Radau") -> np.ndarray:
        return _integrate(self.rhs, [1.0, 1.0], np.asarray(grid["t"]), method).T


def _integrate(rhs, start, t: np.ndarray, method: str, jacobian=None) -> np.ndarray:
    options = {"jac": jacobian} if jacobian is not None and method in ("Radau", "BDF", "LSODA") else {}
    solution = solve_ivp(rhs, (0.0, float(t.max())), start, method=method, t_eval=t,
                         rtol=1e-12, atol=1e-12, **options)
    if not solution.success:
        raise RuntimeError(f"reference integration failed: {solution.message}")
    return solution.y
