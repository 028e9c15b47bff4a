"""`pinn-pac predict` and `pinn_pac.runs.predict`: a saved model's u and derivatives at the user's points."""

import json
import math

import numpy as np
import pytest

import equations
from pinn_pac.cli import main
from pinn_pac.solver.evaluate import Evaluator
from pinn_pac.runs.predict import load_model, predict

TINY = ["--width", "8", "--depth", "2", "--points", "128", "--condition-points", "32", "--quiet",
        "--derivatives", "autograd"]
STANDARD_GRID = "x=-1:1:256,t=0:0.99:100"


@pytest.fixture(scope="module")
def solve_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "solve"
    assert main(["solve", "burgers", "--nu", "0.05/pi", *TINY, "--adam", "30", "--iterations", "10",
                 "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def transfer_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "transfer"
    assert main(["transfer", "burgers", "--source", "nu=0.05/pi", "--targets", "nu=0.1/pi", "--ratio", "0.5",
                 *TINY, "--source-adam", "30", "--source-iterations", "10", "--allocate-iterations", "5",
                 "--calibrate-iterations", "10", "--out", str(out)]) == 0
    return out



@pytest.mark.parametrize("run, model, row", [
    ("solve_run", None, 0), ("transfer_run", None, 0), ("transfer_run", "source", 0),
    ("transfer_run", "nu=0.1/pi", 1), ("transfer_run", "nu=0.031831", 1),
])
def test_predict_at_the_reference_grid_gives_the_error_evaluate_measured(run, model, row, request, tmp_path):
    run_dir = request.getfixturevalue(run)
    out = tmp_path / "u.npz"
    assert main(["predict", str(run_dir), "--grid", STANDARD_GRID, "--out", str(out),
                 *(["--model", model] if model else [])]) == 0
    record = json.loads((run_dir / "results.json").read_text())[row]
    data = np.load(out)
    assert sorted(data.files) == ["t", "u", "x"] and data["u"].shape == (256, 100)
    evaluator = Evaluator(equations.create("burgers", **record["coefficients"]), {"x": data["x"], "t": data["t"]})
    network = load_model(run_dir, model).network
    assert np.array_equal(data["u"], evaluator.predict(network))  # what evaluate measured, bit for bit
    assert evaluator(network).rel_l2 == record["rel_l2"]


def test_source_and_target_predictions_differ(transfer_run):
    points = {"x": np.array([-0.5, 0.25]), "t": np.array([0.3, 0.8])}
    source, target = (predict(transfer_run, points, model)["u"] for model in ("source", "nu=0.1/pi"))
    assert np.abs(source - target).max() > 1e-6


def test_derivatives_agree_with_finite_differences_and_exact_conditions_hold(solve_run):
    model = load_model(solve_run)
    assert model.conditions == "exact"
    rng = np.random.default_rng(0)
    x, t = rng.uniform(-0.9, 0.9, (4, 5)), rng.uniform(0.1, 0.9, (4, 5))
    values = model({"x": x, "t": t}, ["u_x", "u_xx", "u_t", "u_x"])
    assert set(values) == {"u", "u_x", "u_xx", "u_t"} and values["u_xx"].shape == (4, 5)

    def u(dx=0.0, dt=0.0):
        return model({"x": x + dx, "t": t + dt})["u"]

    h = 1e-4
    np.testing.assert_allclose(values["u_x"], (u(h) - u(-h)) / (2 * h), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(values["u_t"], (u(dt=h) - u(dt=-h)) / (2 * h), rtol=1e-6, atol=1e-7)
    h = 1e-3
    np.testing.assert_allclose(values["u_xx"], (u(h) - 2 * u() + u(-h)) / h**2, rtol=1e-5, atol=1e-5)
    initial = model({"x": x, "t": np.zeros_like(x)})["u"]  # u = -sin(pi x) + t (1 - x^2) N
    np.testing.assert_allclose(initial, -np.sin(math.pi * x), rtol=0, atol=1e-15)


def test_points_file_round_trip(solve_run, tmp_path):
    points = {"x": np.linspace(-1, 1, 7), "t": np.full(7, 0.5)}
    np.savez(tmp_path / "points.npz", **points)
    assert main(["predict", str(solve_run), "--points", str(tmp_path / "points.npz"), "--derivatives", "u_x",
                 "--out", str(tmp_path / "out.npz")]) == 0
    data = np.load(tmp_path / "out.npz")
    assert sorted(data.files) == ["t", "u", "u_x", "x"]
    np.testing.assert_array_equal(data["x"], points["x"])
    expected = predict(solve_run, points, derivatives=["u_x"])
    np.testing.assert_array_equal(data["u"], expected["u"])
    np.testing.assert_array_equal(data["u_x"], expected["u_x"])


@pytest.mark.parametrize("arrays, message", [
    ({"x": np.zeros(3)}, "points need one array per input, x, t: missing t"),
    ({"x": np.zeros(3), "t": np.zeros(3), "y": np.zeros(3)}, "extra y"),
    ({"x": np.zeros(3), "t": np.zeros(4)}, "differ in shape: x (3,), t (4,)"),
    ({"x": np.array([0.0, np.nan, np.inf]), "t": np.zeros(3)}, "x holds nan or inf at 2 of 3 points"),
    ({"x": np.array(["a"]), "t": np.zeros(1)}, "x holds <U1, not real numbers"),
    ({"x": np.array([None], dtype=object), "t": np.zeros(1)}, "Object arrays cannot be loaded"),
    ({"x": np.zeros(0), "t": np.zeros(0)}, "hold 0 points"),
    ("not an archive", "is not an .npz file"),
])
def test_bad_points_files_get_a_one_line_error(solve_run, tmp_path, capsys, arrays, message):
    path = tmp_path / "points.npz"
    if isinstance(arrays, str):
        path.write_text(arrays)
    else:
        np.savez(path, **arrays)
    assert main(["predict", str(solve_run), "--points", str(path), "--out", str(tmp_path / "out.npz")]) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and len(error.splitlines()) == 1, error
    assert not (tmp_path / "out.npz").exists()


@pytest.mark.parametrize("options, message", [
    (["--grid", "x=-1:1:3"], "write x=low:high:count,t=low:high:count"),
    (["--grid", "x=-1:1:3,t=0:1:1"], "count must be >= 2, or 1 with low == high"),
    (["--grid", "x=-1:1:10000,t=0:1:10000"], "100,000,000 points; at most 10,000,000"),
    (["--grid", "x=0:0:1,t=0:0:1", "--derivatives", "u_y"], "cannot read derivative 'u_y'"),
    (["--grid", "x=0:0:1,t=0:0:1", "--model", "nu=0.2/pi"], "outside the family's members (nu 0.0159155 to 0.031831)"),
    (["--points", "/nonexistent.npz"], "no points file at /nonexistent.npz"),
])
def test_bad_grids_models_and_derivatives_get_a_one_line_error(transfer_run, tmp_path, capsys, options, message):
    assert main(["predict", str(transfer_run), *options, "--out", str(tmp_path / "out.npz")]) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and len(error.splitlines()) == 1, error


def test_a_system_gets_one_array_per_output(tmp_path):
    run_dir = tmp_path / "lv"
    assert main(["solve", "lotka-volterra", *TINY, "--adam", "20", "--iterations", "5", "--out", str(run_dir)]) == 0
    record = json.loads((run_dir / "results.json").read_text())[0]
    equation = equations.create("lotka-volterra", **record["coefficients"])
    grid = equation.standard_grid()
    values = predict(run_dir, grid, derivatives=["v_t"])
    assert sorted(values) == ["u", "v", "v_t"] and values["v"].shape == (201,)
    evaluator = Evaluator(equation, grid)
    assert np.array_equal(np.stack([values["u"], values["v"]], axis=-1), evaluator.predict(load_model(run_dir).network))
