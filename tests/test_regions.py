"""Families on regions (a shape times intervals): Dirichlet data built in exactly on curved
boundaries, Neumann and Robin terms along the normal, errors over the grid points inside, a
hole's radius as the coefficient a transfer moves, and bad regions refused in one line."""

import math
import textwrap

import numpy as np
import pytest
import torch

from equations import coefficient_key
from equations.errors import InputError
from equations import Ball, BoundaryCondition, Coefficient, DirichletCondition, Disk, Equation, Polygon, Rectangle, Region
from pinn_pac.cli import main
from pinn_pac.solver.evaluate import Evaluator
from pinn_pac.solver.loss import PhysicsLoss
from pinn_pac.solver.model import MLP
from pinn_pac.solver.posing import Posing
from pinn_pac.solver.sampling import domain_box, sample_points


def manufactured(p):
    """u = sin(2x) + y^2: -laplace(u) = 4 sin(2x) - 2."""
    return torch.sin(2 * p[:, :1]) + p[:, 1:2] ** 2


class PlateWithHole(Equation):
    """-laplace(u) = f on the unit square minus a disk; u given on the sides and on the hole."""

    name = "plate-with-hole"
    summary = "-laplace(u) = f on [0,1]^2 minus a disk of radius r; u given on the sides and the hole"
    inputs = ("x", "y")
    coefficient_specs = (Coefficient("r", 0.2, 0.05, 0.4, "the hole's radius r in (0.05, 0.4)"),)
    derivatives = ("u_xx", "u_yy")
    example_targets = "r=0.15"

    def region(self):
        return Region(Rectangle((0, 0), (1, 1), name="plate") - Disk((0.5, 0.5), self.coefficients["r"], name="hole"),
                      ("x", "y"))

    def conditions(self):
        return [BoundaryCondition("sides", on=("plate",), value=manufactured),
                BoundaryCondition("hole", on=("hole",), value=lambda p: manufactured(p) + 1.0)]

    def residual(self, f):
        return -(f["u_xx"] + f["u_yy"]) - (4 * torch.sin(2 * f["x"]) - 2)

    def standard_grid(self):
        return {"x": np.linspace(0, 1, 21), "y": np.linspace(0, 1, 21)}

    def reference_at(self, points):
        return np.sin(2 * points[:, 0]) + points[:, 1] ** 2


class HeatInDisk(Equation):
    """u_t = laplace(u) on the unit disk over t in [0, 1]: u0 on it, Dirichlet on the circle."""

    name = "heat-in-disk"
    summary = "u_t = laplace(u) on the unit disk x [0, 1]"
    inputs = ("x", "y", "t")
    coefficient_specs = (Coefficient("k", 1.0, 0.0, 2.0, "k"),)
    derivatives = ("u_t", "u_xx", "u_yy")
    example_targets = "k=0.5"

    def region(self):
        return Region(Disk(name="rim"), ("x", "y"), {"t": (0.0, 1.0)})

    def conditions(self):
        return [DirichletCondition("initial", on="t", at=(0.0,), value=lambda p: 1 + p[:, :1] * p[:, 1:2]),
                BoundaryCondition("rim", value=lambda p: 1 + p[:, :1] * p[:, 1:2] + p[:, 2:] ** 2)]

    def residual(self, f):
        return f["u_t"] - self.coefficients["k"] * (f["u_xx"] + f["u_yy"])

    def standard_grid(self):
        return {"x": np.linspace(-1, 1, 5), "y": np.linspace(-1, 1, 5), "t": np.linspace(0, 1, 3)}


def _network(equation, posing):
    lower, upper = (torch.tensor(bound) for bound in domain_box(equation))
    return MLP(lower, upper, len(equation.outputs), width=16, depth=2, generator=torch.Generator().manual_seed(0),
               periodic=posing.periodic_inputs)


def _on(equation, condition_name, n=400):
    (points,) = [c for c in sample_points(equation, 16, n, seed=3).conditions if c.condition.name == condition_name]
    return points


def test_dirichlet_data_hold_to_round_off_on_a_curved_hole_and_on_straight_sides():
    equation = PlateWithHole()
    posing = Posing(equation, "exact")
    assert posing.built.form is not None and set(posing.built.form.imposes) == {"sides", "hole"}
    network = _network(equation, posing)
    for name in ("sides", "hole"):
        points = _on(equation, name)
        with torch.no_grad():
            miss = (posing.predict(network, points.points) - points.values).abs().max()
        assert float(miss) < 1e-12, (name, float(miss))
    # inside, u moves with the network: the form does not pin it
    inside = sample_points(equation, 64, 4, seed=0).interior
    with torch.no_grad():
        assert float((posing.predict(network, inside) - manufactured(inside)).abs().max()) > 1e-3


def test_initial_and_boundary_data_of_a_region_over_time_are_both_built_in():
    equation = HeatInDisk()
    posing = Posing(equation, "exact")
    assert set(posing.built.form.imposes) == {"initial", "rim"}
    network = _network(equation, posing)
    for name in ("initial", "rim"):
        points = _on(equation, name)
        with torch.no_grad():
            miss = (posing.predict(network, points.points) - points.values).abs().max()
        assert float(miss) < 1e-12, (name, float(miss))
    rim = _on(equation, "rim").points
    assert torch.allclose(rim[:, :2].norm(dim=1), torch.ones(len(rim), dtype=rim.dtype), atol=1e-12)


class Quadratic(torch.nn.Module):
    """u = x^2 + y^2 whatever its weights: a network with known derivatives."""

    def forward(self, points):
        return (points[:, :2] ** 2).sum(dim=1, keepdim=True)


class DiskWithFlux(Equation):
    name = "disk-with-flux"
    summary = "laplace(u) = 4 on the unit disk; du/dn and du/dn + 3u given on halves of the circle"
    inputs = ("x", "y")
    coefficient_specs = (Coefficient("g", 2.0, -10.0, 10.0, "the flux g"),)
    derivatives = ("u_xx", "u_yy")
    example_targets = "g=1"

    def region(self):
        return Region(Disk(name="rim"), ("x", "y"))

    def conditions(self):
        g = self.coefficients["g"]
        return [
            BoundaryCondition("upper", kind="neumann", where=lambda p: p[:, 1] > 0,
                              value=lambda p: torch.full_like(p[:, :1], g)),
            BoundaryCondition("lower", kind="robin", alpha=3.0, where=lambda p: p[:, 1] <= 0,
                              value=lambda p: torch.full_like(p[:, :1], g + 3.0)),
        ]

    def residual(self, f):
        return f["u_xx"] + f["u_yy"] - 4

    def standard_grid(self):
        return {"x": np.linspace(-1, 1, 5), "y": np.linspace(-1, 1, 5)}


def test_neumann_and_robin_terms_compare_the_normal_derivative_on_their_part_of_the_boundary():
    equation = DiskWithFlux()
    loss = PhysicsLoss(equation, sample_points(equation, 64, 256, seed=0), conditions="exact")
    assert set(loss.posing.built.soft) == {"upper", "lower"}  # nothing to build in: both stay soft
    upper = _on(equation, "upper").points
    assert bool((upper[:, 1] > 0).all())
    terms = {name: float(value.detach()) for name, value in loss.terms(Quadratic()).items()}
    assert terms["residual"] < 1e-24
    assert terms["upper"] < 1e-24 and terms["lower"] < 1e-24  # du/dn = 2, u = 1 on the circle
    other = equation.with_coefficients(g=1.0)
    terms = PhysicsLoss(other, sample_points(other, 64, 256, seed=0)).terms(Quadratic())
    assert math.isclose(float(terms["upper"].detach()), 1.0, rel_tol=1e-12)
    assert math.isclose(float(terms["lower"].detach()), 1.0, rel_tol=1e-12)


def test_errors_are_taken_over_the_grid_points_inside_the_region():
    equation = PlateWithHole()
    evaluator = Evaluator(equation)
    grid = np.stack(np.meshgrid(np.linspace(0, 1, 21), np.linspace(0, 1, 21), indexing="ij"), axis=-1)
    outside = np.hypot(grid[..., 0] - 0.5, grid[..., 1] - 0.5) < 0.2 - 1e-9
    assert np.isnan(evaluator.reference[outside]).all() and np.isfinite(evaluator.reference[~outside]).all()
    posing = Posing(equation, "exact")
    prediction = evaluator.predict(_network(equation, posing))
    assert np.isnan(prediction[outside]).all()
    error = (prediction - evaluator.reference)[~outside]
    expected = np.linalg.norm(error) / np.linalg.norm(evaluator.reference[~outside])
    assert math.isclose(evaluator.metrics(prediction).rel_l2, expected, rel_tol=1e-12)


FILE = '''
import numpy as np
import torch
from equations import BoundaryCondition, Coefficient, Disk, Equation, Polygon, Rectangle, Region


class Bad(Equation):
    name = "bad"
    summary = "a region that cannot be trained on"
    inputs = ("x", "y")
    coefficient_specs = (Coefficient("a", 1.0, 0.0, 2.0, "a"),)
    derivatives = ("u_xx", "u_yy")
    example_targets = "a=0.5"

    def region(self):
        return Region({shape}, ("x", "y"))

    def conditions(self):
        return [BoundaryCondition("edge", on={on}, value=lambda p: torch.zeros_like(p[:, :1]))]

    def residual(self, f):
        return f["u_xx"] + f["u_yy"]

    def standard_grid(self):
        return {{"x": np.linspace(-1, 1, 5), "y": np.linspace(-1, 1, 5)}}
'''


@pytest.mark.parametrize("shape, on, message", [
    ("Disk((0, 0), 0.5) - Disk((0, 0), 1.0, name='big')", "()", "empty"),
    ("Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])", "()", "cross"),
    ("Rectangle((0, 0), (1, 1), name='plate') - Disk((0.5, 0.5), 0.2, name='hole')", "('holes',)",
     "no boundary piece 'holes'"),
])
def test_a_bad_region_is_refused_in_one_line_before_any_training(shape, on, message, tmp_path, capsys):
    path = tmp_path / "bad.py"
    path.write_text(textwrap.dedent(FILE.format(shape=shape, on=on)))
    assert main(["solve", f"{path}:Bad", "--quiet", "--out", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and len(error.splitlines()) == 1, error
    assert not (tmp_path / "run").exists()


def test_a_ball_in_five_dimensions_gives_boundary_points_on_its_sphere_with_outward_normals():
    class OnBall(DiskWithFlux):
        inputs = ("a", "b", "c", "d", "e")
        derivatives = ("u_aa",)

        def region(self):
            return Region(Ball((0.0,) * 5, 2.0, name="sphere"), self.inputs)

        def conditions(self):
            return [BoundaryCondition("sphere", kind="neumann", value=lambda p: torch.zeros_like(p[:, :1]))]

    (points,) = sample_points(OnBall(), 32, 100, seed=0).conditions
    assert len(points.points) >= 100
    radii = points.points.norm(dim=1)
    assert torch.allclose(radii, torch.full_like(radii, 2.0), atol=1e-12)
    assert torch.allclose(points.normals, points.points / 2, atol=1e-12)


def test_a_holes_radius_is_a_coefficient_pac_net_transfers_with_the_source_kept_exactly(tiny_settings):
    from pinn_pac.runs import TransferSettings, solve, transfer
    from pinn_pac.runs.config import Budget
    from pinn_pac.transfer import PAC

    source = PlateWithHole()
    targets = [source.with_coefficients(r=0.15), source.with_coefficients(r=0.3)]
    budgets = TransferSettings(source=Budget(30, 10), allocate=Budget(0, 5), calibrate=Budget(0, 10))
    source_run = solve(source, tiny_settings, budgets.source, progress=False)
    (run,) = transfer(source, targets, tiny_settings, budgets, (PAC(),), progress=False, source_run=source_run)
    allocated = run.records[0].rel_l2
    assert math.isfinite(allocated)
    assert [record.source_rel_l2_after for record in run.records[1:]] == [allocated, allocated]
    for record, target in zip(run.records[1:], targets):  # calibrated on its own region, measured on it
        assert math.isfinite(record.rel_l2)
        loss = run.histories[f"pac {coefficient_key(target)}"].loss
        assert loss[-1] < loss[0]


def test_a_hole_s_normal_points_into_it_for_neumann_data():
    class Annulus(DiskWithFlux):
        def region(self):
            return Region(Disk(radius=2.0, name="rim") - Disk(radius=1.0, name="hole"), ("x", "y"))

        def conditions(self):  # u = x^2 + y^2: du/dn = -2 |x| on the hole (n towards its centre)
            return [BoundaryCondition("hole", on=("hole",), kind="neumann", value=lambda p: -2 + 0 * p[:, :1])]

    loss = PhysicsLoss(Annulus(), sample_points(Annulus(), 64, 256, seed=0))
    assert float(loss.terms(Quadratic())["hole"].detach()) < 1e-24


def test_reference_and_predict_say_nothing_outside_the_region(tmp_path):
    from pinn_pac.runs.predict import SavedModel

    equation = PlateWithHole()
    posing = Posing(equation, "exact")
    model = SavedModel("source", equation, _network(equation, posing), "exact")
    values = model({"x": np.array([0.5, 0.1]), "y": np.array([0.5, 0.1])})["u"]  # the hole's centre, the plate
    assert np.isnan(values[0]) and np.isfinite(values[1])
    path = tmp_path / "u.npz"
    file = tmp_path / "plate.py"
    file.write_text("import numpy as np\nimport torch\nfrom equations import *\n" + _source_of_plate())
    assert main(["reference", f"{file}:PlateWithHole", "--out", str(path)]) == 0
    saved = np.load(path)
    assert np.isnan(saved["u"]).sum() == int((~Evaluator(equation).inside).sum()) > 0


def test_predict_and_data_accept_the_band_a_reference_s_points_may_use_outside_a_curved_boundary():
    from pinn_pac.runs.predict import SavedModel
    from pinn_pac.solver.evaluate import NEAR_BOUNDARY
    from pinn_pac.solver.observations import DataError, read_observations

    equation = PlateWithHole()
    model = SavedModel("source", equation, _network(equation, Posing(equation, "exact")), "exact")
    size = equation.region().shape.size()
    # On the hole's rim's normal through (0.5, 0.7): just inside the hole by half the band, and by twice it.
    y = 0.7 - np.array([0.5, 2.0]) * NEAR_BOUNDARY * size
    values = model({"x": np.full(2, 0.5), "y": y})["u"]
    assert np.isfinite(values[0]) and np.isnan(values[1])
    x = np.linspace(0.45, 0.55, 10)  # ten points along the rim's top, each half the band inside the hole
    rim = 0.5 + np.sqrt(0.2**2 - (x - 0.5) ** 2)
    data = {"x": x, "y": rim - 0.5 * NEAR_BOUNDARY * size, "u": np.ones(10)}
    assert len(read_observations(data, equation).points) == 10
    with pytest.raises(DataError, match="10 of 10 data points lie outside the region"):
        read_observations({**data, "y": rim - 2 * NEAR_BOUNDARY * size}, equation)


def _source_of_plate() -> str:
    import inspect

    return inspect.getsource(manufactured) + "\n\n" + inspect.getsource(PlateWithHole)


def test_at_a_re_entrant_corner_the_distance_factor_follows_the_corner_s_singular_power():
    corners = [(0, 0), (1, 0), (1, -1), (-1, -1), (-1, 1), (0, 1)]
    for order in (corners, corners[::-1]):  # clockwise, then counterclockwise
        class LShape(PlateWithHole):
            def region(self, order=order):
                return Region(Polygon(order, name="l"), ("x", "y"))

            def conditions(self):
                return [BoundaryCondition("walls", value=lambda p: 0 * p[:, :1])]

        form = Posing(LShape(), "exact").form
        bisector = torch.tensor([[-1.0, -1.0]], dtype=torch.float64) / math.sqrt(2)  # into the domain from (0, 0)
        near = [float(form.factor(r * bisector)) for r in (1e-6, 1e-4)]
        assert near[0] > 0 and math.isclose(near[1] / near[0], 100 ** (2 / 3), rel_tol=1e-3)  # r^(pi / omega)
        around = sample_points(LShape(), 4000, 4, seed=0).interior
        around = around[around.norm(dim=1) < 0.5]  # within the bend's cutoff
        assert len(around) > 100 and float(form.factor(around).min()) > 0
        edges = torch.tensor([[0.5, 0.0], [0.0, 0.5], [-1.0, 0.3], [0.3, -1.0]], dtype=torch.float64)
        assert float(form.factor(edges).abs().max()) < 1e-12


def test_a_transfer_on_a_region_killed_midway_resumes_to_the_same_records(tmp_path, killed_at, monkeypatch):
    import json

    file = tmp_path / "plate.py"
    file.write_text("import numpy as np\nimport torch\nfrom equations import *\n" + _source_of_plate())
    monkeypatch.chdir(tmp_path)
    command = ["transfer", f"{file}:PlateWithHole", "--targets", "r=0.15,r=0.3", "--width", "8", "--depth", "2",
               "--points", "128", "--condition-points", "16", "--quiet", "--threads", "1", "--rad-every", "0",
               "--source-adam", "30", "--source-iterations", "10", "--allocate-iterations", "5",
               "--calibrate-iterations", "10"]
    assert main([*command, "--out", "whole"]) == 0
    with killed_at(lambda piece, _: piece.startswith("pac/r=0.15")):
        main([*command, "--out", "run"])
    assert main(["transfer", "--resume", "run", "--quiet"]) == 0

    def records(folder):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in json.loads((tmp_path / folder / "results.json").read_text())]

    assert records("run") == records("whole") and len(records("whole")) == 3


def test_data_inside_a_region_are_read_and_data_outside_it_are_refused_in_one_line():
    from pinn_pac.solver.observations import DataError, read_observations

    equation = HeatInDisk()
    angles = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    arrays = {"x": np.cos(angles), "y": np.sin(angles), "t": np.full(12, 1.0 + 1e-12), "u": np.ones(12)}
    assert len(read_observations(arrays, equation).points) == 12  # on the rim, and at t = 1 within tolerance
    arrays["x"], arrays["y"] = np.full(12, 0.9), np.full(12, -0.9)  # in the bounding box, outside the disk
    with pytest.raises(DataError, match="12 of 12 data points lie outside the region"):
        read_observations(arrays, equation)


def test_soft_boundary_terms_are_balanced_on_the_compiled_derivative_path(tmp_path):
    import inspect
    import json

    robin = """

class CoolingDisk(HeatInDisk):
    def conditions(self):
        return [DirichletCondition("initial", on="t", at=(0.0,), value=lambda p: 1 + 0 * p[:, :1]),
                BoundaryCondition("rim", kind="robin", alpha=1.0, value=lambda p: 0 * p[:, :1])]
"""
    file = tmp_path / "disk.py"
    file.write_text("import numpy as np\nimport torch\nfrom equations import *\n\n" + inspect.getsource(HeatInDisk) + robin)
    assert main(["solve", f"{file}:CoolingDisk", "--balance", "--derivatives", "compiled", "--width", "8",
                 "--depth", "2", "--points", "128", "--condition-points", "16", "--adam", "120", "--iterations", "5",
                 "--rad-every", "0", "--quiet", "--out", str(tmp_path / "run")]) == 0
    (history,) = json.loads((tmp_path / "run" / "history.json").read_text()).values()
    assert set(history["terms"]) == {"residual", "rim"}


def test_a_boundary_condition_gets_points_at_the_interior_spacing_on_a_space_time_region():
    equation = HeatInDisk()  # the unit disk times t in [0, 1]: volume pi, the rim's surface 2 pi
    spacing = (math.pi / 8000) ** (1 / 3)
    conditions = {c.condition.name: c for c in sample_points(equation, 8000, 64, seed=0).conditions}
    assert len(conditions["initial"].points) == 64  # a face condition keeps n_condition
    rim = len(conditions["rim"].points)
    assert abs(rim - 2 * math.pi / spacing**2) < 0.01 * rim  # ~1,170: denser than 64
    radii = conditions["rim"].points[:, :2].norm(dim=1)
    assert torch.allclose(radii, torch.ones_like(radii), atol=1e-12)
    assert len(_on(equation, "rim", n=4000).points) == 4000  # never fewer than asked
    assert abs(Disk(radius=0.5).volume() - math.pi / 4) < 1e-3 * math.pi / 4


def test_stacked_losses_refuse_members_whose_boundary_counts_differ():
    from pinn_pac.solver.loss import StackedPhysicsLoss

    losses = [PhysicsLoss(m, sample_points(m, 4000, 16, seed=0), conditions="soft")
              for m in (PlateWithHole(), PlateWithHole().with_coefficients(r=0.3))]
    assert len(losses[0].points.conditions[1].points) != len(losses[1].points.conditions[1].points)
    with pytest.raises(InputError, match="same point counts"):
        StackedPhysicsLoss(losses)
