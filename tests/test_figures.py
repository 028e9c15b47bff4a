"""Solution figures for any number of inputs (1 to 6) and outputs (1 to 4): lines along one
input, maps over two, snapshots in time over three or more; and a run whose figures fail to
save stays resumable, --resume writing them without training again."""

import json
import math
import struct
from pathlib import Path

import numpy as np
import pytest

import pinn_pac.runs.plots as plots
from pinn_pac.cli import main
from pinn_pac.runs import evaluate_run

HEAT = '''import math

import numpy as np
import torch

from equations import Coefficient, DirichletCondition, Equation, ExactForm


def _initial(p):
    return torch.sin(math.pi * p[:, :1]) * torch.sin(math.pi * p[:, 1:2])


class Heat2D(Equation):
    name = "heat2d"
    summary = "u_t = k (u_xx + u_yy); x, y in [0, 1], t in [0, 0.2]; u = 0 on the sides"
    inputs = ("x", "y", "t")
    coefficient_specs = (Coefficient("k", 0.1, 0.0, 1.0, "the diffusivity k in (0, 1)"),)
    derivatives = ("u_t", "u_xx", "u_yy")
    example_targets = "k=0.05"
    domain = property(lambda self: {"x": (0.0, 1.0), "y": (0.0, 1.0), "t": (0.0, 0.2)})

    def conditions(self):
        zero = lambda p: 0 * p[:, :1]
        return [DirichletCondition("initial", on="t", at=(0.0,), value=_initial),
                DirichletCondition("sides x", on="x", at=(0.0, 1.0), value=zero),
                DirichletCondition("sides y", on="y", at=(0.0, 1.0), value=zero)]

    def exact_form(self):
        return ExactForm(offset=_initial,
                         factor=lambda p: p[:, 2:3] * p[:, :1] * (1 - p[:, :1]) * p[:, 1:2] * (1 - p[:, 1:2]),
                         imposes=("initial", "sides x", "sides y"))

    def residual(self, f):
        return f["u_t"] - self.coefficients["k"] * (f["u_xx"] + f["u_yy"])

    def standard_grid(self):
        return {"x": np.linspace(0, 1, 9), "y": np.linspace(0, 1, 9), "t": np.linspace(0, 0.2, 5)}

    def reference(self, grid):
        x, y, t = np.meshgrid(grid["x"], grid["y"], grid["t"], indexing="ij")
        return np.exp(-2 * math.pi ** 2 * self.coefficients["k"] * t) * np.sin(math.pi * x) * np.sin(math.pi * y)
'''
TINY = ["--width", "8", "--depth", "2", "--points", "64", "--condition-points", "8", "--quiet",
        "--derivatives", "autograd", "--threads", "1", "--rad-every", "0"]
SOLVE_BUDGET = ["--adam", "20", "--iterations", "5"]
TRANSFER_BUDGET = ["--source-adam", "20", "--source-iterations", "5", "--allocate-iterations", "5",
                   "--calibrate-iterations", "5"]
PNG = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    """Width and height of a PNG file, read from its header (which must be a PNG's)."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG and head[12:16] == b"IHDR", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def panels(figure) -> list:
    return [ax for ax in figure.axes if ax.get_label() != "<colorbar>"]


@pytest.fixture
def drawn(monkeypatch):
    """Each figure saved, kept for inspection (and still written)."""
    figures = []
    save = plots.save_figure

    def keep(figure, path):
        figures.append(figure)
        save(figure, path)

    monkeypatch.setattr(plots, "save_figure", keep)
    return figures


def synthetic(n_inputs: int, n_outputs: int, names: tuple[str, ...] | None = None):
    """A grid of `n_inputs` small axes, and a smooth reference with a prediction near it,
    indexed in the order of the inputs (a last axis of outputs where there are several)."""
    names = names or tuple(f"x{k + 1}" for k in range(n_inputs))
    sizes = (17, 13, 5, 4, 3, 3)[:n_inputs]
    grid = {name: np.linspace(0.0, 1.0 + k, size) for k, (name, size) in enumerate(zip(names, sizes))}
    mesh = np.meshgrid(*grid.values(), indexing="ij")
    base = np.sin(math.pi * mesh[0]) * np.exp(-mesh[-1]) + sum(np.cos(m) for m in mesh[1:])
    reference = np.stack([(k + 1) * base for k in range(n_outputs)], axis=-1) if n_outputs > 1 else base
    prediction = reference + 1e-3 * np.random.default_rng(0).standard_normal(reference.shape)
    return names, grid, prediction, reference


@pytest.mark.parametrize("n_inputs,n_outputs,with_reference", [
    (1, 1, True), (1, 2, True), (2, 1, True), (2, 2, True), (3, 1, True), (3, 2, True), (5, 1, True),
    (5, 2, True), (3, 4, True), (1, 2, False), (2, 2, False), (3, 1, False), (5, 2, False), (6, 4, False),
])
def test_solution_figure_for_any_number_of_inputs_and_outputs(n_inputs, n_outputs, with_reference, drawn,
                                                                tmp_path):
    names, grid, prediction, reference = synthetic(n_inputs, n_outputs)
    outputs = ("u", "v", "w", "p")[:n_outputs]
    path = tmp_path / "solution.png"
    plots.plot_solution(grid, names, prediction, reference if with_reference else None, "case", path,
                        outputs=outputs)
    width, height = png_size(path)
    assert path.stat().st_size > 10_000 and 300 < width < 2500 and 200 < height < 3500
    (figure,) = drawn
    shown = panels(figure)
    columns = (2 if with_reference else 1) if n_inputs == 1 else (3 if with_reference else 1)
    if n_inputs <= 2:
        assert len(shown) == n_outputs * columns
    elif with_reference:  # one row of three maps per output and snapshot of the last input
        snapshots = min(len(grid[names[-1]]), 4 if n_outputs <= 2 else 2)
        assert len(shown) == n_outputs * snapshots * 3
        last = names[-1]
        times = [f"{last}={v:.4g}" for v in grid[last][[0, -1]]]  # the first and last among them
        titles = [ax.get_title() for ax in shown]
        assert all(any(time in title for title in titles) for time in times)
        middle = [f"{name}={grid[name][(len(grid[name]) - 1) // 2]:.4g}" for name in names[2:-1]]
        assert all(all(fixed in title for fixed in middle) for title in titles)
    else:  # one row per output, one map per snapshot
        assert len(shown) == n_outputs * min(4, len(grid[names[-1]]))
    if n_inputs >= 2:
        assert {ax.get_xlabel() for ax in shown} == {names[0]} and {ax.get_ylabel() for ax in shown} == {names[1]}
        assert all(any(ax.get_title().startswith(output) for ax in shown) for output in outputs)


def test_snapshots_are_taken_in_time_and_maps_put_time_across(drawn, tmp_path):
    """Time is what snapshots are taken in wherever it stands among the inputs; with two
    inputs, time runs along the horizontal axis."""
    names, grid, prediction, reference = synthetic(3, 1, names=("t", "x", "y"))
    plots.plot_solution(grid, names, prediction, reference, "heat", tmp_path / "a.png")
    titles = [ax.get_title() for ax in panels(drawn[0])]
    assert titles[:3] == ["u PINN, t=0", "u reference, t=0", "|u PINN - reference|, t=0"]
    assert {ax.get_xlabel() for ax in panels(drawn[0])} == {"x"}
    names, grid, prediction, reference = synthetic(2, 1, names=("x", "t"))
    plots.plot_solution(grid, names, prediction, reference, "burgers", tmp_path / "b.png")
    assert {(ax.get_xlabel(), ax.get_ylabel()) for ax in panels(drawn[1])} == {("t", "x")}


def test_a_prediction_of_the_wrong_shape_is_refused_in_words(tmp_path):
    names, grid, prediction, reference = synthetic(3, 1)
    with pytest.raises(ValueError, match=r"shape \(17, 13\).*x1, x2, x3 is \(17, 13, 5\)"):
        plots.plot_solution(grid, names, prediction[..., 0], None, "bad", tmp_path / "bad.png")


@pytest.fixture
def heat(as_user_file) -> str:
    """The 2-D heat equation as a user's file; commands run from another working directory."""
    return as_user_file("heat2d.py", HEAT, "Heat2D")


def finished(run_dir: Path) -> list[str]:
    return json.loads((run_dir / "manifest.json").read_text())["finished"]


def test_a_three_input_family_solves_and_identifies_with_its_figures(heat, tmp_path, drawn):
    assert main(["solve", heat, *TINY, *SOLVE_BUDGET, "--out", "s"]) == 0
    out = Path("s")
    for name in ("checkpoint.pt", "results.json", "history.png", "solution.png"):
        assert (out / name).is_file()
    assert finished(out) == ["source", "solve"]
    rel_l2 = json.loads((out / "results.json").read_text())[0]["rel_l2"]
    assert 0 < rel_l2 < 0.2 and [r.rel_l2 for r in evaluate_run(out)] == [rel_l2]
    png_size(out / "solution.png")
    titles = [ax.get_title() for ax in panels(drawn[0])]
    assert titles[0] == "u PINN, t=0" and titles[-1] == "|u PINN - reference|, t=0.2" and len(titles) == 12
    assert main(["predict", "s", "--grid", "x=0:1:5,y=0:1:5,t=0:0.2:3", "--out", "u.npz"]) == 0
    assert np.load("u.npz")["u"].shape == (5, 5, 3)

    rng = np.random.default_rng(0)
    x, y, t = rng.uniform(0, 1, 40), rng.uniform(0, 1, 40), rng.uniform(0, 0.2, 40)
    u = np.exp(-2 * math.pi ** 2 * 0.1 * t) * np.sin(math.pi * x) * np.sin(math.pi * y)
    np.savez("data.npz", x=x, y=y, t=t, u=u)
    assert main(["identify", heat, "--k", "0.08", "--data", "data.npz", "--unknowns", "k", *TINY,
                 "--adam", "20", "--iterations", "5", "--out", "i"]) == 0
    for name in ("checkpoint.pt", "results.json", "unknowns.png", "data_fit.png", "solution.png"):
        assert (Path("i") / name).is_file()


def fail_figures(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("figure failed")

    monkeypatch.setattr("pinn_pac.runs.reports.plot_solution", broken)


def test_a_solve_whose_figures_fail_resumes_without_training_again(heat, monkeypatch, capsys):
    out = Path("s")
    with monkeypatch.context() as patch:
        fail_figures(patch)
        with pytest.raises(RuntimeError, match="figure failed"):
            main(["solve", heat, *TINY, *SOLVE_BUDGET, "--out", str(out)])
    assert finished(out) == ["source"] and not (out / "checkpoint.pt").exists()
    saved = json.loads((out / "results.json").read_text())
    assert [r.rel_l2 for r in evaluate_run(out)] == [saved[0]["rel_l2"]]  # the trained network is kept

    def no_training(*args, **kwargs):
        raise AssertionError("trained again")

    with monkeypatch.context() as patch:
        patch.setattr("pinn_pac.runs.solve_job.train", no_training)
        assert main(["solve", "--resume", str(out), "--quiet"]) == 0
    assert finished(out) == ["source", "solve"]
    assert json.loads((out / "results.json").read_text()) == saved  # the same record, seconds included
    png_size(out / "solution.png")
    assert (out / "checkpoint.pt").is_file() and not any((out / "state").glob("*.pt"))
    capsys.readouterr()
    assert main(["solve", "--resume", str(out), "--quiet"]) == 2
    assert "is finished" in capsys.readouterr().err


def test_a_transfer_whose_figures_fail_resumes_and_writes_them(heat, monkeypatch):
    out = Path("t")
    command = ["transfer", heat, "--source", "k=0.1", "--targets", "k=0.05", *TINY, *TRANSFER_BUDGET]
    with monkeypatch.context() as patch:
        fail_figures(patch)
        with pytest.raises(RuntimeError, match="figure failed"):
            main([*command, "--out", str(out)])
    assert not (out / "checkpoint.pt").exists()
    assert main(["transfer", "--resume", str(out), "--quiet"]) == 0
    for name in ("checkpoint.pt", "results.json", "family.md", "solution_source.png", "solution_target_k=0.05.png"):
        assert (out / name).is_file()
    png_size(out / "solution_target_k=0.05.png")
