"""The Burgers reference: against an independent spectral solve, converged, residual-free."""

import math

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from equations import CoefficientError, create
from equations.burgers import cole_hopf_solution


def spectral_burgers(nu: float, n: int, t_eval: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fourier pseudo-spectral method of lines with a stiff solver.

    u(0, x) = -sin(pi x) is odd and 2-periodic, and Burgers' equation keeps it so, so the
    periodic solution on [-1, 1) also meets u(t, +-1) = 0.
    """
    x = -1.0 + 2.0 * np.arange(n) / n
    k = np.fft.fftfreq(n, d=2.0 / n) * 2.0 * np.pi
    identity = np.eye(n)
    d1 = np.real(np.fft.ifft(1j * k[:, None] * np.fft.fft(identity, axis=0), axis=0))
    d2 = np.real(np.fft.ifft(-(k[:, None] ** 2) * np.fft.fft(identity, axis=0), axis=0))

    def rhs(_, u):
        return -u * (d1 @ u) + nu * (d2 @ u)

    def jacobian(_, u):
        return -np.diag(d1 @ u) - u[:, None] * d1 + nu * d2

    solution = solve_ivp(rhs, (0.0, t_eval[-1]), -np.sin(np.pi * x), method="Radau",
                         t_eval=t_eval, jac=jacobian, rtol=1e-11, atol=1e-13)
    assert solution.success
    return x, solution.y


@pytest.mark.parametrize("nu", [0.05 / math.pi, 0.2 / math.pi])
def test_cole_hopf_matches_independent_spectral_solve(nu):
    t = np.array([0.25, 0.5, 0.99])
    x, spectral = spectral_burgers(nu, 256, t)
    quadrature = cole_hopf_solution(nu, x, t)
    assert np.linalg.norm(quadrature - spectral) / np.linalg.norm(spectral) < 1e-8


@pytest.mark.parametrize("nu", [0.002 / math.pi, 0.01 / math.pi, 0.2 / math.pi])
def test_quadrature_is_converged_over_the_supported_range(nu):
    grid = create("burgers").standard_grid()
    coarse = cole_hopf_solution(nu, grid["x"], grid["t"])
    fine = cole_hopf_solution(nu, grid["x"], grid["t"], nodes=1600)
    assert np.linalg.norm(coarse - fine) / np.linalg.norm(fine) < 1e-12


def test_reference_residual_vanishes_at_second_order():
    """Central differences of the reference: the residual falls ~4x per halving of h."""
    equation = create("burgers", nu=0.05 / math.pi)
    residuals = []
    for h in (2e-3, 1e-3):
        x = np.arange(-0.9, 0.9 + h / 2, h)
        t = np.array([0.3 - h, 0.3, 0.3 + h, 0.7 - h, 0.7, 0.7 + h])
        u = equation.reference({"x": x, "t": t})
        fields = {}
        for centre in (1, 4):
            u_t = (u[1:-1, centre + 1] - u[1:-1, centre - 1]) / (2 * h)
            u_x = (u[2:, centre] - u[:-2, centre]) / (2 * h)
            u_xx = (u[2:, centre] - 2 * u[1:-1, centre] + u[:-2, centre]) / h**2
            fields.setdefault("u", []).append(u[1:-1, centre])
            for name, value in (("u_t", u_t), ("u_x", u_x), ("u_xx", u_xx)):
                fields.setdefault(name, []).append(value)
        tensors = {k: torch.tensor(np.concatenate(v)) for k, v in fields.items()}
        residual = equation.residual(tensors).numpy()
        residuals.append(np.sqrt(np.mean(residual**2)) / np.sqrt(np.mean(tensors["u_t"].numpy() ** 2)))
    assert residuals[1] < 5e-4
    assert 3.5 < residuals[0] / residuals[1] < 4.5


def test_reference_meets_initial_and_boundary_conditions():
    equation = create("burgers")
    x = np.linspace(-1, 1, 101)
    t = np.linspace(0, 1, 51)
    u = equation.reference({"x": x, "t": t})
    np.testing.assert_allclose(u[:, 0], -np.sin(np.pi * x), atol=1e-15)
    assert np.abs(u[[0, -1], :]).max() < 1e-12


def test_condition_callables_match_the_reference():
    equation = create("burgers")
    by_name = {c.name: c for c in equation.conditions()}
    points = torch.tensor([[0.3, 0.0], [-0.7, 0.0]], dtype=torch.float64)
    np.testing.assert_allclose(by_name["initial"].value(points).numpy().ravel(), -np.sin(np.pi * points[:, 0].numpy()))
    assert by_name["boundary"].at == (-1.0, 1.0)


@pytest.mark.parametrize("nu", [0.0, -0.01, float("nan"), float("inf")])
def test_invalid_viscosity_is_refused(nu):
    with pytest.raises(CoefficientError, match="nu"):
        create("burgers", nu=nu)


def test_unknown_coefficient_is_refused():
    with pytest.raises(CoefficientError, match="no coefficient rho"):
        create("burgers", rho=1.0)


def test_reference_refuses_viscosity_below_its_supported_range():
    with pytest.raises(ValueError, match="only supported"):
        create("burgers", nu=1e-5).reference(create("burgers").standard_grid())
