"""Exact forms built from a family's declared conditions, and Fourier features from its data."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from equations import Coefficient, DirichletCondition, Equation, PeriodicCondition
from pinn_pac.runs import Settings
from pinn_pac.runs.assemble import build_network
from pinn_pac.solver.built_form import build_exact_form
from pinn_pac.solver.capacity import data_frequencies
from pinn_pac.solver.derivatives import compute_fields, parse_derivatives
from pinn_pac.solver.model import MLP
from pinn_pac.solver.posing import Posing


def _zero(p):
    return 0 * p[:, :1]


class _Box(Equation):
    """A family on a 2-D box whose conditions a test chooses."""

    name = "box"
    summary = "u_tt = u_xx on [0, 1] x [0, 2]"
    inputs = ("x", "t")
    coefficient_specs = (Coefficient("c", 1.0, 0.0, 5.0, "c"),)
    derivatives = ("u_tt", "u_xx")
    example_targets = "c=2"
    domain = property(lambda self: {"x": (0.0, 1.0), "t": (0.0, 2.0)})
    declared: list = []

    def conditions(self):
        return list(self.declared)

    def residual(self, f):
        return f["u_tt"] - f["u_xx"]

    def standard_grid(self):
        return {"x": np.linspace(0, 1, 5), "t": np.linspace(0, 2, 5)}


def _family(*declared):
    return type("Declared", (_Box,), {"declared": list(declared)})()


def _initial(p):
    x = p[:, :1]
    return torch.sin(torch.pi * x) + 0.5 * torch.sin(4 * torch.pi * x) + 0.2 * x * (1 - x)


WAVE = (
    DirichletCondition("initial value", on="t", at=(0.0,), value=_initial),
    DirichletCondition("initial velocity", on="t", at=(0.0,), value=lambda p: torch.cos(2 * torch.pi * p[:, :1]) - 1,
                       fields=("u_t",)),
    DirichletCondition("left", on="x", at=(0.0,), value=lambda p: 0.3 * p[:, 1:2] ** 2),
    DirichletCondition("right", on="x", at=(1.0,), value=lambda p: -p[:, 1:2] ** 2),
)


def _random_network(equation, seed=3):
    lower, upper = (torch.tensor(b, dtype=torch.float64) for b in zip(*equation.domain.values()))
    return MLP(lower, upper, 1, 8, 2, torch.Generator().manual_seed(seed))


def _on(face_input: int, at: float, n: int = 50) -> torch.Tensor:
    points = torch.rand(n, 2, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    points[:, 1] *= 2
    points[:, face_input] = at
    return points


def test_a_built_form_meets_values_and_velocities_on_faces_for_any_network():
    equation = _family(*WAVE)
    posing = Posing(equation)
    assert posing.built is not None and posing.form is not None
    assert set(posing.form.imposes) == {c.name for c in WAVE}
    assert posing.soft_conditions() == []
    network = _random_network(equation)
    derivatives = parse_derivatives(("u_t",), equation.inputs, equation.outputs)
    start = posing.fields(network, _on(1, 0.0), derivatives, "autograd")
    assert torch.allclose(start["u"], _initial(_on(1, 0.0)), atol=1e-13)
    assert torch.allclose(start["u_t"], torch.cos(2 * torch.pi * _on(1, 0.0)[:, :1]) - 1, atol=1e-12)
    left, right = (posing.predict(network, _on(0, at)).detach() for at in (0.0, 1.0))
    assert torch.allclose(left, 0.3 * _on(0, 0.0)[:, 1:2] ** 2, atol=1e-13)
    assert torch.allclose(right, -_on(0, 1.0)[:, 1:2] ** 2, atol=1e-13)
    inside = posing.predict(network, _on(0, 0.5)).detach()
    assert not torch.allclose(inside, posing.form.offset(_on(0, 0.5)).detach())  # the network still acts


def test_the_built_form_is_used_under_no_grad_as_in_evaluation():
    posing = Posing(_family(*WAVE))
    network = _random_network(posing.equation)
    with torch.no_grad():
        value = posing.predict(network, _on(1, 0.0))
    assert torch.allclose(value, _initial(_on(1, 0.0)), atol=1e-13)


def test_a_neumann_face_stays_soft_and_says_why():
    neumann = DirichletCondition("flux", on="x", at=(1.0,), value=_zero, fields=("u_x",))
    built = build_exact_form(_family(WAVE[0], WAVE[2], neumann))
    assert built.form is not None and set(built.form.imposes) == {"initial value", "left"}
    assert "flux" in built.soft and "no value" in built.soft["flux"]
    assert "flux stays soft" in built.describe()
    tangential = DirichletCondition("slope", on="t", at=(0.0,), value=_zero, fields=("u_x",))
    assert "normal" in build_exact_form(_family(WAVE[0], tangential)).soft["slope"]


def test_data_that_disagree_at_a_corner_are_not_built_and_the_reason_is_given():
    clash = DirichletCondition("left", on="x", at=(0.0,), value=lambda p: 1 + 0 * p[:, :1])  # u0(0) = 0
    built = build_exact_form(_family(WAVE[0], clash))
    assert built.form is None
    assert "disagree where faces meet" in built.soft["left"]
    assert Posing(_family(WAVE[0], clash)).conditions == "soft"


def test_a_periodic_face_gives_a_periodic_network_and_a_built_initial_value():
    periodic = PeriodicCondition("periodic", on="x")
    initial = DirichletCondition("initial", on="t", at=(0.0,), value=lambda p: torch.cos(2 * torch.pi * p[:, :1]))
    equation = _family(initial, periodic)
    posing = Posing(equation)
    assert posing.periodic_inputs == (True, False)
    assert set(posing.form.imposes) == {"initial", "periodic"}
    network = build_network(equation, Settings(width=8, depth=2))
    ends = [posing.predict(network, _on(0, at)).detach() for at in (0.0, 1.0)]
    assert torch.allclose(ends[0], ends[1], atol=1e-12)
    assert torch.allclose(posing.predict(network, _on(1, 0.0)).detach(),
                          torch.cos(2 * torch.pi * _on(1, 0.0)[:, :1]), atol=1e-13)


def test_a_family_that_gives_its_own_form_keeps_it():
    import equations

    posing = Posing(equations.Burgers())
    assert posing.built is None and posing.form is not None


def test_fourier_features_follow_the_datas_periods_and_only_where_multiscale():
    fine = DirichletCondition("initial", on="t", at=(0.0,), value=lambda p: torch.sin(20 * torch.pi * p[:, :1]))
    assert [[round(w / math.pi) for w in f] for f in data_frequencies(_family(fine))] == [[10], []]
    assert data_frequencies(_family(*WAVE)) == ((), ())  # 2 periods: a plain input learns them
    network = build_network(_family(fine), Settings(width=8, depth=2))
    assert network.n_features == 4 and not network.plain_features
    plain = build_network(_family(fine), Settings(width=8, depth=2, fourier="off"))
    assert plain.n_features == 2


def test_the_forward_path_falls_back_to_autograd_with_fourier_features():
    fine = DirichletCondition("initial", on="t", at=(0.0,), value=lambda p: torch.sin(20 * torch.pi * p[:, :1]))
    equation = _family(fine)
    network = build_network(equation, Settings(width=8, depth=2))
    points = _on(0, 0.3)
    points[:, 0] = torch.linspace(0.01, 0.99, len(points), dtype=torch.float64)
    derivatives = parse_derivatives(("u_x", "u_xx", "u_t"), equation.inputs, equation.outputs)
    autograd = compute_fields(network, points, derivatives, ("u",), "autograd")
    forward = compute_fields(network, points, derivatives, ("u",), "forward")
    for name in ("u_x", "u_xx", "u_t"):
        assert torch.allclose(autograd[name], forward[name], rtol=1e-12, atol=1e-12)
    step = 1e-5  # and they are the derivatives of the embedded network
    shifted = points.clone()
    shifted[:, 0] += step
    difference = (network(shifted) - network(points - torch.tensor([step, 0.0], dtype=torch.float64))) / (2 * step)
    assert torch.allclose(autograd["u_x"].detach(), difference.detach(), rtol=1e-5, atol=1e-6)


def test_a_condition_whose_value_has_the_wrong_columns_is_refused_before_training():
    from pinn_pac.solver.equation_check import EquationClassError, check_equation_class

    wrong = DirichletCondition("initial", on="t", at=(0.0,), value=_zero, fields=("u", "u_t"))
    with pytest.raises(EquationClassError, match=r"initial's value returned \(16, 1\).*\(16, 2\)"):
        check_equation_class(type(_family(wrong)), "file.py:Declared")


def test_a_run_recorded_before_forms_were_built_is_read_as_it_trained():
    """Its "exact" meant a form the family gives: a family without one trained soft, and its
    networks must predict as they did."""
    old = {k: v for k, v in vars(Settings()).items() if k != "fourier"}
    settings = Settings.from_record(old)
    assert settings.conditions == "given" and settings.fourier == "off"
    assert Posing(_family(*WAVE), settings.conditions).form is None
    assert Settings.from_record({**old, "conditions": "soft"}).conditions == "soft"
    assert Settings.from_record(vars(Settings())) == Settings()  # a new record is read as written
