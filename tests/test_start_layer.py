"""The start layer: the half-space solution that boundary data disagreeing with the initial data
start, found where they disagree and only there, and built into the form's offset."""

from dataclasses import asdict

import numpy as np
import pytest
import torch

from equations import BoundaryCondition, Coefficient, DirichletCondition, Disk, Equation, Rectangle, Region
from pinn_pac.runs import Settings
from pinn_pac.solver.built_form import build_exact_form
from pinn_pac.solver.posing import Posing
from pinn_pac.solver.start_layer import diffusivity, half_space


class WarmRim(Equation):
    """u_t = kappa laplace(u) on a plate with a hole over t in [0, 2]: u0 = 0, du/dn + alpha u = g
    on the hole's rim (Robin, or Neumann with alpha 0), u = 0 on the plate's sides (soft or built)."""

    name = "warm-rim"
    summary = "u_t = kappa laplace(u) on a plate with a hole; u0 = 0; du/dn + alpha u = g on the rim"
    inputs = ("x", "y", "t")
    coefficient_specs = (Coefficient("g", 1.0, -1.0, 5.0, "the rim's data g"),
                         Coefficient("kappa", 1.0, 0.1, 2.0, "the diffusivity"),
                         Coefficient("alpha", 1.0, -1.0, 2.0, "the rim's Robin coefficient"),
                         Coefficient("u0", 0.0, -1.0, 1.0, "the initial value"))
    derivatives = ("u_t", "u_xx", "u_yy")
    example_targets = "g=2"
    sides_built = False

    def region(self):
        shape = Rectangle((-2.0, -2.0), (2.0, 2.0), name="plate") - Disk((0.0, 0.0), 0.5, name="rim")
        return Region(shape, ("x", "y"), {"t": (0.0, 2.0)})

    def conditions(self):
        g, alpha, u0 = (self.coefficients[k] for k in ("g", "alpha", "u0"))
        sides = (BoundaryCondition("sides", on=("plate",), value=lambda p: 0 * p[:, :1] + u0) if self.sides_built
                 else BoundaryCondition("sides", on=("plate",), kind="neumann", value=lambda p: 0 * p[:, :1]))
        return [DirichletCondition("initial", on="t", at=(0.0,), value=lambda p: 0 * p[:, :1] + u0),
                BoundaryCondition("rim", on=("rim",), kind="robin" if alpha else "neumann", alpha=alpha,
                                  value=lambda p: 0 * p[:, :1] + g),
                sides]

    def residual(self, f):
        return f["u_t"] - self.coefficients["kappa"] * (f["u_xx"] + f["u_yy"])

    def standard_grid(self):
        return {"x": np.linspace(-2, 2, 5), "y": np.linspace(-2, 2, 5), "t": np.linspace(0, 2, 3)}


class BuiltSides(WarmRim):
    sides_built = True


def _derivatives(layer, d, t):
    d, t = d.clone().requires_grad_(True), t.clone().requires_grad_(True)
    u = layer(d, t)
    u_d, u_t = torch.autograd.grad(u.sum(), (d, t), create_graph=True)
    (u_dd,) = torch.autograd.grad(u_d.sum(), d)
    return u.detach(), u_d.detach(), u_t.detach(), u_dd.detach()


@pytest.mark.parametrize("alpha", [0.0, 0.7])
def test_the_half_space_layer_solves_the_heat_equation_with_the_data_from_zero(alpha):
    kappa, g = 0.5, torch.tensor([[3.0]], dtype=torch.float64)
    layer = lambda d, t: half_space(d, torch.sqrt(kappa * t), g, alpha)  # noqa: E731
    d = torch.tensor([[0.0], [0.05], [0.3], [1.0], [2.5]], dtype=torch.float64)
    t = torch.tensor([[0.01], [0.02], [0.4], [1.0], [3.0]], dtype=torch.float64)
    u, u_d, u_t, u_dd = _derivatives(layer, d, t)
    assert torch.allclose(u_t, kappa * u_dd, rtol=1e-10, atol=1e-12)  # u_t = kappa u_dd
    assert float(-u_d[0, 0] + alpha * u[0, 0]) == pytest.approx(3.0, rel=1e-12)  # the data at d = 0
    at_start = half_space(torch.tensor([[0.0], [0.1]], dtype=torch.float64),
                          torch.full((2, 1), 1e-8, dtype=torch.float64), g, alpha)
    assert float(at_start.abs().max()) < 1e-6  # nothing at the start


def test_surface_distances_are_signed_distances_positive_inside():
    shape = WarmRim().region().shape
    distances, levels = shape.surface_distances(), shape.levels()
    points = torch.tensor([[1.5, 0.0], [0.0, -1.0], [0.6, 0.0]], dtype=torch.float64)
    assert distances["rim"](points).ravel().tolist() == pytest.approx([1.0, 0.5, 0.1], rel=1e-12)
    assert levels["rim"](points).ravel().tolist() == pytest.approx([2.0, 0.75, 0.11], rel=1e-12)
    assert torch.equal(distances["plate.left"](points), levels["plate.left"](points))  # a plane's level is its distance
    assert distances["plate.left"](points).ravel().tolist() == pytest.approx([3.5, 2.0, 2.6], rel=1e-12)


def test_the_layer_is_built_where_the_data_disagree_and_keeps_the_initial_data_exact():
    built = build_exact_form(WarmRim(g=2.0, kappa=0.5))
    assert built.layer is not None and built.layer.conditions == ("rim",)
    assert built.layer.kappa == pytest.approx(0.5, rel=1e-12)
    assert "start layer for rim" in built.describe()
    points = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.5, 0.0], [0.51, 0.0, 0.0]], dtype=torch.float64)
    assert float(built.form.offset(points).abs().max()) < 1e-12  # u(t0) = u0 still holds
    later = torch.tensor([[0.5, 0.0, 0.3], [1.5, 0.0, 0.3]], dtype=torch.float64)
    near, far = built.form.offset(later).ravel().tolist()
    assert near > 0.2 and near > 10 * far  # the heat let in at the rim, a layer there
    assert build_exact_form(WarmRim(g=0.0)).layer is None  # du/dn + u = 0 meets u0 = 0
    assert build_exact_form(WarmRim(g=0.5, u0=0.5)).layer is None  # u0 = 0.5 meets du/dn + u = 0.5
    assert build_exact_form(WarmRim(g=1.0, alpha=0.0)).layer.conditions == ("rim",)  # Neumann
    assert build_exact_form(BuiltSides(g=2.0)).layer is None  # the layer would move built data
    assert build_exact_form(WarmRim(g=2.0), with_start_layer=False).layer is None


class Spreading(Equation):
    """u_t = laplace(u) in the unit disk over t in [0, 1]: u0 = exp(|x|^2 / 2) and du/dn =
    a exp(1/2 + t) on the rim, which u0's own normal derivative meets at t = 0 for a = 1."""

    name = "spreading"
    summary = "u_t = laplace(u) in the unit disk; u0 = exp(|x|^2/2); du/dn = exp(1/2 + t) on the rim"
    inputs = ("x", "y", "t")
    coefficient_specs = (Coefficient("a", 1.0, 0.0, 2.0, "the rim data's factor"),)
    derivatives = ("u_t", "u_xx", "u_yy")
    example_targets = "a=0.5"

    def region(self):
        return Region(Disk((0.0, 0.0), 1.0, name="rim"), ("x", "y"), {"t": (0.0, 1.0)})

    def conditions(self):
        a = self.coefficients["a"]
        return [DirichletCondition("initial", on="t", at=(0.0,),
                                   value=lambda p: torch.exp((p[:, :1] ** 2 + p[:, 1:2] ** 2) / 2)),
                BoundaryCondition("rim", kind="neumann", value=lambda p: a * torch.exp(0.5 + p[:, 2:3]))]

    def residual(self, f):
        return f["u_t"] - (f["u_xx"] + f["u_yy"])

    def standard_grid(self):
        return {"x": np.linspace(-1, 1, 5), "y": np.linspace(-1, 1, 5), "t": np.linspace(0, 1, 3)}


def test_the_initial_datas_normal_derivative_counts_in_telling_whether_they_disagree():
    assert build_exact_form(Spreading(a=1.0)).layer is None
    assert build_exact_form(Spreading(a=0.5)).layer.conditions == ("rim",)


def test_the_diffusivity_is_read_off_a_heat_residual_only():
    class Wave(WarmRim):
        derivatives = ("u_tt", "u_xx", "u_yy")

        def residual(self, f):
            return f["u_tt"] - (f["u_xx"] + f["u_yy"])

    class Varying(WarmRim):
        def residual(self, f):
            return f["u_t"] - f["x"] * f["u_xx"] - f["u_yy"]

    class Anisotropic(WarmRim):
        def residual(self, f):
            return f["u_t"] - f["u_xx"] - 2 * f["u_yy"]

    class Reacting(WarmRim):
        def residual(self, f):
            return 2 * f["u_t"] - 0.6 * (f["u_xx"] + f["u_yy"]) + f["u"] ** 3

    assert diffusivity(Reacting(), ("x", "y")) == pytest.approx(0.3, rel=1e-12)
    for family in (Wave(), Varying(), Anisotropic()):
        assert diffusivity(family, ("x", "y")) is None


def test_settings_pose_with_the_layer_and_old_runs_without_it():
    assert Settings().start_layer == "auto" and Settings().posing == "exact"
    assert Settings(start_layer="off").posing == "exact-plain"
    assert Settings(conditions="soft", start_layer="off").posing == "soft"
    stored = asdict(Settings())
    del stored["start_layer"]
    assert Settings.from_record(stored).posing == "exact-plain"
    assert Posing(WarmRim(g=2.0), "exact-plain").built.layer is None
    assert Posing(WarmRim(g=2.0), "exact").built.layer is not None
