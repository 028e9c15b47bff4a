"""The Korteweg-de Vries equation as Raissi, Perdikaris and Karniadakis (2019, section 4.2) pose
it, written as a user writes it: its conditions, no exact form, no residual scale.

u_t + l1 u u_x + l2 u_xxx = 0 on x in [-1, 1], t in [0, 1], l1 = 1, l2 = 0.0025;
u(x, 0) = cos(pi x), periodic in x. Reference: Fourier pseudo-spectral in x (512 modes, 2/3
dealiasing) with the dispersive term integrated exactly (an integrating factor) and the rest by
scipy's DOP853 at rtol 1e-10 (`kdv_spectral`; tests/test_problem_references.py checks it
against a travelling soliton).
"""

import numpy as np
import torch
from scipy.integrate import solve_ivp

from equations import Coefficient, DirichletCondition, Equation, PeriodicCondition

MODES = 512


def kdv_spectral(u0: np.ndarray, length: float, l1: float, l2: float, times: np.ndarray) -> np.ndarray:
    """u at `times` (rows) on the periodic grid of u0's points (columns), starting from u0 at
    t = 0, for u_t + l1 u u_x + l2 u_xxx = 0 on a periodic interval of `length`."""
    n = len(u0)
    k = 2 * np.pi * np.fft.rfftfreq(n, d=length / n)
    keep = np.abs(k) < (2 / 3) * k.max()  # 2/3 rule
    dispersion = 1j * l2 * k**3  # u_xxx -> (ik)^3 = -i k^3, moved to the right-hand side

    def rhs(t, state):
        v = state[: len(k)] + 1j * state[len(k) :]
        u_hat = v * np.exp(dispersion * t)
        u = np.fft.irfft(u_hat, n)
        nonlinear = -0.5j * l1 * k * np.fft.rfft(u * u) * keep
        dv = nonlinear * np.exp(-dispersion * t)
        return np.concatenate([dv.real, dv.imag])

    v0 = np.fft.rfft(u0)
    solution = solve_ivp(rhs, (0.0, float(times[-1])), np.concatenate([v0.real, v0.imag]), method="DOP853",
                         t_eval=times, rtol=1e-10, atol=1e-12)
    v = solution.y[: len(k)] + 1j * solution.y[len(k) :]
    return np.stack([np.fft.irfft(v[:, j] * np.exp(dispersion * t), n) for j, t in enumerate(solution.t)])


class KdV(Equation):
    name = "kdv"
    summary = "u_t + l1 u u_x + l2 u_xxx = 0; x in [-1, 1] periodic, t in [0, 1]; u(x, 0) = cos(pi x)"
    inputs = ("x", "t")
    coefficient_specs = (
        Coefficient("l1", 1.0, 0.0, 5.0, "the nonlinear coefficient l1 in (0, 5)"),
        Coefficient("l2", 0.0025, 0.0, 0.1, "the dispersion l2 in (0, 0.1)"),
    )
    derivatives = ("u_t", "u_x", "u_xxx")
    example_targets = "l2=0.002;l2=0.003"
    domain = property(lambda self: {"x": (-1.0, 1.0), "t": (0.0, 1.0)})

    def conditions(self):
        return [
            DirichletCondition("initial", on="t", at=(0.0,), value=lambda p: torch.cos(torch.pi * p[:, :1])),
            PeriodicCondition("periodic", on="x"),
        ]

    def residual(self, f):
        return f["u_t"] + self.coefficients["l1"] * f["u"] * f["u_x"] + self.coefficients["l2"] * f["u_xxx"]

    def standard_grid(self):
        return {"x": np.linspace(-1.0, 1.0, 256, endpoint=False), "t": np.linspace(0.0, 1.0, 101)}

    def reference(self, grid):
        x, t = np.asarray(grid["x"]), np.asarray(grid["t"])
        fine = np.linspace(-1.0, 1.0, MODES, endpoint=False)
        u = kdv_spectral(np.cos(np.pi * fine), 2.0, self.coefficients["l1"], self.coefficients["l2"], t)
        # Trigonometric interpolation of each time's modes at the grid's x.
        u_hat = np.fft.rfft(u, axis=1) / MODES
        m = np.arange(u_hat.shape[1])
        phase = np.exp(1j * np.pi * np.outer(x + 1.0, m))  # modes in x + 1 (the grid starts at -1)
        weights = np.where((m == 0) | (m == MODES // 2), 1.0, 2.0)
        return np.real(phase @ (u_hat * weights).T)
