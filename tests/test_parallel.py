"""Targets trained in other processes (a process pool, a local Ray) give the records that
training them in this process gives, bit for bit; thread-invariant numerics make one thread
and two agree; the command line's parallel options refuse bad input before any training."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from equations import create
from pinn_pac.runs import numerics
from pinn_pac.cli import main
from pinn_pac.runs.numerics import mode_name
from pinn_pac.runs.parallel import ProcessPool, RayTasks
from pinn_pac.runs import Settings, TransferSettings, transfer
from pinn_pac.solver.train import Budget
from pinn_pac.transfer import PAC

SETTINGS = Settings(width=8, depth=2, n_interior=200, n_condition=32, rad_every=20, rad_candidates=1000, threads=1)
BUDGETS = TransferSettings(source=Budget(20, 30, adam_lr=5e-3), allocate=Budget(0, 10), calibrate=Budget(0, 30))
SOURCE = create("burgers", nu=0.02 / math.pi)
TARGETS = [SOURCE.with_coefficients(nu=value / math.pi) for value in (0.01, 0.015, 0.03)]


def records(executor, pac: PAC | str = PAC(warm_start="zero")) -> list[dict]:
    runs = transfer(SOURCE, TARGETS, SETTINGS, BUDGETS, (pac, "lora", "parametric"), progress=False,
                    executor=executor)
    return [{k: v for k, v in record.as_dict().items() if k != "seconds"} for run in runs for record in run.records]


@pytest.fixture(scope="module")
def in_process() -> list[dict]:
    return records(None)


def test_process_pool_gives_the_same_records(in_process):
    assert records(ProcessPool(2, threads=1)) == in_process
    assert len(in_process) == 3 * 4 and all(math.isfinite(r["rel_l2"]) for r in in_process)


def test_pac_at_its_default_warm_start_starts_targets_in_workers_from_the_source(in_process):
    """"auto" is "nearest" in one process (0.01/pi starts from the calibrated 0.015/pi there);
    a worker holds only the source, so in a pool every target starts from it: the records of
    warm start "zero"."""
    def by_target(rows):
        return sorted(rows, key=lambda r: (r["method"] or "", sorted(r["coefficients"].items())))
    pooled = records(ProcessPool(2, threads=1), "pac")
    assert by_target(pooled) == by_target(in_process)
    assert by_target(records(None, "pac")) != by_target(in_process)


def test_local_ray_gives_the_same_records(in_process):
    pytest.importorskip("ray")
    assert records(RayTasks(None, threads=1, cpus=2)) == in_process


def test_a_method_whose_targets_depend_on_each_other_is_refused_in_parallel():
    with pytest.raises(ValueError, match="cannot train in parallel"):
        transfer(SOURCE, TARGETS, SETTINGS, TransferSettings(), (PAC(warm_start="nearest"),),
                 executor=ProcessPool(2, threads=1))


SOLVE = ["solve", "oscillator", "--width", "8", "--depth", "2", "--points", "300", "--condition-points", "16",
         "--adam", "20", "--iterations", "40", "--rad-every", "20", "--rad-candidates", "40000",
         "--derivatives", "autograd", "--quiet"]


def solve_error(tmp_path, threads: int, *options: str) -> float:
    """A solve in a fresh process (MKL's mode is chosen before the first product); skipped
    with its one-line reason where this CPU's MKL cannot give thread-invariant numerics."""
    out = tmp_path / f"threads{threads}{''.join(options)}"
    done = subprocess.run([sys.executable, "-m", "pinn_pac.cli", *SOLVE, "--threads", str(threads), "--out", str(out),
                           *options], capture_output=True, text=True)
    if done.returncode == 2 and "thread-invariant numerics" in done.stderr:
        pytest.skip(done.stderr.strip())
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads((out / "results.json").read_text())[0]["rel_l2"]


def test_thread_invariant_runs_agree_on_one_and_two_threads(tmp_path):
    one, two = (solve_error(tmp_path, threads, "--thread-invariant") for threads in (1, 2))
    assert one == two and math.isfinite(one)


def test_strict_mode_is_accepted_as_mkl_reports_it_on_intel_and_on_other_cpus():
    assert mode_name(0x1000A) == "AVX2,STRICT" and mode_name(0x10002) == "AUTO,STRICT"
    assert mode_name(0x2) == "AUTO" and mode_name(0xC) == "AVX512"


def test_thread_invariance_is_refused_in_one_line_where_strict_mode_does_not_hold(monkeypatch):
    if not torch.backends.mkl.is_available():
        pytest.skip("this torch has no MKL")
    monkeypatch.setenv("MKL_CBWR", "")  # restored afterwards: the refusal sets it for child processes
    monkeypatch.setattr(numerics, "_active_mode", lambda: 0x10002)
    monkeypatch.setattr(numerics, "_products_agree_on_one_and_two_threads", lambda: False)
    with pytest.raises(ValueError, match=r"^thread-invariant numerics: MKL's strict mode on this CPU "
                                         r"\(AUTO,STRICT, .+\) still gives other bits on one and two threads; run without it"):
        numerics.make_thread_invariant()
    monkeypatch.setattr(numerics, "_active_mode", lambda: 0x2)  # the first product came before
    with pytest.raises(ValueError, match="must be chosen before the process's first matrix product"):
        numerics.make_thread_invariant()


def test_command_line_workers_write_the_family_and_match_one_process(tmp_path, capsys):
    common = ["transfer", "burgers", "--source", "nu=0.02/pi", "--targets", "nu=0.01/pi..0.03/pi:3",
              "--width", "8", "--depth", "2", "--points", "200", "--condition-points", "32", "--rad-every", "20",
              "--rad-candidates", "1000", "--source-adam", "20", "--source-iterations", "30",
              "--allocate-iterations", "10", "--calibrate-iterations", "30", "--derivatives", "autograd",
              "--threads", "1", "--warm-start", "zero", "--quiet"]  # the same work in both ways
    assert main([*common, "--out", str(tmp_path / "one")]) == 0
    assert main([*common, "--workers", "2", "--out", str(tmp_path / "two")]) == 0
    capsys.readouterr()
    one, two = (json.loads((tmp_path / name / "results.json").read_text()) for name in ("one", "two"))
    assert [r["rel_l2"] for r in one] == [r["rel_l2"] for r in two]
    family = (tmp_path / "two" / "family.md").read_text()
    assert family.count("\n| nu=") == 3 and (tmp_path / "two" / "family.png").stat().st_size > 10_000


@pytest.mark.parametrize("options, message", [
    (["--workers", "0"], "--workers must be >= 1"),
    (["--workers", "2", "--ray"], "choose one"),
    (["--workers", "2", "--warm-start", "nearest"], "cannot train in parallel"),
])
def test_bad_parallel_options_are_refused_before_training(tmp_path, capsys, options, message):
    assert main(["transfer", "burgers", "--quiet", "--out", str(tmp_path / "run"), *options]) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1


def test_family_benchmark_quick_mode_runs_the_three_ways_to_identical_records(tmp_path):
    pytest.importorskip("ray")
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "family.py"
    done = subprocess.run([sys.executable, str(script), "--quick", "--derivatives", "autograd",
                           "--results", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    data = json.loads((tmp_path / "family_autograd.json").read_text())
    assert set(data["runs"]) == {"workers 1", "workers 2", "ray"}
    targets = [run["targets"] for run in data["runs"].values()]
    assert all(len(t) == 5 for t in targets)  # the source run's first target and the 4 added
    without_seconds = [[{k: v for k, v in r.items() if k != "seconds"} for r in t] for t in targets]
    assert without_seconds[1:] == [without_seconds[0]] * 2
    table = (tmp_path / "family_autograd.md").read_text()
    assert table.count("| yes |") == 2 and table.count("| (the reference) |") == 1
    assert (tmp_path / "family_autograd.png").stat().st_size > 10_000
