"""A reference given as values at the family's own points (a finite-element solution read from a
file): errors at those points, the solution figure on their triangulation, bad values refused."""

import json
import textwrap

import numpy as np
import pytest
import torch

from pinn_pac.cli import main
from pinn_pac.runs.point_panels import _snapshots
from pinn_pac.runs.predict import load_model
from pinn_pac.solver.posing import Posing

FILE = '''
import numpy as np
import torch

from equations import BoundaryCondition, Coefficient, DirichletCondition, Disk, Equation, Rectangle, Region


def exact(x, y, t):
    return np.sin(x) * np.sin(y) * np.exp(-2 * t) + 1


def mesh_points():
    """Nodes of a mesh of the plate with a hole: a lattice inside, the hole's rim as a polygon
    of 48 sides with its chords' mid-points (slightly inside the hole), at 3 times."""
    xs = np.linspace(0, 1, 15)
    lattice = np.array([(x, y) for x in xs for y in xs if np.hypot(x - 0.5, y - 0.5) > 0.25])
    angles = np.linspace(0, 2 * np.pi, 49)[:-1]
    rim = 0.5 + 0.2 * np.c_[np.cos(angles), np.sin(angles)]
    chords = (rim + np.roll(rim, -1, axis=0)) / 2
    plane = np.concatenate([lattice, rim, chords])
    return np.concatenate([np.c_[plane, np.full(len(plane), t)] for t in (0.0, 0.5, 1.0)])


class PlateHeat(Equation):
    name = "plate-heat"
    summary = "u_t = u_xx + u_yy on the unit square minus a disk; u given on its boundary"
    inputs = ("x", "y", "t")
    coefficient_specs = (Coefficient("a", 1.0, 0.0, 2.0, "a"),)
    derivatives = ("u_t", "u_xx", "u_yy")
    example_targets = "a=1.1"

    def region(self):
        shape = Rectangle((0, 0), (1, 1), name="plate") - Disk((0.5, 0.5), 0.2, name="hole")
        return Region(shape, ("x", "y"), {"t": (0.0, 1.0)})

    def conditions(self):
        value = lambda p: torch.sin(p[:, :1]) * torch.sin(p[:, 1:2]) * torch.exp(-2 * p[:, 2:]) + 1
        return [DirichletCondition("initial", on="t", at=(0.0,), value=value), BoundaryCondition("walls", value=value)]

    def residual(self, f):
        return f["u_t"] - (f["u_xx"] + f["u_yy"])

    def standard_grid(self):
        return {"x": np.linspace(0, 1, 5), "y": np.linspace(0, 1, 5), "t": np.linspace(0, 1, 3)}

    def reference_values(self):
        points = mesh_points()
        return {values}
'''


def _family(tmp_path, values="points, exact(*points.T)"):
    path = tmp_path / "plate_heat.py"
    path.write_text(textwrap.dedent(FILE.replace("{values}", values)))
    return f"{path}:PlateHeat"


def test_errors_are_taken_at_the_reference_s_own_points_and_drawn_on_their_triangulation(tmp_path):
    spec, out = _family(tmp_path), tmp_path / "run"
    assert main(["solve", spec, "--adam", "30", "--iterations", "5", "--points", "500", "--quiet",
                 "--out", str(out)]) == 0
    (record,) = json.loads((out / "results.json").read_text())
    namespace: dict = {}
    exec(compile((tmp_path / "plate_heat.py").read_text(), "plate_heat", "exec"), namespace)
    points = namespace["mesh_points"]()
    truth = namespace["exact"](*points.T)
    model = load_model(out)
    with torch.no_grad():
        predicted = Posing(model.equation, model.conditions).predict(model.network, torch.tensor(points))
    predicted = predicted.numpy()[:, 0]  # the chords' mid-points just inside the hole count too
    # predict speaks for every point the error is taken at, the chords' mid-points included
    assert np.array_equal(model({"x": points[:, 0], "y": points[:, 1], "t": points[:, 2]})["u"], predicted)
    error = np.linalg.norm(predicted - truth) / np.linalg.norm(truth)
    assert record["rel_l2"] == pytest.approx(error, rel=1e-10)
    assert 0 < record["rel_l2"] < 1
    assert (out / "solution.png").stat().st_size > 10_000

    written = tmp_path / "reference.npz"
    assert main(["reference", spec, "--out", str(written)]) == 0
    saved = np.load(written)
    assert sorted(saved.files) == ["t", "u", "x", "y"] and np.array_equal(saved["u"], truth)


@pytest.mark.parametrize("values, message", [
    ("np.c_[points, points[:, :1]], exact(*points.T)", "points must be (N, 3)"),
    ("points, exact(*points.T)[:-1]", "values must be"),
    ("points, np.where(points[:, 0] > 0.9, np.nan, exact(*points.T))", "finite"),
    ("points + [0, 0, 2], exact(*points.T)", "lie outside the domain (first: x=0, y=0, t=2)"),
    ("np.r_[points, [[0.5, 0.5, 0.0]]], np.r_[exact(*points.T), 1.0]", "1 of 853 points lie outside"),
])
def test_bad_reference_values_are_refused_in_one_line_before_any_training(values, message, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["solve", _family(tmp_path, values), "--quiet", "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and "reference_values" in error and len(error.splitlines()) == 1, error
    assert not out.exists()


def test_a_grid_is_refused_for_a_reference_given_at_points(tmp_path, capsys):
    assert main(["reference", _family(tmp_path), "--grid", "3,3,3", "--out", str(tmp_path / "u.npz")]) == 2
    assert "at its own points" in capsys.readouterr().err


def test_snapshots_are_taken_where_the_points_repeat_in_time():
    times = np.repeat([0.0, 0.25, 0.5, 0.75, 1.0], 10)
    groups = _snapshots(times, "t", 4)
    assert [where for _, where in groups] == ["t=0", "t=0.25", "t=0.75", "t=1"]
    assert all(len(rows) == 10 and np.all(times[rows] == times[rows[0]]) for rows, _ in groups)
    scattered = np.linspace(0, 1, 50)
    (only,) = _snapshots(scattered, "t", 4)
    assert only[1] == "every t" and len(only[0]) == 50
