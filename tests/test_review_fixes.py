"""Review issue 37, scenarios 7 and 8: an unknown at its range bound, every method named in a
comparison table, NaN errors told apart from a missing reference, a reference zero everywhere,
and nearest members chosen whatever the members' order."""

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

import pinn_pac.runs.identify_job as identify_job
import pinn_pac.runs.reports as reports
from equations import Equation, create
from equations.burgers import Burgers
from pinn_pac.cli import main
from pinn_pac.cli.identify import format_identified
from pinn_pac.cli.jobs import format_table
from pinn_pac.runs import Record, Settings, build_network
from pinn_pac.runs.identify_job import IdentifyRun
from pinn_pac.solver.evaluate import Evaluator
from pinn_pac.solver.unknowns import Unknowns
from pinn_pac.transfer import METHODS
from pinn_pac.transfer.nearest import nearest_member, two_nearest

TINY = ["--width", "8", "--depth", "2", "--points", "128", "--condition-points", "32", "--quiet",
        "--derivatives", "autograd", "--threads", "1"]


# --- A: an unknown that reaches its range bound ---------------------------------------------

@pytest.mark.parametrize("dtype, raw", [(torch.float64, 40.0), (torch.float32, 17.0), (torch.float64, -800.0)])
def test_an_unknown_at_its_bound_is_held_just_inside_and_named(dtype, raw):
    unknowns = Unknowns(create("oscillator"), ["zeta", "omega"], dtype)
    with torch.no_grad():
        unknowns.raw[0].fill_(raw)
    zeta = unknowns.values()["zeta"]
    assert 0.0 < zeta < 1.0 and zeta == (math.nextafter(1.0, 0.0) if raw > 0 else math.nextafter(0.0, 1.0))
    assert unknowns.at_bound() == ["zeta"]
    create("oscillator", **unknowns.values())  # a member of the family


@pytest.fixture
def driven_to_the_bound(monkeypatch):
    """Training that ends with the first unknown's raw parameter at 40 (float64 sigmoid: 1)."""
    train = identify_job.train

    def to_the_bound(network, loss, parameters, *args, **kwargs):
        result = train(network, loss, parameters, *args, **kwargs)
        with torch.no_grad():
            loss.unknowns.raw[0].fill_(40.0)
        return result

    monkeypatch.setattr(identify_job, "train", to_the_bound)


def test_identify_keeps_a_fit_that_reached_a_bound_and_warns(driven_to_the_bound, tmp_path, capsys):
    t = np.linspace(0, 1, 50)
    data = tmp_path / "data.npz"
    np.savez(data, t=t, u=create("oscillator").reference({"t": t}))
    out = tmp_path / "run"
    assert main(["identify", "oscillator", "--data", str(data), "--unknowns", "zeta", *TINY,
                 "--adam", "2", "--iterations", "0", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    assert results["identified"]["zeta"] == math.nextafter(1.0, 0.0) and results["at_bound"] == ["zeta"]
    assert [line for line in printed.splitlines() if "bound" in line] == [
        "warning: zeta reached a bound of its range (0, 1): the fit is kept, held just inside it, "
        "but the data may want a value beyond; widen the range"]
    assert main(["evaluate", str(out)]) == 0  # the saved fit reloads


# --- B: every block of a comparison names its method ----------------------------------------

def _records(methods: list[str]) -> list[Record]:
    return [Record("burgers", {"nu": nu}, role, 1e-3, 1e-2, 10, None, "reloaded", method)
            for method in methods for nu, role in ((0.01, "source"), (0.02, "target"))]


def test_a_table_of_several_methods_names_each_block():
    """`pinn-pac evaluate` of a --method all folder: the line above each method's source row names it."""
    lines = format_table(_records(list(METHODS))).splitlines()
    above = [lines[k - 1].split() for k, line in enumerate(lines) if line.split()[1:2] == ["source"]]
    assert len(above) == len(METHODS) and all(method in words for method, words in zip(METHODS, above))


def test_a_table_of_one_method_is_as_before():
    assert "pac" not in format_table(_records(["pac"]))


# --- C: NaN on the grid is "nan"; "n/a" only without a reference ----------------------------

class Unreferenced(Burgers):
    reference = Equation.reference


def _identified(evaluator) -> IdentifyRun:
    """An identification whose error on the grid is NaN, with `evaluator` as its reference."""
    blank = {field.name: None for field in dataclasses.fields(IdentifyRun)}
    return IdentifyRun(**{**blank, "identified": {"nu": 0.01}, "start": {"nu": 0.02},
                          "standard_errors": "not asked for", "data_misfit": 1e-3, "residual_loss": 1e-3,
                          "held_out_loss": 1e-3, "seconds": 1.0, "observations": {}, "at_bound": [],
                          "evaluator": evaluator, "rel_l2": math.nan})


def test_identify_prints_a_nan_error_as_nan_and_n_a_only_without_a_reference():
    assert "at the identified coefficients nan;" in format_identified(_identified(Evaluator(create("burgers"))))
    for evaluator in (None, Evaluator(Unreferenced())):
        assert "at the identified coefficients n/a (no reference);" in format_identified(_identified(evaluator))


def _nan_network(equation):
    network = build_network(equation, Settings(width=8, depth=2))
    with torch.no_grad():
        next(network.parameters()).fill_(math.nan)
    return network


def test_a_solution_figure_titles_a_nan_error_nan_and_n_a_only_without_a_reference(monkeypatch, tmp_path):
    titles = []
    monkeypatch.setattr(reports, "plot_solution", lambda *args, **kwargs: titles.append(args[4]))
    for equation in (create("burgers"), Unreferenced()):
        reports.plot_model(Evaluator(equation), _nan_network(equation), "u", tmp_path / "u.png")
    assert titles == ["u (relative L2 nan)", "u (relative L2 n/a)"]


# --- D: a reference zero everywhere -----------------------------------------------------------

STILL = """
import numpy as np
from equations.burgers import Burgers


class Still(Burgers):
    name = "still"

    def reference(self, grid):
        return np.zeros((len(grid["x"]), len(grid["t"])))
"""


def test_a_reference_zero_everywhere_is_refused_in_one_line_before_training(tmp_path, capsys):
    (tmp_path / "still.py").write_text(STILL)
    out = tmp_path / "run"
    assert main(["solve", f"{tmp_path / 'still.py'}:Still", *TINY, "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "zero everywhere on the grid" in error
    assert not any(out.iterdir())


# --- E: the nearest member does not depend on the members' order ----------------------------

def test_the_nearest_member_does_not_depend_on_the_members_order():
    source = create("burgers", nu=1.0)
    member = {nu: source.with_coefficients(nu=nu) for nu in (1.0, 1.5, 2.0, 2.5, 3.0)}
    below, above = member[1.5], member[2.5]
    assert nearest_member(member[2.0], [below, above], source) is below
    assert nearest_member(member[2.0], [above, below], source) is below
    assert two_nearest(member[2.0], [above, member[3.0], below], source) == (below, above)
    assert two_nearest(member[2.0], [below, member[3.0], above], source) == (below, above)
    # The source, first or not, is kept on a tie (a target trained before is no nearer).
    assert nearest_member(member[1.5], [member[2.0], source], source) is source
