"""Any coefficient between a family's members answered by the reduced basis over them
(`pinn_pac.runs.family_answer`), and `pinn-pac predict --model NAME=X [--tolerance T]`."""

import json
import math
import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch

import equations
from equations.errors import InputError
from pinn_pac.cli import main
from pinn_pac.runs.assemble import physics_loss
from pinn_pac.runs.config import Settings
from pinn_pac.runs.family_answer import answer_from_family
from pinn_pac.runs.reduced_basis import CombinedNetwork, MemberBasis
from pinn_pac.runs.reload import load_runs, saved_settings
from pinn_pac.runs.predict import load_model
from pinn_pac.solver.evaluate import Evaluator

from test_identify import family_run  # noqa: F401 (a fixture: a three-member Burgers family)
from test_predict import transfer_run  # noqa: F401 (a fixture: a two-member Burgers family)

SOFT = Settings(conditions="soft", n_condition=64, derivative_method="autograd")


class ExactDiffusion(torch.nn.Module):
    """The diffusion family's exact solution at one kappa, as a member's network."""

    def __init__(self, kappa: float) -> None:
        super().__init__()
        self.kappa = kappa

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        x, t = points[:, :1], points[:, 1:2]
        return sum(a * torch.sin(n * math.pi * x) * torch.exp(-self.kappa * (n * math.pi) ** 2 * t)
                   for n, a in equations.diffusion.MODES)


def exact_members(kappas):
    return [(equations.create("diffusion", kappa=k), ExactDiffusion(k)) for k in kappas]


def test_the_answer_minimises_the_members_own_physics_loss_over_their_combinations():
    target = equations.create("diffusion", kappa=0.1)
    answer = answer_from_family(target, exact_members([0.05, 0.08, 0.125, 0.2]), SOFT, points=500)
    # The affine shortcut computes the same loss as the physics loss of the combined network
    # on the same points (residual and both soft conditions).
    eager = Settings(conditions="soft", n_condition=64, derivative_method="autograd")
    direct = float(physics_loss(target, eager, n_interior=500)(answer.network).detach())
    assert answer.loss == pytest.approx(direct, rel=1e-9)
    assert answer.loss < answer.start_loss / 100


def test_exact_members_answer_a_coefficient_between_them_far_better_than_their_secant():
    target = equations.create("diffusion", kappa=0.1)
    members = exact_members([0.05, 0.08, 0.125, 0.2])
    answer = answer_from_family(target, members, SOFT)
    evaluator = Evaluator(target, conditions="soft")
    error = evaluator(answer.network).rel_l2
    secant = answer_from_family(target, members[1:3], SOFT)  # two members: the basis is their line
    assert error < 1e-3 and error < evaluator(secant.network).rel_l2 / 10
    # The indicator (the distance to the secant start) is an upper estimate of the error here.
    assert answer.indicator > error


def test_trained_members_features_give_the_loss_the_answer_network_has_under_the_exact_form(transfer_run):  # noqa: F811
    """With networks for members, the basis holds their last hidden features, each one's fields
    taken from one pass of the member's hidden layers and posed through Burgers' exact form:
    the loss the fit reports is the physics loss of the network it returns (autograd)."""
    loaded = load_runs(transfer_run)[0]
    settings = saved_settings(loaded.metadata)
    members = [(equation, network) for _, equation, network, _ in loaded.models]
    target = members[0][0].with_coefficients(nu=0.07 / math.pi)
    answer = answer_from_family(target, members, settings, points=300)
    parts = list(answer.network.networks)
    # Both members are among the two nearest: the features of their last two hidden layers.
    assert len(parts) == 2 and all(isinstance(p, CombinedNetwork) for p in parts)
    assert all([len(net.affine_layers()) for net in p.networks] == [3, 2] for p in parts)  # a 2x8 network
    eager = replace(settings, derivative_method="autograd")
    direct = float(physics_loss(target, eager, n_interior=300)(answer.network).detach())
    assert answer.loss == pytest.approx(direct, rel=1e-9)
    assert answer.loss < answer.start_loss


def test_a_members_weights_in_its_basis_give_back_the_member_with_deeper_features_at_zero(transfer_run):  # noqa: F811
    _, _, network, _ = load_runs(transfer_run)[0].models[0]
    points = torch.rand(50, 2, dtype=torch.float64) * 2 - 1
    for layers in (0, 1, 2):
        basis = MemberBasis(network, layers=layers)
        again = basis.network_of(basis.weights_of(torch.tensor(0.7, dtype=torch.float64)))
        assert torch.allclose(again(points), 0.7 * network(points), rtol=1e-13, atol=1e-15)
    assert len(MemberBasis(network, layers=2).functions) == 2 * 9  # two layers of 8 features and a constant each


def test_coefficients_outside_the_members_or_too_few_members_are_refused():
    members = exact_members([0.05, 0.2])
    with pytest.raises(InputError, match=r"kappa=0.3 is outside the family's members \(kappa 0.05 to 0.2\)"):
        answer_from_family(equations.create("diffusion", kappa=0.3), members, SOFT)
    with pytest.raises(InputError, match="two or more"):
        answer_from_family(equations.create("diffusion", kappa=0.1), members[:1], SOFT)


def test_predict_answers_a_coefficient_between_members_with_exact_conditions_and_an_indicator(
        transfer_run, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "u.npz"
    assert main(["predict", str(transfer_run), "--model", "nu=0.07/pi", "--grid", "x=-1:1:5,t=0:1:3",
                 "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "answered burgers(nu=0.0222817) from the family's 2 members" in said and "estimated rel L2" in said
    data = np.load(out)
    # Burgers' exact form holds for any combination: u(0, x) = -sin(pi x) to round-off.
    assert np.abs(data["u"][:, 0] + np.sin(np.pi * data["x"])).max() < 1e-15
    model = load_model(transfer_run, "nu=0.07/pi")
    assert model.role == "family answer" and model.answer.indicator > 0
    assert len(json.loads((transfer_run / "results.json").read_text())) == 2  # the run is unchanged


def test_predict_refuses_a_coefficient_outside_the_family_in_one_line(transfer_run, tmp_path, capsys):  # noqa: F811
    assert main(["predict", str(transfer_run), "--model", "nu=0.2/pi", "--grid", "x=-1:1:5,t=0:1:3",
                 "--out", str(tmp_path / "u.npz")]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "outside the family's members" in error
    assert main(["predict", str(transfer_run), "--model", "nu=0.07/pi", "--tolerance", "0", "--grid",
                 "x=-1:1:5,t=0:1:3", "--out", str(tmp_path / "u.npz")]) == 2
    assert "--tolerance must be > 0" in capsys.readouterr().err


def test_predict_above_the_tolerance_calibrates_a_member_and_the_family_grows(transfer_run, tmp_path, capsys):  # noqa: F811
    run = tmp_path / "family"
    shutil.copytree(transfer_run, run)
    out = tmp_path / "u.npz"
    assert main(["predict", str(run), "--model", "nu=0.07/pi", "--tolerance", "1e-12", "--grid",
                 "x=-1:1:5,t=0:1:3", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "above --tolerance 1e-12: calibrating a member there" in said and "of the target burgers(nu=0.0222817)" in said
    records = json.loads((run / "results.json").read_text())
    assert [r["coefficients"]["nu"] for r in records][-1] == pytest.approx(0.07 / math.pi)
    member = load_model(run, "nu=0.07/pi")
    assert member.role == "target" and member.answer is None
    data = np.load(out)
    x, t = np.meshgrid(data["x"], data["t"], indexing="ij")
    assert np.array_equal(data["u"], member({"x": x, "t": t})["u"])  # what was written is the new member's


def test_the_family_search_finds_a_coefficient_between_exact_members_from_data():
    from pinn_pac.runs.identify_job import search_family
    from pinn_pac.solver.observations import read_observations

    truth = equations.create("diffusion", kappa=0.1)
    grid = truth.standard_grid()
    values = truth.reference(grid)
    rng = np.random.default_rng(0)
    i, j = rng.integers(0, len(grid["x"]), 500), rng.integers(0, len(grid["t"]), 500)
    data = {"x": np.asarray(grid["x"])[i], "t": np.asarray(grid["t"])[j], "u": values[i, j]}
    guess = equations.create("diffusion", kappa=0.15)
    members = exact_members([0.05, 0.08, 0.125, 0.2])
    value, misfit, note = search_family(members, guess, "kappa", read_observations(data, guess), SOFT)
    assert value == pytest.approx(0.1, rel=1e-3)
    assert "family answers between 4 members" in note
    # Better than any member's own fit (the nearest, 0.08 and 0.125, are 20-25% off).
    from pinn_pac.runs.identify_job import member_misfit
    observations = read_observations(data, guess)
    assert misfit < min(member_misfit(n, m, "soft", observations) for m, n in members) / 100


def test_identify_from_a_run_starts_from_the_coefficient_its_family_answers_best(transfer_run, tmp_path, capsys):  # noqa: F811
    """Data drawn from the family's own answer at nu = 0.07/pi (between its members 0.05/pi and
    0.1/pi): the search finds it again, and identify starts there."""
    points = {"x": np.linspace(-0.9, 0.9, 40).repeat(10), "t": np.tile(np.linspace(0.05, 0.95, 10), 40)}
    model = load_model(transfer_run, "nu=0.07/pi")
    np.savez(tmp_path / "data.npz", **points, u=model(points)["u"])
    assert main(["identify", "burgers", "--from", str(transfer_run), "--unknowns", "nu", "--data",
                 str(tmp_path / "data.npz"), "--iterations", "1", "--quiet", "--out", str(tmp_path / "id")]) == 0
    printed = capsys.readouterr().out
    assert "searched in the family of" in printed
    started = json.loads((tmp_path / "id" / "results.json").read_text())["started_from"]
    assert started["role"] == "family answer" and "family answers between 2 members" in started["searched"]
    assert started["coefficients"]["nu"] == pytest.approx(0.07 / math.pi, rel=2e-3)
    assert started["misfit"] < min(started["misfits"].values())


def test_evaluate_family_answers_the_whole_range_and_draws_it(family_run, capsys):  # noqa: F811
    from pinn_pac.runs.assemble import evaluator_for

    assert main(["evaluate", str(family_run), "--family"]) == 0
    printed = capsys.readouterr().out
    rows = [line.split(" | ") for line in printed.splitlines() if line.startswith("| 0.")]
    assert len(rows) == 24 and "24 coefficients between the 3 members of pac" in printed
    values = [float(row[0].strip("| ")) for row in rows]
    assert values == sorted(values) and 0.02 / math.pi < values[0] and values[-1] < 0.1 / math.pi
    assert np.allclose(np.diff(values), (0.1 - 0.02) / math.pi / 25, rtol=1e-3)  # evenly: a factor of 5 is linear
    model = load_model(family_run, f"nu={values[3]!r}")
    settings = saved_settings(load_runs(family_run)[0].metadata)
    error = evaluator_for(model.equation, settings)(model.network).rel_l2
    assert rows[3][1] == f"{error:.2e}" and rows[3][2] == f"{model.answer.indicator:.2e}"
    assert (family_run / "family_range.png").stat().st_size > 10_000


def test_evaluate_family_needs_three_members_differing_in_one_coefficient(transfer_run, capsys):  # noqa: F811
    assert main(["evaluate", str(transfer_run), "--family"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "three or more members" in error and "has 2 members" in error


def test_network_fields_are_made_once_per_network_and_point_set():
    from pinn_pac.runs.reduced_basis import NetworkFields

    kept, made = NetworkFields(), []
    points = torch.rand(10, 2, dtype=torch.float64)
    first, second = ExactDiffusion(0.1), ExactDiffusion(0.2)

    def make(network, at):
        return lambda: made.append(network) or {"u": network(at)}

    for _ in range(2):
        assert torch.equal(kept.get(first, ("u",), points, make(first, points))["u"], first(points))
        kept.get(second, ("u",), points, make(second, points))
    assert made == [first, second]
    moved = points + 1.0  # other points: made again
    assert torch.equal(kept.get(first, ("u",), moved, make(first, moved))["u"], first(moved))
    assert made == [first, second, first]


def test_a_transfer_run_learns_its_familys_indicator_once_and_answers_take_it_from_there(
        family_run, transfer_run):  # noqa: F811
    from pinn_pac.runs.family_answer import FAMILY_INDICATOR

    assert FAMILY_INDICATOR not in load_runs(transfer_run)[0].metadata  # two members: neither lies between others
    loaded = load_runs(family_run)[0]
    learned = loaded.metadata[FAMILY_INDICATOR]
    members = [(equation, network) for _, equation, network, _ in loaded.models]
    assert learned["members"] == [equations.coefficient_key(m) for m, _ in members]
    values = [m.coefficients["nu"] for m, _ in members]
    inside = [min(values) < v < max(values) for v in values]
    assert [ratio is not None for ratio in learned["ratios"]] == inside and any(inside)
    settings = saved_settings(loaded.metadata)
    target = members[0][0].with_coefficients(nu=0.05 / math.pi)
    taken = answer_from_family(target, members, settings, learned=learned)
    again = answer_from_family(target, members, settings)  # learned here: the same ratios, from the reloaded run
    assert taken.indicator == pytest.approx(again.indicator, rel=1e-9) and taken.loss == again.loss
    other = {**learned, "members": learned["members"][:-1]}  # learned of other members: not taken
    assert answer_from_family(target, members, settings, learned=other).indicator == again.indicator
    doubled = {**learned, "ratios": [None if r is None else 2 * r for r in learned["ratios"]]}
    assert answer_from_family(target, members, settings, learned=doubled).indicator == pytest.approx(
        2 * again.indicator, rel=1e-12)
