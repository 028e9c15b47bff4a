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
from pinn_pac.runs.reduced_basis import ReheadedNetwork
from pinn_pac.runs.reload import load_runs, saved_settings
from pinn_pac.runs.predict import load_model
from pinn_pac.solver.evaluate import Evaluator

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
    assert len(parts) == 2 and all(isinstance(p, ReheadedNetwork) for p in parts)
    eager = replace(settings, derivative_method="autograd")
    direct = float(physics_loss(target, eager, n_interior=300)(answer.network).detach())
    assert answer.loss == pytest.approx(direct, rel=1e-9)
    assert answer.loss < answer.start_loss


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
