"""Every training phase keeps its state as it goes: a run killed inside a quasi-Newton phase
resumes to the bits of an uninterrupted one (parameters, optimizer, points, random streams,
history)."""

import json
import math
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

from equations import create
from pinn_pac.cli import main
from pinn_pac.runs import Settings, build_network, evaluate_run, physics_loss
from pinn_pac.runs.checkpoint import load_checkpoint
from pinn_pac.runs.store import STATE_EVERY, FileTrainingState
from pinn_pac.solver.train import Budget, TrainingState, train

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--width", "8", "--depth", "2", "--points", "128", "--condition-points", "32", "--quiet",
        "--derivatives", "autograd", "--threads", "1", "--rad-every", "100", "--rad-candidates", "1000"]
ITERATIONS = 4 * STATE_EVERY  # states are kept at 1, 2 and 3 times STATE_EVERY


class Killed(BaseException):
    """Stands for a SIGKILL: nothing after it runs, and nothing catches it."""


class MemoryState(TrainingState):
    """A training state kept in memory; kills the phase after its `kill_after`-th save."""

    def __init__(self, every: int, kill_after: int | None = None, saved: dict | None = None) -> None:
        super().__init__(every)
        self.kill_after, self.saved, self.saves = kill_after, saved, 0

    def load(self):
        return self.saved

    def save(self, state):
        self.saved, self.saves = state, self.saves + 1
        if self.saves == self.kill_after:
            raise Killed


@pytest.mark.parametrize("optimizer", ["ssbroyden", "lbfgs"])
def test_a_phase_killed_after_a_kept_state_goes_on_to_the_same_bits(optimizer):
    burgers = create("burgers", nu=0.05 / math.pi)
    settings = Settings(width=8, depth=2, n_interior=128, n_condition=32, conditions="soft", balance=True,
                        causal=1.0, rad_every=30, rad_candidates=600)
    budget = Budget(adam_steps=20, iterations=150, optimizer=optimizer)

    def run(state):
        network = build_network(burgers, settings)
        result = train(network, physics_loss(burgers, settings), network.parameters(), budget, progress=False,
                       state=state)
        return [p.detach().clone() for p in network.parameters()], result.history

    whole, whole_history = run(MemoryState(every=40))
    killed = MemoryState(every=40, kill_after=2)
    with pytest.raises(Killed):
        run(killed)
    assert 40 <= killed.saved["done"] < budget.iterations  # L-BFGS keeps it at the end of a chunk
    resumed, history = run(MemoryState(every=40, saved=killed.saved))
    assert all(torch.equal(a, b) for a, b in zip(whole, resumed))
    assert history.loss == whole_history.loss and history.step == whole_history.step
    assert history.terms == whole_history.terms


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_gpu_phase_resumed_from_a_state_loaded_on_the_cpu_goes_on_on_the_gpu_to_the_same_bits(tmp_path):
    """A run folder's checkpoints load on the CPU; a phase on the GPU takes up such a state."""
    burgers = create("burgers", nu=0.05 / math.pi)
    settings = Settings(width=8, depth=2, n_interior=128, n_condition=32, conditions="soft", rad_every=30,
                        rad_candidates=600, device="cuda")
    budget = Budget(adam_steps=20, iterations=150)

    def run(state):
        network = build_network(burgers, settings)
        train(network, physics_loss(burgers, settings), network.parameters(), budget, progress=False, state=state)
        return [p.detach().clone() for p in network.parameters()]

    whole = run(MemoryState(every=40))
    killed = MemoryState(every=40, kill_after=2)
    with pytest.raises(Killed):
        run(killed)
    kept = FileTrainingState(tmp_path / "state.pt", every=40)
    kept.save(killed.saved)
    assert kept.load()["optimizer"]["inverse_hessian"].device.type == "cpu"
    resumed = run(kept)
    assert all(p.device.type == "cuda" for p in resumed)
    assert all(torch.equal(a, b) for a, b in zip(whole, resumed))


def _results(run_dir: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in json.loads((run_dir / "results.json").read_text())]


def _histories(run_dir: Path) -> dict:
    return {label: {k: v for k, v in h.items() if k != "seconds"}
            for label, h in json.loads((run_dir / "history.json").read_text()).items()}


@contextmanager
def killed_inside_a_phase(monkeypatch, piece: str, done: int):
    """Kill the run (raise Killed, as a SIGKILL would end it) as the phase that makes `piece`
    keeps its state at `done` iterations: a hook in the state keeper, not a timer."""
    save = FileTrainingState.save

    def saving(state, payload):
        save(state, payload)
        if state.path.name == f"{piece}.pt" and payload["done"] == done:
            raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(FileTrainingState, "save", saving)
        with pytest.raises(Killed):
            yield


SOLVE = ["solve", "burgers", "--nu", "0.05/pi", *TINY, "--adam", "20", "--iterations", str(ITERATIONS)]


@pytest.fixture(scope="module")
def whole_solve(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("solve") / "whole"
    assert main([*SOLVE, "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("kill_at", [STATE_EVERY, 2 * STATE_EVERY, 3 * STATE_EVERY])
def test_solve_killed_inside_its_quasi_newton_phase_resumes_to_the_same_bits(whole_solve, kill_at, tmp_path,
                                                                             monkeypatch):
    out = tmp_path / "killed"
    with killed_inside_a_phase(monkeypatch, "solve", kill_at):
        main([*SOLVE, "--out", str(out)])
    assert load_checkpoint(out / "state" / "solve.pt")["done"] == kill_at and not (out / "results.json").exists()
    assert main(["solve", "--resume", str(out), "--quiet"]) == 0
    assert _results(out) == _results(whole_solve) and _histories(out) == _histories(whole_solve)
    assert not (out / "state").exists() or not any((out / "state").iterdir())
    assert [r.rel_l2 for r in evaluate_run(out)] == [r["rel_l2"] for r in _results(out)]


@pytest.mark.parametrize("report", ["plot_histories", "save_checkpoint"])
def test_solve_killed_while_it_saves_its_reports_resumes_to_the_same_bits(whole_solve, report, tmp_path,
                                                                          monkeypatch):
    import pinn_pac.runs.reports

    out = tmp_path / "killed"
    with monkeypatch.context() as patch:
        patch.setattr(pinn_pac.runs.reports, report, lambda *a, **k: (_ for _ in ()).throw(Killed()))
        with pytest.raises(Killed):
            main([*SOLVE, "--out", str(out)])
    assert main(["solve", "--resume", str(out), "--quiet"]) == 0
    assert _results(out) == _results(whole_solve) and _histories(out) == _histories(whole_solve)


TRANSFER = ["transfer", "burgers", "--source", "nu=0.05/pi", "--targets", "nu=0.1/pi,nu=0.03/pi", *TINY,
            "--source-adam", "20", "--source-iterations", "50", "--allocate-iterations", "20",
            "--calibrate-iterations", str(ITERATIONS), "--warm-start", "zero"]  # every target a quasi-Newton phase


@pytest.fixture(scope="module")
def whole_transfer(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("transfer") / "whole"
    assert main([*TRANSFER, "--out", str(out)]) == 0
    return out


def test_transfer_killed_inside_a_targets_calibration_resumes_to_the_same_bits(whole_transfer, tmp_path,
                                                                             monkeypatch):
    out = tmp_path / "killed"
    with killed_inside_a_phase(monkeypatch, "nu=0.031831", 2 * STATE_EVERY):
        main([*TRANSFER, "--out", str(out)])
    assert json.loads((out / "manifest.json").read_text())["finished"] == ["source", "pac/prepared"]
    assert main(["transfer", "--resume", str(out), "--quiet"]) == 0
    assert _results(out) == _results(whole_transfer) and _histories(out) == _histories(whole_transfer)


def test_transfer_killed_while_it_saves_its_family_resumes_to_the_same_bits(whole_transfer, tmp_path, monkeypatch):
    import pinn_pac.runs.folder_jobs

    out = tmp_path / "killed"
    with monkeypatch.context() as patch:
        patch.setattr(pinn_pac.runs.folder_jobs, "save_family", lambda *a, **k: (_ for _ in ()).throw(Killed()))
        with pytest.raises(Killed):
            main([*TRANSFER, "--out", str(out)])
    assert not json.loads((out / "manifest.json").read_text())["finished"][-1] == "transfer"
    assert main(["transfer", "--resume", str(out), "--quiet"]) == 0
    assert _results(out) == _results(whole_transfer) and _histories(out) == _histories(whole_transfer)
    assert (out / "family.md").is_file()
