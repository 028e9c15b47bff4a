"""Derivatives to order four and inputs with names of several characters: names read (and
refused where they cannot be), values checked against analytic derivatives and torch.func,
the exact form's Leibniz rule against autograd through u = g + d N, and a user's family with
inputs x1, x2 checked, solved and predicted from."""

import json
import math

import numpy as np
import pytest
import torch

from equations import DirichletCondition, Equation, ExactForm
from pinn_pac.cli import main
from pinn_pac.runs import Settings, build_network
from pinn_pac.solver.derivatives import compute_fields, derivative_name, parse_derivatives
from pinn_pac.solver.equation_check import EquationClassError, check_equation_class
from pinn_pac.solver.posing import Posing, _product_rule_keys

X_T = ("x", "t")
FIVE = ("x1", "x2", "x3", "x4", "x5")

#: A user's family in inputs x1, x2 with fourth derivatives: a simply supported plate.
PLATE = '''import math

import numpy as np
import torch

from equations import Coefficient, DirichletCondition, Equation, ExactForm

PI4 = 4 * math.pi**4


class Plate(Equation):
    name = "plate"
    summary = "u_x1x1x1x1 + 2 u_x1x1x2x2 + u_x2x2x2x2 = q sin(pi x1) sin(pi x2) on [0, 1]^2; u = 0, u'' = 0 on the edges"
    inputs = ("x1", "x2")
    coefficient_specs = (Coefficient("q", 1.0, 0.0, 10.0, "the load q in (0, 10)"),)
    derivatives = ("u_x1x1x1x1", "u_x1_x1_x2_x2", "u_x2x2x2x2")
    example_targets = "q=2"
    domain = property(lambda self: {"x1": (0.0, 1.0), "x2": (0.0, 1.0)})

    def conditions(self):
        zero = lambda p: 0 * p[:, :1]
        return [DirichletCondition("edges x1", on="x1", at=(0.0, 1.0), value=zero),
                DirichletCondition("edges x2", on="x2", at=(0.0, 1.0), value=zero),
                DirichletCondition("moments x1", on="x1", at=(0.0, 1.0), value=zero, fields=("u_x1_x1",)),
                DirichletCondition("moments x2", on="x2", at=(0.0, 1.0), value=zero, fields=("u_x2x2",))]

    def exact_form(self):
        factor = lambda p: p[:, :1] * (1 - p[:, :1]) * p[:, 1:] * (1 - p[:, 1:])
        return ExactForm(offset=lambda p: 0 * p[:, :1], factor=factor, imposes=("edges x1", "edges x2"))

    def residual(self, f):
        load = self.coefficients["q"] * torch.sin(math.pi * f["x1"]) * torch.sin(math.pi * f["x2"])
        return (f["u_x1x1x1x1"] + 2 * f["u_x1_x1_x2_x2"] + f["u_x2x2x2x2"] - load) / PI4

    def standard_grid(self):
        return {"x1": np.linspace(0, 1, 11), "x2": np.linspace(0, 1, 11)}

    def reference(self, grid):
        x1, x2 = np.meshgrid(grid["x1"], grid["x2"], indexing="ij")
        return self.coefficients["q"] / PI4 * np.sin(np.pi * x1) * np.sin(np.pi * x2)
'''
_namespace: dict = {}
exec(compile(PLATE, "plate.py", "exec"), _namespace)  # the class as the test's file defines it
Plate = _namespace["Plate"]


@pytest.mark.parametrize("name, inputs, outputs, output, wrt", [
    ("u_x", X_T, ("u",), 0, (0,)),  # today's names, unchanged
    ("u_xx", X_T, ("u",), 0, (0, 0)),
    ("u_xt", X_T, ("u",), 0, (0, 1)),
    ("v_t", X_T, ("u", "v"), 1, (1,)),
    ("u_xxx", X_T, ("u",), 0, (0, 0, 0)),
    ("u_xxxx", X_T, ("u",), 0, (0, 0, 0, 0)),
    ("u_xxt", X_T, ("u",), 0, (0, 0, 1)),
    ("u_x_t", X_T, ("u",), 0, (0, 1)),  # underscores between one-letter inputs too
    ("u_x1", FIVE, ("u",), 0, (0,)),
    ("u_x1_x1", FIVE, ("u",), 0, (0, 0)),
    ("u_x1x1", FIVE, ("u",), 0, (0, 0)),
    ("u_x1_x2", FIVE, ("u",), 0, (0, 1)),
    ("u_x2x1", FIVE, ("u",), 0, (1, 0)),
    ("u_x5x4_x3x2", FIVE, ("u",), 0, (4, 3, 2, 1)),
    ("rho_x3", FIVE, ("u", "rho"), 1, (2,)),
    ("rho_v_x", ("x", "v"), ("rho", "rho_v"), 1, (0,)),  # the longest output that fits
    ("u_x11", ("x1", "x11"), ("u",), 0, (1,)),  # a part that is an input's name is that input
    ("u_x1_x11", ("x1", "x11"), ("u",), 0, (0, 1)),
    ("u_ab_b", ("a", "ab", "b"), ("u",), 0, (1, 2)),
])
def test_names_are_read(name, inputs, outputs, output, wrt):
    (derivative,) = parse_derivatives((name,), inputs, outputs)
    assert (derivative.name, derivative.output, derivative.wrt) == (name, output, wrt)
    (again,) = parse_derivatives((derivative_name(output, wrt, inputs, outputs),), inputs, outputs)
    assert (again.output, again.wrt) == (output, wrt)  # the canonical name reads back


@pytest.mark.parametrize("name, inputs, message", [
    ("u_xxxxx", X_T, "it is of order 5; derivatives of order 1 to 4 are computed"),
    ("u_x1x1x1x1x1", FIVE, "it is of order 5"),
    ("u_x6", FIVE, "'x6' is not one or more of the input names"),
    ("u_x1__x2", FIVE, "separated by at most one '_'"),
    ("u_", X_T, "separated by at most one '_'"),
    ("u", X_T, "a derivative is an output's name, '_' and the inputs"),
    ("w_x", X_T, "a derivative is an output's name, '_' and the inputs"),
    ("u_abb", ("a", "ab", "b"), "'abb' splits into inputs in 2 ways; separate them by '_', as in 'u_ab_b' or 'u_a_b_b'"),
    ("u_t_abb", ("a", "ab", "b", "t"), "as in 'u_t_ab_b' or 'u_t_a_b_b'"),
    ("u_aaaaaaaa", ("a", "aa"), "'aaaaaaaa' splits into inputs in 34 ways; separate them by '_', as in 'u_aa_aa_aa_aa'"),
    ("u_" + "a" * 60, ("a", "aa"), "it is of order at least 30"),  # counted, not listed: quick
])
def test_unreadable_and_ambiguous_names_are_refused_in_one_line(name, inputs, message):
    with pytest.raises(ValueError) as error:
        parse_derivatives((name,), inputs, ("u",))
    assert message in str(error.value) and "\n" not in str(error.value)


class Known(torch.nn.Module):
    """u = sin(a x) exp(b t) + x^3 t^2, whose derivatives are known in closed form."""

    def forward(self, p):
        x, t = p[:, :1], p[:, 1:]
        return torch.sin(1.3 * x) * torch.exp(0.7 * t) + x**3 * t**2


def test_orders_three_and_four_match_the_analytic_derivatives():
    points = torch.rand(20, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2 - 1
    x, t = points[:, :1], points[:, 1:]
    a, b = 1.3, 0.7
    s, c, e = torch.sin(a * x), torch.cos(a * x), torch.exp(b * t)
    expected = {
        "u_x": a * c * e + 3 * x**2 * t**2, "u_xx": -a**2 * s * e + 6 * x * t**2,
        "u_xxx": -a**3 * c * e + 6 * t**2, "u_xxxx": a**4 * s * e,
        "u_xxt": -a**2 * b * s * e + 12 * x * t, "u_txx": -a**2 * b * s * e + 12 * x * t,
        "u_xtxt": -a**2 * b**2 * s * e + 12 * x, "u_tttt": b**4 * s * e,
    }
    derivatives = parse_derivatives(tuple(expected), X_T, ("u",))
    fields = compute_fields(Known(), points, derivatives, ("u",), "autograd", X_T)
    for name, value in expected.items():
        torch.testing.assert_close(fields[name], value, rtol=1e-12, atol=1e-12)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")  # torch.func's jvp, inside torch
def test_a_networks_orders_three_and_four_match_torch_func_on_every_path():
    network = build_network(Plate(), Settings(width=8, depth=2, seed=1))
    points = torch.rand(12, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    names = ("u_x1x1x1", "u_x1_x1_x1_x1", "u_x1x1x2", "u_x2x1x2x2", "u_x2x2", "u_x1")
    derivatives = parse_derivatives(names, Plate.inputs, ("u",))

    def u(p):
        return network(p[None])[0, 0]

    # Fourth derivatives of u at each point by forward-over-reverse torch.func, independent of pinn-pac.
    fourth = torch.vmap(torch.func.jacfwd(torch.func.jacfwd(torch.func.jacfwd(torch.func.jacrev(u)))))(points)
    third = torch.vmap(torch.func.jacfwd(torch.func.jacfwd(torch.func.jacrev(u))))(points)
    second = torch.vmap(torch.func.jacfwd(torch.func.jacrev(u)))(points)
    first = torch.vmap(torch.func.jacrev(u))(points)
    by_order = {1: first, 2: second, 3: third, 4: fourth}
    for method in ("autograd", "forward"):  # "forward" falls back to autograd past order two
        fields = compute_fields(network, points, derivatives, ("u",), method, Plate.inputs)
        for d in derivatives:
            expected = by_order[len(d.wrt)][(slice(None), *d.wrt)]
            torch.testing.assert_close(fields[d.name][:, 0], expected, rtol=1e-11, atol=1e-11)


class _Smooth(Equation):
    """A family in x, t whose exact form has an offset and a factor that vary in both."""

    name = "smooth"
    summary = "for the Leibniz rule"
    inputs = X_T
    coefficient_specs = ()
    derivatives = ("u_x",)
    example_targets = ""
    domain = property(lambda self: {"x": (-1.0, 1.0), "t": (0.0, 1.0)})

    def conditions(self):
        return []

    def residual(self, f):
        return f["u_x"]

    def standard_grid(self):
        return {"x": np.linspace(-1, 1, 3), "t": np.linspace(0, 1, 3)}

    def exact_form(self):
        return ExactForm(offset=_offset, factor=_factor, imposes=())


def _offset(p):
    x, t = p[:, :1], p[:, 1:]
    return torch.sin(2 * x) + t**2 * x**3


def _factor(p):
    x, t = p[:, :1], p[:, 1:]
    return t * (1 - x**2) * torch.exp(0.3 * x * t)


class _Composed(torch.nn.Module):
    def __init__(self, network):
        super().__init__()
        self.network = network

    def forward(self, p):
        return _offset(p) + _factor(p) * self.network(p)


def test_the_exact_forms_leibniz_rule_matches_autograd_through_u_to_order_four():
    equation = _Smooth()
    network = build_network(equation, Settings(width=8, depth=2, seed=2))
    points = torch.rand(16, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    names = ("u_t", "u_xx", "u_xt", "u_xxx", "u_xxxx", "u_xxt", "u_txx", "u_xtxt", "u_ttt")
    derivatives = parse_derivatives(names, X_T, ("u",))
    assert set(_product_rule_keys(derivatives[5])) == {(0, (0, 0, 1)), (0, (0,)), (0, (1,)), (0, (0, 0)), (0, (0, 1))}
    expected = compute_fields(_Composed(network), points, derivatives, ("u",), "autograd", X_T)
    for method in ("autograd", "forward"):
        fields = Posing(equation, "exact").fields(network, points, derivatives, method)
        for name in ("u", *names):
            torch.testing.assert_close(fields[name], expected[name], rtol=1e-11, atol=1e-11)


def test_a_family_in_x1_x2_with_fourth_derivatives_is_checked_solved_and_predicted(tmp_path, capsys, monkeypatch):
    check_equation_class(Plate, "plate.py:Plate")

    class Ambiguous(Plate):
        inputs = ("x", "x1", "1x")
        derivatives = ("u_x1x",)

    with pytest.raises(EquationClassError, match=r"derivatives: .*in 2 ways; separate them by '_', as in 'u_x_1x' or 'u_x1_x'"):
        check_equation_class(Ambiguous, "ambiguous")

    class Unreadable(Plate):
        def conditions(self):
            bad = DirichletCondition("bad", on="x1", at=(0.0,), value=lambda p: 0 * p[:, :1], fields=("u_x3",))
            return [*super().conditions(), bad]

    with pytest.raises(EquationClassError, match=r"conditions: bad's field 'u_x3'"):
        check_equation_class(Unreadable, "unreadable")

    path = tmp_path / "plate.py"
    path.write_text(PLATE)
    monkeypatch.chdir(tmp_path)
    tiny = ["--width", "8", "--depth", "2", "--points", "64", "--condition-points", "8", "--quiet",
            "--derivatives", "autograd", "--threads", "1", "--rad-every", "0"]
    assert main(["solve", f"{path}:Plate", *tiny, "--adam", "20", "--iterations", "10", "--out", "s"]) == 0
    assert main(["predict", "s", "--grid", "x1=0:1:3,x2=0:1:3", "--derivatives", "u_x1x1x1x1,u_x1_x2",
                 "--out", "u.npz"]) == 0
    record = json.loads((tmp_path / "s" / "results.json").read_text())[0]
    assert record["equation"] == "plate" and math.isfinite(record["rel_l2"])
    saved = np.load(tmp_path / "u.npz")
    assert saved["u_x1x1x1x1"].shape == (3, 3) and np.isfinite(saved["u_x1_x2"]).all()
    assert np.abs(saved["u"][0]).max() == 0.0  # the exact form holds on the edge x1 = 0
    capsys.readouterr()


@pytest.mark.parametrize("periodic", [(False, False), (True, False)])
def test_the_forward_path_carries_pure_derivatives_to_order_four(periodic):
    """Faa di Bruno through the tanh layers (the forward and compiled paths) equals nested
    autograd for orders 3 and 4, on a plain and on a periodic embedding."""
    from pinn_pac.solver.derivatives import _forward_mode, _nested_autograd
    from pinn_pac.solver.model import MLP

    lower, upper = torch.tensor([-1.0, 0.0], dtype=torch.float64), torch.tensor([1.0, 1.0], dtype=torch.float64)
    network = MLP(lower, upper, 2, 12, 3, torch.Generator().manual_seed(4), periodic)
    points = lower + (upper - lower) * torch.rand(64, 2, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    derivatives = parse_derivatives(("u_x", "u_xxx", "u_xxxx", "v_ttt", "v_tttt", "u_tt"), ("x", "t"), ("u", "v"))
    forward = _forward_mode(network, points, derivatives, ("u", "v"))
    reference = _nested_autograd(network, points, derivatives, ("u", "v"))
    for d in derivatives:
        assert torch.allclose(forward[d.name], reference[d.name], rtol=1e-11, atol=1e-11), d.name
