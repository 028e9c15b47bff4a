"""--device and Settings.device: refused up front without a GPU, and every tensor a run makes
named onto the network's device (checked with torch's default device pointed elsewhere)."""

import json

import pytest
import torch

from equations import create
from pinn_pac import cli
from pinn_pac.runs import folder_jobs
from pinn_pac.runs import (
    Settings, TransferSettings, build_network, evaluate_run, physics_loss, resolve_device, save_comparison,
    transfer,
)
from pinn_pac.solver.train import Budget
from pinn_pac.transfer import METHODS

TINY = ["--width", "8", "--depth", "2", "--points", "128", "--condition-points", "32", "--quiet",
        "--derivatives", "autograd"]


@pytest.fixture
def no_gpu(monkeypatch):
    """A machine without CUDA, whatever this one has; training must not start."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for name in ("stored_solve", "transfer"):
        monkeypatch.setattr(folder_jobs, name, lambda *a, **k: pytest.fail("training started"))


@pytest.mark.parametrize("argv", [
    ["solve", "burgers", *TINY],
    ["transfer", "burgers", *TINY],
    ["evaluate", "benchmarks/results/defaults/transfer_seed0"],
])
def test_cuda_without_a_gpu_is_one_line_and_exit_2_before_any_work(argv, no_gpu, tmp_path, capsys):
    out = tmp_path / "run"
    extra = [] if argv[0] == "evaluate" else ["--out", str(out)]
    assert cli.main([*argv, *extra, "--device", "cuda"]) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        "pinn-pac: error: device cuda: torch sees no CUDA GPU on this machine; use cpu or auto"]
    assert captured.out == "" and not out.exists()


def test_auto_falls_back_to_the_cpu_and_unknown_devices_are_refused(no_gpu):
    assert Settings(device="auto").torch_device == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="device must be one of cpu, cuda, auto, got 'tpu'"):
        Settings(device="tpu")


def test_networks_and_points_are_made_on_the_settings_device(burgers, monkeypatch):
    """On a device other than the CPU ("meta", standing in for a GPU here): the same weights,
    drawn on the CPU, then moved; the points made there."""
    monkeypatch.setattr("pinn_pac.runs.config.resolve_device",
                        lambda name: torch.device("meta" if name == "cuda" else "cpu"))
    on_cpu = Settings(width=8, depth=2, n_interior=64, n_condition=16)
    elsewhere = Settings(width=8, depth=2, n_interior=64, n_condition=16, device="cuda")
    network, loss = build_network(burgers, elsewhere), physics_loss(burgers, elsewhere)
    tensors = [*network.parameters(), *network.buffers(), loss.points.interior,
               *(c.points for c in loss.points.conditions)]
    assert {t.device for t in tensors} == {torch.device("meta")}
    assert [p.shape for p in network.parameters()] == [p.shape for p in build_network(burgers, on_cpu).parameters()]


def test_every_method_trains_saves_and_reloads_with_tensors_on_the_networks_device(tmp_path):
    """With torch's default device set to "meta", a tensor made without naming the network's
    device lands there, holds no data, and fails the run. Adam is left out: torch's own Adam
    keeps its step count on the default device."""
    settings = Settings(width=8, depth=2, n_interior=128, n_condition=32, rad_every=0)
    budget = Budget(adam_steps=0, iterations=5)
    source = create("diffusion", kappa=0.1)
    phases = TransferSettings(source=budget, allocate=budget, calibrate=budget)
    torch.set_default_device("meta")
    try:
        runs = transfer(source, [source.with_coefficients(kappa=0.2)], settings, phases, tuple(METHODS),
                        progress=False)
        save_comparison(runs, tmp_path)
        reloaded = {method: evaluate_run(tmp_path / method) for method in METHODS}
    finally:
        torch.set_default_device(None)
    for run in runs:
        saved = json.loads((tmp_path / run.method.name / "results.json").read_text())
        assert [r["rel_l2"] for r in saved] == [r.rel_l2 for r in run.records]
        assert [r.rel_l2 for r in reloaded[run.method.name]] == [r.rel_l2 for r in run.records]
        assert all(0 < r.rel_l2 < 10 for r in run.records)
