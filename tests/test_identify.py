"""`pinn-pac identify` and `pinn_pac.identify`: unknown coefficients from measurements."""

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

import equations
import pinn_pac
from equations import ExactForm, create
from pinn_pac.cli import main
from pinn_pac.cli.identify import format_identified
from pinn_pac.runs import Settings
from pinn_pac.solver.train import Budget
from pinn_pac.solver.unknowns import UnknownError, Unknowns, check_residual_only, with_unknowns

TINY = ["--width", "8", "--depth", "2", "--points", "128", "--condition-points", "32", "--quiet",
        "--derivatives", "autograd"]


def burgers_samples(count=200, nu=0.05 / math.pi, seed=0):
    burgers = create("burgers", nu=nu)
    grid = burgers.standard_grid()
    x, t = np.meshgrid(grid["x"], grid["t"], indexing="ij")
    chosen = np.random.default_rng(seed).choice(x.size, count, replace=False)
    return {"x": x.ravel()[chosen], "t": t.ravel()[chosen], "u": burgers.reference(grid).ravel()[chosen]}


def oscillator_samples(count=100, noise=0.0, seed=0, **coefficients):
    oscillator = create("oscillator", **coefficients)
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0, 1, count))
    u = oscillator.reference({"t": t})
    return {"t": t, "u": u + noise * u.std() * rng.standard_normal(count)}


# --- unknowns ---------------------------------------------------------------------------

def test_unknowns_start_at_the_guess_stay_in_their_ranges_and_map_back():
    lotka = create("lotka-volterra", alpha=1.0)
    unknowns = Unknowns(lotka, ["alpha", "gamma"])
    assert unknowns.values() == pytest.approx({"alpha": 1.0, "gamma": 1.0}, rel=1e-14)
    unknowns.set_values({"alpha": 7.5, "gamma": 0.02})
    assert unknowns.values() == pytest.approx({"alpha": 7.5, "gamma": 0.02}, rel=1e-12)
    with torch.no_grad():
        for raw, z in zip(unknowns.raw, (30.0, -30.0)):
            raw.fill_(z)
    assert 0 < unknowns.values()["gamma"] < 1e-10 and 10 - 1e-10 < unknowns.values()["alpha"] <= 10
    viscosity = Unknowns(create("burgers", nu=0.03 / math.pi), ["nu"])
    with torch.no_grad():
        viscosity.raw[0].fill_(-40.0)  # a positive-only coefficient moves by factors and stays positive
    assert 0 < viscosity.values()["nu"] < 1e-18


def test_the_mapping_derivative_is_that_of_the_value():
    unknowns = Unknowns(create("oscillator", omega=20.0), ["omega"])
    unknowns.set_values({"omega": 31.0})
    derivative, step = unknowns.derivative("omega"), 1e-6
    with torch.no_grad():
        unknowns.raw[0].add_(step)
        up = unknowns.values()["omega"]
        unknowns.raw[0].sub_(2 * step)
        down = unknowns.values()["omega"]
    assert derivative == pytest.approx((up - down) / (2 * step), rel=1e-8)


def test_the_residual_reads_the_unknown_live_and_carries_its_gradient():
    burgers = create("burgers", nu=0.03 / math.pi)
    unknowns = Unknowns(burgers, ["nu"])
    live = with_unknowns(burgers, unknowns)
    fields = {"u": torch.ones(3, 1), "u_t": torch.zeros(3, 1), "u_x": torch.zeros(3, 1),
              "u_xx": torch.tensor([[1.0], [2.0], [3.0]], dtype=torch.float64)}
    residual = live.residual(fields)
    assert torch.allclose(residual, -0.03 / math.pi * fields["u_xx"])
    (gradient,) = torch.autograd.grad(residual.sum(), unknowns.raw[0])
    assert float(gradient) == pytest.approx(-6 * unknowns.derivative("nu"), rel=1e-12)
    unknowns.set_values({"nu": 0.01})
    assert torch.allclose(live.residual(fields), -0.01 * fields["u_xx"])
    assert burgers.coefficients["nu"] == 0.03 / math.pi  # the equation itself is left alone


class OffsetBurgers(type(create("burgers"))):
    """Burgers with an exact form that reads nu: identify cannot take nu as unknown here."""

    def exact_form(self):
        nu = self.coefficients["nu"]
        return ExactForm(offset=lambda p: -torch.sin(math.pi * p[:, :1]) * (1 + nu),
                         factor=lambda p: p[:, 1:2] * (1 - p[:, :1].square()), imposes=("initial", "boundary"))


def test_an_unknown_inside_the_exact_form_is_refused():
    with pytest.raises(UnknownError, match="exact form depends on nu"):
        check_residual_only(OffsetBurgers(), ["nu"])
    check_residual_only(create("burgers"), ["nu"])  # the built-in form does not depend on nu


# --- the library ------------------------------------------------------------------------

#: Enough for the 16x2 network below (at lr 5e-3 Adam drifts omega into the basin of omega = 0).
BUDGET = Budget(adam_steps=1000, iterations=500, adam_lr=1e-2)


@pytest.fixture(scope="module")
def oscillator_run():
    start = create("oscillator", zeta=0.1, omega=15.0)
    settings = Settings(width=16, depth=2, n_interior=400, n_condition=8, seed=0)
    return pinn_pac.identify(start, oscillator_samples(omega=20.0), ["omega"], settings, BUDGET, progress=False)


def test_identify_finds_the_oscillator_frequency_from_clean_samples(oscillator_run):
    run = oscillator_run
    assert abs(run.identified["omega"] / 20.0 - 1) < 1e-5
    assert run.equation.coefficients == {"zeta": 0.1, "omega": run.identified["omega"]}
    assert run.rel_l2 < 1e-3 and run.data_misfit < 1e-6
    path = run.history.tracked["omega"]
    assert path[0] == pytest.approx(15.0, rel=1e-14) and path[-1] == run.identified["omega"]
    assert len(path) == len(run.history.step)
    assert 0 < run.standard_errors["omega"] < 0.01
    assert 0 < run.held_out_loss < 10 * run.residual_loss  # the equation holds between the points too
    assert "warning" not in format_identified(run)


def test_a_physics_loss_far_above_its_training_value_on_fresh_points_is_warned_of(oscillator_run):
    """As measured on the oscillator (1% noise) started from a far member of a family: 2.2e-6
    at the training points, 9.8 on 20,000 fresh ones."""
    broken = dataclasses.replace(oscillator_run, held_out_loss=1e4 * oscillator_run.residual_loss)
    assert "warning: the physics loss on fresh points is 10000 times" in format_identified(broken)


def test_standard_errors_grow_with_the_noise():
    start = create("oscillator", zeta=0.1, omega=15.0)
    settings = Settings(width=16, depth=2, n_interior=400, n_condition=8, seed=0)
    errors = [pinn_pac.identify(start, oscillator_samples(noise=noise, omega=20.0), ["omega"], settings, BUDGET,
                                progress=False).standard_errors["omega"] for noise in (0.01, 0.02)]
    assert 1.5 < errors[1] / errors[0] < 2.7  # the noise the fit leaves doubles, and so does the error


# --- the command ------------------------------------------------------------------------

@pytest.fixture
def no_training(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr("pinn_pac.runs.identify_job.train", refuse)


def write(path, arrays):
    np.savez(path, **arrays)
    return str(path)


BAD_DATA = [
    ("missing input", lambda a: {k: a[k] for k in ("x", "u")}, "missing t"),
    ("extra array", lambda a: {**a, "w": a["u"]}, "extra w"),
    ("lengths differ", lambda a: {**a, "u": a["u"][:-1]}, "differ in length"),
    ("nan", lambda a: {**a, "u": np.where(np.arange(len(a["u"])) == 3, np.nan, a["u"])}, "nan or inf at 1 of"),
    ("outside the domain", lambda a: {**a, "x": a["x"] * 1.5}, "outside the domain [-1, 1]"),
    ("too few points", lambda a: {k: v[:5] for k, v in a.items()}, "at least 10"),
    ("no observed output", lambda a: {k: a[k] for k in ("x", "t")}, "no observed output"),
    ("two-dimensional", lambda a: {**a, "u": np.stack([a["u"], a["u"]], axis=1)}, "1-D array"),
    ("text", lambda a: {**a, "u": np.array(["a"] * len(a["u"]))}, "not real numbers"),
]


@pytest.mark.parametrize("case, change, message", BAD_DATA, ids=[c[0] for c in BAD_DATA])
def test_bad_data_is_refused_in_one_line_before_any_training(case, change, message, tmp_path, capsys, no_training):
    data = write(tmp_path / "data.npz", change(burgers_samples()))
    out = tmp_path / "run"
    assert main(["identify", "burgers", "--data", data, "--unknowns", "nu", "--out", str(out), *TINY]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and error.startswith("pinn-pac: error: ") and message in error
    assert not out.exists()


BAD_OPTIONS = [
    ("not a coefficient", ["--unknowns", "mu"], "mu: not a coefficient of burgers; its coefficients are nu"),
    ("given twice", ["--unknowns", "nu,nu"], "unknown nu given twice"),
    ("no unknowns", ["--unknowns", ","], "name at least one unknown"),
    ("a guess outside the range", ["--unknowns", "nu", "--nu", "-1"], "outside the valid range"),
    ("target error", ["--unknowns", "nu", "--target-error", "1e-3"], "no reference while it trains"),
    ("a network option with --from", ["--unknowns", "nu", "--from", "somewhere", "--width", "9"],
     "--width: not with --from"),
    ("--from a folder without a run", ["--unknowns", "nu", "--from", "{tmp}/nothing"], "nothing"),
    ("a data weight of zero", ["--unknowns", "nu", "--data-weight", "0"], "data weight must be > 0"),
]


@pytest.mark.parametrize("case, options, message", BAD_OPTIONS, ids=[c[0] for c in BAD_OPTIONS])
def test_bad_options_are_refused_in_one_line_before_any_training(case, options, message, tmp_path, capsys,
                                                                 no_training):
    data = write(tmp_path / "data.npz", burgers_samples())
    out = tmp_path / "run"
    options = [o.replace("{tmp}", str(tmp_path)) for o in options]
    tiny = [] if "--from" in options else TINY
    assert main(["identify", "burgers", "--data", data, *options, "--out", str(out), "--quiet", *tiny]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and error.startswith("pinn-pac: error: ") and message in error
    assert not out.exists()


@pytest.mark.parametrize("write_file, message", [
    (lambda p: None, "no data file at"),
    (lambda p: p.write_text("x,t,u\n"), "is not an .npz file"),
])
def test_a_data_file_that_cannot_be_read_is_refused(write_file, message, tmp_path, capsys, no_training):
    path = tmp_path / "data.npz"
    write_file(path)
    assert main(["identify", "burgers", "--data", str(path), "--unknowns", "nu", *TINY]) == 2
    assert message in capsys.readouterr().err


@pytest.fixture(scope="module")
def family_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "family"
    assert main(["transfer", "burgers", "--source", "nu=0.02/pi", "--targets", "nu=0.1/pi,nu=0.05/pi", *TINY,
                 "--source-adam", "200", "--source-iterations", "50", "--allocate-iterations", "10",
                 "--calibrate-iterations", "50", "--out", str(out)]) == 0
    return out


def test_identify_writes_what_it_found_and_evaluate_and_predict_read_it(tmp_path, capsys):
    data = write(tmp_path / "data.npz", burgers_samples())
    out = tmp_path / "run"
    assert main(["identify", "burgers", "--nu", "0.1/pi", "--data", data, "--unknowns", "nu", *TINY,
                 "--adam", "100", "--iterations", "50", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    assert results["start"] == {"nu": 0.1 / math.pi} and results["observed"] == ["u"] and results["data_points"] == 200
    nu = results["identified"]["nu"]
    assert f"{nu:.8g}" in printed and results["coefficients"] == {"nu": nu}
    assert results["standard_errors"]["nu"] > 0 and "approximate" in results["standard_errors_note"]
    for name in ("checkpoint.pt", "history.json", "history.csv", "unknowns.png", "data_fit.png", "solution.png"):
        assert (out / name).is_file()
    header, *rows = (out / "history.csv").read_text().splitlines()
    assert header.split(",")[-3:] == ["data", "residual", "nu"] and float(rows[-1].split(",")[-1]) == nu
    assert main(["evaluate", str(out)]) == 0
    evaluated = capsys.readouterr().out
    assert "identified" in evaluated and f"{results['rel_l2']:.3e}" in evaluated
    assert main(["predict", str(out), "--grid", "x=0.5:0.5:1,t=0.5:0.5:1", "--out", str(tmp_path / "p.npz")]) == 0


def test_identify_from_a_family_starts_where_the_family_fits_best(family_run, tmp_path, capsys):
    """At the best-fitting member, or between members where the family's answer fits better."""
    data = write(tmp_path / "data.npz", burgers_samples(nu=0.05 / math.pi))
    out = tmp_path / "run"
    assert main(["identify", "burgers", "--data", data, "--unknowns", "nu", "--from", str(family_run),
                 "--iterations", "20", "--quiet", "--out", str(out)]) == 0
    started = json.loads((out / "results.json").read_text())["started_from"]
    misfits = started["misfits"]
    assert len(misfits) == 3 and started["misfit"] <= min(misfits.values())
    printed = capsys.readouterr().out
    if started["role"] == "family answer":
        assert started["misfit"] < min(misfits.values()) and "searched in the family of" in printed
    else:
        assert printed.startswith(f"starting from the {started['role']}")
    history = json.loads((out / "history.json").read_text())
    (path,) = (h["tracked"]["nu"] for h in history.values())
    assert path[0] == pytest.approx(started["coefficients"]["nu"], rel=1e-14)


def test_identify_from_a_run_of_another_family_is_refused(family_run, tmp_path, capsys, no_training):
    data = write(tmp_path / "data.npz", oscillator_samples())
    assert main(["identify", "oscillator", "--data", data, "--unknowns", "omega", "--from", str(family_run)]) == 2
    assert "holds a burgers run, not oscillator" in capsys.readouterr().err


def test_identify_takes_a_users_equation_file(tmp_path, capsys):
    from test_readme import OWN_EQUATION_PAGE, file_blocks

    (tmp_path / "logistic.py").write_text(file_blocks(OWN_EQUATION_PAGE)["logistic.py"])
    spec = f"{tmp_path / 'logistic.py'}:Logistic"
    family, _ = equations.resolve(spec)
    t = np.linspace(0, family().domain["t"][1], 50)
    data = write(tmp_path / "data.npz", {"t": t, "u": family(r=3.0).reference({"t": t})})
    out = tmp_path / "run"
    assert main(["identify", spec, "--r", "1", "--data", data, "--unknowns", "r", *TINY, "--points", "200",
                 "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert abs(results["identified"]["r"] / 3.0 - 1) < 1e-8 and results["start"] == {"r": 1.0}
    assert main(["evaluate", str(out)]) == 0 and "identified" in capsys.readouterr().out


def test_the_reverse_mode_jacobian_agrees_with_the_forward_mode_one():
    """The Jacobian behind standard errors, taken by reverse mode where torch.func cannot enter
    the derivatives (order 3-4, Fourier features), is the forward-mode one where both can."""
    from pinn_pac.runs.assemble import build_network, physics_loss
    from pinn_pac.solver.curvature import _jacobian, _Rows, _reverse_jacobian
    from pinn_pac.solver.observations import IdentificationLoss, read_observations
    from pinn_pac.solver.unknowns import Unknowns, with_unknowns

    equation = create("oscillator", zeta=0.1, omega=15.0)
    settings = Settings(width=6, depth=2, n_interior=50, n_condition=4, seed=0)
    unknowns = Unknowns(equation, ["omega"], settings.torch_dtype)
    loss = IdentificationLoss(physics_loss(with_unknowns(equation, unknowns), settings),
                              read_observations(oscillator_samples(omega=20.0), equation), unknowns, 1.0)
    rows = _Rows(loss, build_network(equation, settings))
    params = {name: p.detach() for name, p in rows.named_parameters()}
    with torch.enable_grad():
        rows()
    forward, reverse = _jacobian(rows, params), _reverse_jacobian(rows, chunk=7)
    assert forward.shape == reverse.shape and forward.shape[1] == sum(p.numel() for p in params.values())
    assert torch.allclose(forward, reverse, rtol=1e-10, atol=1e-12)
