"""Every registered family: validated reference, vanishing residual, conditions, training."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

import equations
from equations import CoefficientError, DirichletCondition, PeriodicCondition, create
from pinn_pac.solver.posing import Posing
from pinn_pac.cli.jobs import format_table
from pinn_pac.runs import Settings, TransferSettings, build_network, save_solve, solve, transfer
from pinn_pac.solver.train import Budget

FAMILIES = sorted(equations.FAMILIES)


def test_the_ten_families_are_registered():
    assert FAMILIES == sorted([
        "burgers", "diffusion", "convection", "reaction", "reaction-diffusion", "allen-cahn",
        "helmholtz", "oscillator", "van-der-pol", "lotka-volterra",
    ])
    assert equations.family("allen_cahn") is equations.AllenCahn


def test_unknown_family_lists_the_known_ones():
    with pytest.raises(equations.UnknownEquationError, match="available: allen-cahn, burgers"):
        equations.family("heat-death")


@pytest.mark.parametrize("name", FAMILIES)
def test_coefficients_outside_their_range_are_refused(name):
    family = equations.family(name)
    for spec in family.coefficient_specs:
        for bad in (spec.low, spec.high, float("nan")):
            with pytest.raises(CoefficientError, match=spec.name):
                family(**{spec.name: bad})


def _stencil_residual(equation, h_fraction: float) -> float:
    """RMS of the residual of the reference by central differences, relative to the RMS of
    its largest derivative term, at a few interior points."""
    axes, centres, steps = {}, {}, {}
    for name in equation.inputs:
        low, high = equation.domain[name]
        h = h_fraction * (high - low)
        centre = low + (high - low) * np.array([0.3, 0.55, 0.8])
        centres[name], steps[name] = centre, h
        axes[name] = np.sort(np.concatenate([centre - h, centre, centre + h]))
    u = np.asarray(equation.reference(axes))
    if u.ndim == len(equation.inputs):
        u = u[..., None]
    index = {n: np.searchsorted(axes[n], centres[n]) for n in equation.inputs}
    mesh = np.meshgrid(*[index[n] for n in equation.inputs], indexing="ij")
    centre_index = tuple(m.ravel() for m in mesh)

    def shifted(axis: int, offset: int) -> np.ndarray:
        position = list(centre_index)
        position[axis] = position[axis] + offset
        return u[tuple(position)]

    fields = {name: torch.tensor(u[centre_index][:, k : k + 1]) for k, name in enumerate(equation.outputs)}
    for k, name in enumerate(equation.inputs):
        values = axes[name][centre_index[k]]
        fields[name] = torch.tensor(values[:, None])
    for derivative in equation.derivatives:
        output, _, letters = derivative.partition("_")
        k = equation.outputs.index(output)
        axis = equation.inputs.index(letters[0])
        h = steps[letters[0]]
        if len(letters) == 1:
            value = (shifted(axis, 1) - shifted(axis, -1))[:, k] / (2 * h)
        else:
            value = (shifted(axis, 1) - 2 * shifted(axis, 0) + shifted(axis, -1))[:, k] / h**2
        fields[derivative] = torch.tensor(value[:, None])
    residual = equation.residual(fields).numpy()
    scale = max(np.sqrt(np.mean(fields[d].numpy() ** 2)) for d in equation.derivatives)
    return float(np.sqrt(np.mean(residual**2)) / scale)


@pytest.mark.parametrize("name", FAMILIES)
def test_reference_residual_vanishes_at_second_order(name):
    equation = create(name)
    coarse, fine = _stencil_residual(equation, 4e-3), _stencil_residual(equation, 2e-3)
    assert fine < 1e-3, (coarse, fine)
    assert 3.0 < coarse / fine < 5.0, (coarse, fine)


def _face_grid(equation, axis_name: str, values) -> dict:
    grid = {n: np.linspace(*equation.domain[n], 41) for n in equation.inputs}
    grid[axis_name] = np.asarray(values, dtype=float)
    return grid


@pytest.mark.parametrize("name", FAMILIES)
def test_reference_meets_the_conditions(name):
    check_conditions(create(name))


def check_conditions(equation) -> None:
    for condition in equation.conditions():
        if isinstance(condition, PeriodicCondition):
            low, high = equation.domain[condition.on]
            u = equation.reference(_face_grid(equation, condition.on, [low, high]))
            axis = equation.inputs.index(condition.on)
            np.testing.assert_allclose(np.take(u, 0, axis), np.take(u, 1, axis), atol=1e-9)
            continue
        assert isinstance(condition, DirichletCondition)
        for at in condition.at:
            h = 1e-4 * (equation.domain[condition.on][1] - equation.domain[condition.on][0])
            side = 1.0 if at == equation.domain[condition.on][0] else -1.0
            grid = _face_grid(equation, condition.on, [at, at + side * h, at + 2 * side * h])
            u = np.asarray(equation.reference(grid))
            u = u[..., None] if u.ndim == len(equation.inputs) else u
            axis = equation.inputs.index(condition.on)
            mesh = np.meshgrid(*[grid[n] for n in equation.inputs], indexing="ij")
            face = tuple(slice(None) if n != condition.on else 0 for n in equation.inputs)
            points = torch.tensor(np.stack([m[face].ravel() for m in mesh], axis=1))
            expected = condition.value(points).numpy()
            for k, field in enumerate(condition.fields):
                output = equation.outputs.index(field.split("_")[0])
                values = np.take(u[..., output], [0, 1, 2], axis)
                if "_" in field:  # a first derivative at the face: one-sided, second order
                    got = side * (-3 * np.take(values, 0, axis) + 4 * np.take(values, 1, axis)
                                  - np.take(values, 2, axis)) / (2 * h)
                    tolerance = 1e-5 * max(1.0, np.abs(got).max())
                else:
                    got = np.take(values, 0, axis)
                    tolerance = 1e-9
                np.testing.assert_allclose(got.ravel(), expected[:, k], atol=tolerance)


def _tight(rhs, start, t, method="DOP853"):
    solution = solve_ivp(rhs, (0, t[-1]), start, method=method, t_eval=t, rtol=1e-13, atol=1e-13)
    return solution.y


def test_oscillator_matches_a_numerical_solve():
    equation = create("oscillator")
    t = equation.standard_grid()["t"]
    zeta, omega = equation.coefficients["zeta"], equation.coefficients["omega"]
    numerical = _tight(lambda _, s: [s[1], -2 * zeta * omega * s[1] - omega**2 * s[0]], [1.0, 0.0], t)[0]
    exact = equation.reference({"t": t})
    assert np.linalg.norm(exact - numerical) / np.linalg.norm(numerical) < 1e-9


def test_reaction_matches_a_numerical_solve():
    equation = create("reaction")
    grid = {"x": np.linspace(0, 2 * np.pi, 9), "t": np.linspace(0, 1, 11)}
    rho = equation.coefficients["rho"]
    start = equation.reference({"x": grid["x"], "t": np.array([0.0])})[:, 0]
    numerical = _tight(lambda _, u: rho * u * (1 - u), start, grid["t"])
    exact = equation.reference(grid)
    assert np.linalg.norm(exact - numerical) / np.linalg.norm(numerical) < 1e-9


def test_diffusion_decays_each_mode_at_its_rate():
    equation = create("diffusion", kappa=0.1)
    x = np.linspace(0, 1, 257)[None, :]
    u = equation.reference({"x": x[0], "t": np.array([0.0, 0.5])})
    # project onto sin(pi x): the first mode's amplitude decays by exp(-kappa pi^2 t)
    amplitude = 2 * np.trapezoid(u.T * np.sin(np.pi * x), x[0], axis=1)
    assert amplitude[1] / amplitude[0] == pytest.approx(math.exp(-0.1 * math.pi**2 * 0.5), rel=1e-6)


@pytest.mark.parametrize("name", ["van-der-pol", "lotka-volterra"])
def test_ode_reference_matches_an_independent_integrator(name):
    equation = create(name)
    grid = equation.standard_grid()
    radau = equation.reference(grid)
    dop = equation.reference(grid, method="DOP853")
    assert np.linalg.norm(radau - dop) / np.linalg.norm(dop) < 1e-8


def test_lotka_volterra_conserves_its_invariant():
    equation = create("lotka-volterra")
    a, b, g, d = (equation.coefficients[n] for n in ("alpha", "beta", "gamma", "delta"))
    u, v = equation.reference(equation.standard_grid()).T
    invariant = d * u - g * np.log(u) + b * v - a * np.log(v)
    assert np.ptp(invariant) < 1e-9


def test_reaction_diffusion_reference_is_converged():
    equation = create("reaction-diffusion")
    grid = {"x": np.linspace(0, 2 * np.pi, 64, endpoint=False), "t": np.linspace(0, 1, 11)}
    coarse, fine = equation.reference(grid, modes=96), equation.reference(grid, modes=128)
    assert np.linalg.norm(coarse - fine) / np.linalg.norm(fine) < 1e-6


def test_reaction_diffusion_reference_matches_finite_differences():
    """An independent method: second-order periodic finite differences on 512 nodes, Radau."""
    from scipy.sparse import diags

    from equations.reaction import gaussian

    equation = create("reaction-diffusion")
    nu, rho = equation.coefficients["nu"], equation.coefficients["rho"]
    n = 512
    h = 2 * np.pi / n
    x, t = np.arange(n) * h, np.linspace(0, 1, 11)
    laplacian = diags([1.0, 1.0, -2.0, 1.0, 1.0], [-(n - 1), -1, 0, 1, n - 1], shape=(n, n)).tocsr() / h**2
    solution = solve_ivp(lambda _, u: nu * (laplacian @ u) + rho * u * (1 - u), (0, 1), gaussian(x), method="Radau",
                         t_eval=t, jac=lambda _, u: nu * laplacian + diags(rho * (1 - 2 * u)), rtol=1e-10, atol=1e-12)
    reference = equation.reference({"x": x[::8], "t": t})
    assert np.linalg.norm(solution.y[::8] - reference) / np.linalg.norm(reference) < 1e-5


def test_the_periodic_gaussian_is_periodic_with_its_slope():
    from equations.reaction import gaussian

    x = torch.tensor([0.0, 2 * math.pi], dtype=torch.float64, requires_grad=True)
    u = gaussian(x)
    (slope,) = torch.autograd.grad(u.sum(), x, create_graph=True)
    (curvature,) = torch.autograd.grad(slope.sum(), x)
    for values in (u, slope, curvature):
        assert abs(float(values[0] - values[1])) < 1e-15
    bare = torch.exp(-((x - math.pi) ** 2) / (2 * (math.pi / 4) ** 2))  # one image only
    (bare_slope,) = torch.autograd.grad(bare.sum(), x)
    assert float(bare_slope[0] - bare_slope[1]) == pytest.approx(3.4e-3, rel=0.02)


def test_allen_cahn_reference_is_converged():
    equation = create("allen-cahn")
    grid = {"x": np.linspace(-1, 1, 101), "t": np.linspace(0, 1, 11)}
    coarse, fine = equation.reference(grid, cells=500), equation.reference(grid, cells=1000)
    assert np.linalg.norm(coarse - fine) / np.linalg.norm(fine) < 1e-6


@pytest.mark.parametrize("name", FAMILIES)
def test_a_short_pinn_run_lowers_the_loss(name):
    settings = Settings(width=16, depth=2, n_interior=256, n_condition=32)
    run = solve(create(name), settings, Budget(adam_steps=100, iterations=50, adam_lr=5e-3), progress=False)
    assert run.history.loss[-1] < 0.8 * run.history.loss[0]
    assert math.isfinite(run.record.rel_l2)


def own_equation_family(folder: Path, without_reference: bool = False) -> str:
    """The own-equation page's logistic.py written to `folder` (its reference cut off if
    asked); the spec that names it."""
    from test_readme import OWN_EQUATION_PAGE, file_blocks

    source = file_blocks(OWN_EQUATION_PAGE)["logistic.py"]
    if without_reference:
        source = source[:source.index("    def reference(self, grid):")]
    (folder / "logistic.py").write_text(source)
    return f"{folder / 'logistic.py'}:Logistic"


def test_the_own_equation_example_passes_the_same_checks(tmp_path):
    """The own-equation page shows how to write a family; that code must pass the same checks."""
    equation = create(own_equation_family(tmp_path), r=2.5)
    check_conditions(equation)
    posing = Posing(equation, "exact")  # its exact form holds u(0) = 0.1 for any network
    assert posing.soft_conditions() == []
    network = build_network(equation, Settings(width=16, depth=2))
    with torch.no_grad():
        start = posing.predict(network, torch.zeros(3, 1, dtype=torch.float64))
    assert torch.allclose(start, torch.full((3, 1), 0.1, dtype=torch.float64), rtol=0, atol=1e-15)
    assert _stencil_residual(equation, 2e-3) < 1e-3
    run = solve(equation, Settings(width=16, depth=2, n_interior=128, n_condition=8),
                Budget(adam_steps=100, iterations=50), progress=False)
    assert run.record.rel_l2 < 0.05


def test_a_family_without_a_reference_trains_and_reports_its_error_unavailable(tmp_path):
    """The own-equation page's family with its reference taken out: it trains, its loss is recorded,
    its errors are unavailable (NaN in memory, null in results.json, n/a in tables)."""
    equation = create(own_equation_family(tmp_path, without_reference=True))
    assert not equation.has_reference and create("burgers").has_reference
    settings = Settings(width=16, depth=2, n_interior=128, n_condition=8, rad_every=0)
    run = solve(equation, settings, Budget(adam_steps=100, iterations=50), progress=False)
    assert run.history.loss[-1] < 0.1 * run.history.loss[0]
    assert math.isnan(run.record.rel_l2) and all(math.isnan(e) for e in run.history.rel_l2)
    save_solve(run, tmp_path / "run")
    (saved,) = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved["rel_l2"] is None and saved["max_abs_err"] is None
    assert " n/a " in format_table([run.record]) and (tmp_path / "run" / "solution.png").is_file()
    pac, = transfer(equation, [equation.with_coefficients(r=4.0)], settings,
                    TransferSettings(source=Budget(50, 20), allocate=Budget(0, 5), calibrate=Budget(0, 10)),
                    progress=False)
    assert [math.isnan(r.rel_l2) for r in pac.records] == [True, True]
    with pytest.raises(ValueError, match="declares no reference"):
        equation.reference(equation.standard_grid())
