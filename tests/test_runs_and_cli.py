"""End to end through the command line: solve, transfer, evaluate, reference, bad input."""

import errno
import json
import math
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from equations import Burgers
import pinn_pac.runs.solve_job
from pinn_pac.runs import folder_jobs
from pinn_pac.runs.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from pinn_pac.cli import main
from pinn_pac.runs.numerics import CROSS_MACHINE_ATOL, machine, reload_tolerance
from pinn_pac.runs import evaluate_run
from pinn_pac.runs.store import read_payloads
from pinn_pac.transfer import METHODS

# Tiny runs take the autograd derivatives: "compiled" (the command-line default) spends
# seconds compiling per network shape. The transfer fixture below runs the default end to end.
TINY_DEFAULTS = ["--width", "8", "--depth", "2", "--points", "128", "--condition-points", "32", "--quiet"]
TINY = [*TINY_DEFAULTS, "--derivatives", "autograd"]


@pytest.fixture(scope="module")
def transfer_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "transfer"
    code = main(["transfer", "burgers", "--source", "nu=0.05/pi", "--targets", "nu=0.1/pi,nu=0.03/pi",
                 "--ratio", "0.5", *TINY_DEFAULTS, "--source-adam", "60", "--source-iterations", "40",
                 "--allocate-iterations", "20", "--calibrate-iterations", "20", "--out", str(out)])
    assert code == 0
    return out


def test_transfer_writes_results_checkpoint_and_figures(transfer_run, capsys):
    records = json.loads((transfer_run / "results.json").read_text())
    assert [r["role"] for r in records] == ["source", "target", "target"]
    assert records[1]["coefficients"] == {"nu": pytest.approx(0.1 / math.pi)}
    for record in records:
        for key in ("equation", "coefficients", "role", "rel_l2", "max_abs_err", "trainable_params", "seconds"):
            assert key in record
        assert math.isfinite(record["rel_l2"])
    assert records[0]["rel_l2_after_calibration"] == records[0]["rel_l2"]
    assert records[1]["trainable_params"] == records[2]["trainable_params"] > 0
    for name in ("history.png", "solution_source.png", "checkpoint.pt"):
        assert (transfer_run / name).stat().st_size > 1000
    assert len(list(transfer_run.glob("solution_target_*.png"))) == 2
    history = json.loads((transfer_run / "history.json").read_text())
    assert [" ".join(label.split()[:2]) for label in history] == [
        "source nu=0.0159155", "pac prepare", "pac nu=0.031831", "pac nu=0.0095493"]
    assert all(len(h["rel_l2"]) == len(h["seconds"]) > 1 for h in history.values())


def test_checkpoint_round_trip_reproduces_every_error(transfer_run):
    saved = json.loads((transfer_run / "results.json").read_text())
    reloaded = evaluate_run(transfer_run)
    assert [r.rel_l2 for r in reloaded] == [r["rel_l2"] for r in saved]
    assert [r.trainable_params for r in reloaded] == [r["trainable_params"] for r in saved]
    metadata = load_checkpoint(transfer_run)
    assert metadata["equation"] == "burgers" and metadata["seed"] == 0 and metadata["dtype"] == "float64"
    assert {"torch", "numpy", "scipy", "pinn_pac"} <= set(metadata["versions"])


RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
COMMITTED_RUNS = sorted(path.parent for path in RESULTS.rglob("checkpoint.pt"))


def reloads_to(run_dir: Path, saved: list[dict], tolerance: float) -> bool:
    """Whether every model of `run_dir` re-evaluates to the `saved` records: bit for bit
    (tolerance 0) or within `tolerance`, absolute, in rel L2 and max error alike."""
    reloaded = evaluate_run(run_dir)
    if [(r.role, r.trainable_params) for r in reloaded] != [(r["role"], r.get("trainable_params", m.trainable_params))
                                                            for r, m in zip(saved, reloaded)]:
        return False
    measured = [value for r in reloaded for value in (r.rel_l2, r.max_abs_err)]
    expected = [value for r in saved for value in (r["rel_l2"], r["max_abs_err"])]
    return measured == (pytest.approx(expected, rel=0, abs=tolerance) if tolerance else expected)


def test_the_committed_runs_are_there():
    assert len(COMMITTED_RUNS) >= 37


@pytest.mark.parametrize("run_dir", COMMITTED_RUNS, ids=[str(p.relative_to(RESULTS)) for p in COMMITTED_RUNS])
def test_every_committed_run_reloads_to_its_results_json(run_dir):
    """Exactly where the run recorded this machine's numerics (CPU, MKL path, torch), else
    within the measured cross-machine tolerance (see `numerics`)."""
    saved = json.loads((run_dir / "results.json").read_text())
    if isinstance(saved, dict):  # an identify run: one network, at the coefficients it found
        saved = [{"role": "identified", "rel_l2": saved["rel_l2"], "max_abs_err": saved["max_abs_err"]}]
    assert reloads_to(run_dir, saved, reload_tolerance(next(iter(read_payloads(run_dir).values()))))


def test_a_run_reloads_exactly_here_and_within_the_tolerance_where_it_names_another_cpu(transfer_run, tmp_path):
    saved = json.loads((transfer_run / "results.json").read_text())
    metadata = load_checkpoint(transfer_run)
    assert metadata["machine"] == machine() and reload_tolerance(metadata) == 0.0
    assert reloads_to(transfer_run, saved, 0.0)
    off_by_a_bit = [{**r, "rel_l2": r["rel_l2"] + 1e-15} for r in saved]
    assert not reloads_to(transfer_run, off_by_a_bit, 0.0)  # the exact path sees one bit
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    save_checkpoint(moved / "checkpoint.pt", {**metadata, "machine": {"cpu": "Intel Xeon (family 6, model 143)",
                                                                     "mkl_path": "AVX512"}})
    assert reload_tolerance(load_checkpoint(moved)) == CROSS_MACHINE_ATOL
    assert reloads_to(moved, off_by_a_bit, CROSS_MACHINE_ATOL)
    assert not reloads_to(moved, [{**r, "max_abs_err": r["max_abs_err"] + 10 * CROSS_MACHINE_ATOL} for r in saved],
                          CROSS_MACHINE_ATOL)


def test_evaluate_command_prints_the_table(transfer_run, capsys):
    assert main(["evaluate", str(transfer_run)]) == 0
    output = capsys.readouterr().out
    assert output.count("target") == 2 and "source" in output


def test_solve_command(tmp_path, capsys):
    out = tmp_path / "solve"
    assert main(["solve", "burgers", "--nu", "0.05/pi", *TINY, "--adam", "30", "--iterations", "10", "--out", str(out)]) == 0
    record = json.loads((out / "results.json").read_text())[0]
    assert record["coefficients"]["nu"] == pytest.approx(0.05 / math.pi)
    assert "rel L2" in capsys.readouterr().out
    assert evaluate_run(out)[0].rel_l2 == record["rel_l2"]


def test_reference_command_writes_the_standard_grid(tmp_path):
    out = tmp_path / "ref.npz"
    assert main(["reference", "burgers", "--nu", "0.01/pi", "--out", str(out)]) == 0
    data = np.load(out)
    assert data["x"].shape == (256,) and data["t"].shape == (100,) and data["u"].shape == (256, 100)
    assert data["t"][-1] == pytest.approx(0.99)
    np.testing.assert_allclose(data["u"][:, 0], -np.sin(np.pi * data["x"]), atol=1e-15)


def test_equations_command_lists_every_family_with_its_coefficients(capsys):
    assert main(["equations"]) == 0
    output = capsys.readouterr().out
    for flag in ("--nu", "--beta 10", "--rho 5", "--d 0.001", "--r 5", "--k 1", "--zeta", "--mu", "--alpha"):
        assert flag in output


def test_reference_grid_option_and_systems(tmp_path):
    out = tmp_path / "ac.npz"
    assert main(["reference", "allen_cahn", "--d", "0.002", "--grid", "51,11", "--out", str(out)]) == 0
    data = np.load(out)
    assert data["u"].shape == (51, 11) and data["x"][0] == -1.0 and data["x"][-1] == 1.0
    np.testing.assert_allclose(data["u"][[0, -1], :], -1.0, atol=1e-12)
    out = tmp_path / "lv.npz"
    assert main(["reference", "lotka-volterra", "--alpha", "0.5", "--out", str(out)]) == 0
    data = np.load(out)
    assert data["u"].shape == data["v"].shape == data["t"].shape == (201,)
    assert data["u"][0] == data["v"][0] == 1.0


def test_transfer_on_a_periodic_family_uses_its_example_targets(tmp_path):
    out = tmp_path / "convection"
    assert main(["transfer", "convection", *TINY, "--source-adam", "20", "--source-iterations", "5",
                 "--allocate-iterations", "5", "--calibrate-iterations", "5", "--out", str(out)]) == 0
    records = json.loads((out / "results.json").read_text())
    assert [r["coefficients"]["beta"] for r in records] == [10.0, 5.0, 15.0]


@pytest.mark.parametrize("argv, message", [
    (["reference", "burgers", "--grid", "10", "--out", "/tmp/never.npz"], "--grid needs 2 whole numbers"),
    (["solve", "reaction", "--d", "0.1"], "reaction takes --rho"),
    (["solve", "allen-cahn", "--d", "2"], "d=2 is outside the valid range"),
    (["solve", "navier-stokes"], "unknown equation 'navier-stokes'"),
    (["solve", "burgers", "--nu", "0"], "nu=0 is outside the valid range"),
    (["solve", "burgers", "--nu", "-1"], "outside the valid range"),
    (["solve", "burgers", "--nu", "0.01/pi)"], "cannot read '0.01/pi)'"),
    (["solve", "burgers", "--rho", "3"], "unrecognised arguments: --rho"),
    (["transfer", "burgers", "--targets", "nu=abc"], "cannot read 'abc'"),
    (["transfer", "burgers", "--targets", "mu=0.1"], "no coefficient mu"),
    (["transfer", "burgers", "--targets", "nu"], "write name=value"),
    (["transfer", "burgers", "--ratio", "1.2", "--targets", "nu=0.1"], "ratio"),
    (["transfer", "burgers", "--method", "lora", "--rank", "0"], "LoRA rank must be >= 1"),
    (["transfer", "burgers", "--method", "lora", "--warm-start", "nearest"],
     "--method lora takes no --warm-start (finetune, l2sp, pac)"),
    (["transfer", "burgers", "--warm-start", "continuation"],
     "warm start 'continuation' is for the methods that train every weight (finetune, l2sp)"),
    (["transfer", "burgers", "--method", "finetune", "--scope", "layer", "--ratio", "0.5"],
     "--method finetune takes no --ratio (pac), --scope (pac)"),
    (["transfer", "burgers", "--target-points", "0"], "--target-points must be >= 1"),
    (["transfer", "reaction-diffusion", "--method", "parametric", "--targets", "nu=2,rho=4", "--out", "/tmp/never"],
     "exactly one coefficient to vary"),
    (["solve", "burgers", "--dtype", "float32", "--width", "0"], "width and depth must be positive"),
    (["evaluate", "/nonexistent/run"], "no checkpoint at"),
    (["solve", "burgers", "--seconds", "-5"], "a time cap must be > 0 seconds"),
    (["solve", "burgers", "--target-error", "0"], "a target error must be > 0, got 0.0"),
    (["transfer", "burgers", "--calibrate-target-loss=-1e-6"], "a target loss must be > 0, got -1e-06"),
    (["solve", "burgers", "--nu", "2**1000**1000"], "cannot read '2**1000**1000'"),
    (["solve", "burgers", "--nu", "1+" * 150 + "1"], "longer than 200 characters"),
    (["solve", "burgers", "--threads", "0"], "threads must be >= 1"),
    (["solve", "burgers", "--rad-every", "100", "--rad-candidates", "10"], "at least as many candidates"),
    (["reference", "burgers", "--grid", "100000000,100000", "--out", "/tmp/never.npz"], "at most 10,000,000"),
    (["solve", "burgers", "--causal", "-1"], "causal epsilon must be >= 0"),
    (["solve", "helmholtz", "--causal", "1", "--out", "/tmp/never"], "causal weighting needs a time input t"),
    (["transfer", "burgers", "--source", "nu=0.1;nu=0.2"], "--source takes one set of coefficients, got 2"),
    (["transfer", "burgers", "--targets", "nu=0.1;nu=0.1000000001"], "repeated: nu=0.1"),
    (["transfer", "burgers", "--targets", "nu=0.1..0.1000001:3", "--out", "/tmp/never"], "repeated: nu=0.1"),
    (["transfer", "burgers", "--targets", "nu=0.1..1:1"], "count must be from 2 to 1000, got 1"),
    (["transfer", "burgers", "--targets", "nu=0..1:4:log"], "log spacing needs both ends > 0"),
    (["transfer", "burgers", "--targets", "nu=-0.1..0.1:3"], "nu=-0.1 is outside the valid range"),
])
def test_bad_input_gets_a_one_line_error(argv, message, capsys):
    assert main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and len(error.splitlines()) == 1, error


def test_bad_out_and_unservable_targets_are_refused_before_training(tmp_path, capsys, monkeypatch):
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    for out, message in [(afile, "is a file"), (afile / "run", "cannot write the run to")]:
        assert main(["solve", "burgers", *TINY, "--out", str(out)]) == 2
        error = capsys.readouterr().err.strip()
        assert message in error and len(error.splitlines()) == 1, error
    assert afile.read_text() == "keep me"
    monkeypatch.setattr(pinn_pac.runs.solve_job, "train", lambda *a, **k: pytest.fail("the source started training"))
    out = tmp_path / "run"
    assert main(["transfer", "burgers", "--targets", "nu=1e-4", *TINY, "--out", str(out)]) == 2
    assert "only supported for nu >= 0.0003" in capsys.readouterr().err
    assert not any(out.iterdir())


@pytest.mark.parametrize("argv, what, out", [
    (["solve", "burgers", *TINY], "the run", "run"),
    (["transfer", "burgers", *TINY], "the run", "run"),
    (["reference", "burgers"], "the reference", "run/u.npz"),
])
def test_an_out_on_an_unwritable_folder_or_a_full_disk_is_refused_before_any_work(
    argv, what, out, tmp_path, monkeypatch, capsys,
):
    """/proc takes no new folders, even from root; a full disk is the probe's write failing."""
    for name in ("stored_solve", "transfer"):
        monkeypatch.setattr(folder_jobs, name, lambda *a, **k: pytest.fail("training started"))
    monkeypatch.setattr(Burgers, "reference", lambda *a: pytest.fail("reference computed"))
    assert main([*argv, "--out", f"/proc/pinn-pac-test/{out}"]) == 2
    error = capsys.readouterr().err.splitlines()
    assert len(error) == 1 and error[0].startswith(f"pinn-pac: error: cannot write {what} to /proc/pinn-pac-test")

    def disk_full(descriptor: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    assert main([*argv, "--out", str(tmp_path / out)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"pinn-pac: error: cannot write {what} to {tmp_path / 'run'}: No space left on device"]
    assert not any((tmp_path / "run").iterdir())


def test_files_are_written_with_the_usual_permissions(transfer_run):
    umask = os.umask(0)
    os.umask(umask)
    files = [path for path in transfer_run.rglob("*") if path.is_file()]
    assert {"manifest.json", "source.pt", "prepared.pt"} <= {path.name for path in files}
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path


def test_importing_pinn_pac_leaves_the_matplotlib_backend_alone():
    code = "import matplotlib; matplotlib.use('svg'); import pinn_pac.runs, pinn_pac.runs.plots; print(matplotlib.get_backend())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "svg", done.stderr[-2000:]


def test_corrupt_checkpoint_gets_a_one_line_error(tmp_path, capsys):
    (tmp_path / "checkpoint.pt").write_bytes(b"\x80\x04 definitely not a checkpoint")
    assert main(["evaluate", str(tmp_path)]) == 2
    error = capsys.readouterr().err.strip()
    assert "not a readable pinn-pac checkpoint" in error and len(error.splitlines()) == 1


def test_foreign_and_mismatched_checkpoints_are_refused(tmp_path, transfer_run):
    torch.save({"state_dict": {"w": torch.zeros(2)}}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a pinn-pac checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    payload = load_checkpoint(transfer_run)
    payload["settings"]["width"] = 9
    bad = tmp_path / "mismatch"
    save_checkpoint(bad / "checkpoint.pt", {k: v for k, v in payload.items() if k not in ("format", "format_version")})
    with pytest.raises(CheckpointError, match="does not describe"):
        evaluate_run(bad)
    for masks in ([m[:-1] for m in load_checkpoint(transfer_run)["masks"]], "all"):  # tampered masks
        payload = load_checkpoint(transfer_run)
        payload["masks"] = masks
        tampered = tmp_path / f"masks-{type(masks).__name__}"
        save_checkpoint(tampered / "checkpoint.pt", {k: v for k, v in payload.items() if k not in ("format", "format_version")})
        with pytest.raises(CheckpointError, match="the masks do not fit the network"):
            evaluate_run(tampered)


def test_an_existing_run_is_never_overwritten(transfer_run, capsys):
    before = (transfer_run / "results.json").read_bytes()
    assert main(["solve", "burgers", *TINY, "--out", str(transfer_run)]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert (transfer_run / "results.json").read_bytes() == before


def test_atomic_writes_leave_no_temporary_files(transfer_run):
    assert not [p for p in transfer_run.iterdir() if p.name.endswith(".tmp")]


def test_member_cost_benchmark_quick_mode_measures_transfer_scratch_and_the_naive_loop(tmp_path):
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "member_cost.py"
    done = subprocess.run([sys.executable, str(script), "--quick", "--cases", "diffusion", "--results", str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    case = json.loads((tmp_path / "member_cost.json").read_text())["cases"]["diffusion"]
    members = case["transfer"]["members"]
    assert [round(m["coefficients"]["kappa"], 6) for m in members] == [0.05, 0.1, 0.2]
    assert all(math.isfinite(m["rel_l2"]) and m["seconds"] > 0 for m in members)
    assert case["scratch"]["command"].startswith("pinn-pac solve diffusion --kappa 0.1 --target-error 0.0001")
    median = sorted(m["rel_l2"] for m in members)[1]
    assert [n["coefficients"] for n in case["naive"]] == [m["coefficients"] for m in members]
    assert all(f"--target-error {median:.3g}" in n["command"] for n in case["naive"])
    table = (tmp_path / "member_cost.md").read_text()
    assert "| diffusion | transfer --from |" in table and "| diffusion | naive loop |" in table
    assert (tmp_path / "member_cost.png").stat().st_size > 500


def test_pac_levers_benchmark_quick_mode_runs_every_lever_and_writes_nothing():
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "pac_levers.py"
    results = script.parent / "results" / "pac_levers.json"
    before = results.read_bytes() if results.exists() else None
    done = subprocess.run([sys.executable, str(script), "--quick", "--workers", "1"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Pairs (of 1) on which each PAC-Net variant beats LoRA" in done.stdout
    table = done.stdout.split("| family | pair |")[1]
    row = next(line for line in table.splitlines() if line.startswith("| burgers | near |"))
    errors = [float(cell.strip(" *")) for cell in row.split("|")[3:-2]]  # lora, then each of the 13 PAC-Net variants
    assert len(errors) == 14 and all(math.isfinite(e) and e > 0 for e in errors)
    assert (results.read_bytes() if results.exists() else None) == before


def test_transfer_benchmark_quick_mode_runs_every_method(tmp_path):
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "transfer.py"
    done = subprocess.run([sys.executable, str(script), "--quick", "--results", str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    first = json.loads((tmp_path / "transfer.json").read_text())
    rows = first["rows"]
    variants = {row["variant"] for row in rows}
    assert {"all points", "32 target points", "ablation ratio=0.7", "ablation no allocate", "ablation scope=global"} <= variants
    assert {row["method"] for row in rows if row["variant"] == "all points"} == set(METHODS)
    assert all(math.isfinite(row["rel_l2"]) and row["stored"] > 0 for row in rows)
    pac = next(r for r in rows if r["method"] == "pac" and r["variant"] == "all points")
    assert pac["source_rel_l2_after"] == pac["source_rel_l2_before"]  # the source is kept exactly
    for name in ("transfer.md", "transfer_error_vs_time.png", "transfer_source_vs_target.png", "transfer_ablation.png"):
        assert (tmp_path / name).stat().st_size > 500
    text = (tmp_path / "transfer.md").read_text()
    assert "| pac |" in text and "pac's place" in text
    assert "| burgers | near | " in text.split("## PAC-Net's prune scope")[1]  # both scopes measured
    again = subprocess.run([sys.executable, str(script), "--render", "--results", str(tmp_path)],
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "re-rendered from transfer.json" in (tmp_path / "transfer.md").read_text()
    pac_only = subprocess.run([sys.executable, str(script), "--quick", "--methods", "pac", "--results", str(tmp_path)],
                              capture_output=True, text=True, timeout=600)
    assert pac_only.returncode == 0, pac_only.stderr[-2000:]
    merged = json.loads((tmp_path / "transfer.json").read_text())
    others = lambda table: [r for r in table if r["method"] != "pac"]  # noqa: E731
    assert others(merged["rows"]) == others(rows)  # kept as they were
    assert [r["rel_l2"] for r in merged["rows"] if r["method"] == "pac"] == [r["rel_l2"] for r in rows if r["method"] == "pac"]
    assert merged["reproduced"]["sources_reproduced"] == merged["reproduced"]["sources"] == 1  # same code, same bits
    assert "kept from an earlier run" in (tmp_path / "transfer.md").read_text()
    # A file from before kept rows named their runs (one "kept" dict, budgets without "finish")
    # renders, and says no budget differed where none did.
    old = {**merged, "kept": {**merged["kept"][0], "methods": merged["kept"][0]["rows"],
                              **merged.pop("reproduced")},
           "budgets": {phase: {k: v for k, v in budget.items() if k != "finish"}
                       for phase, budget in merged["budgets"].items()}}
    del old["kept"]["rows"], old["kept"]["budgets"], old["kept"]["against"]
    (tmp_path / "transfer.json").write_text(json.dumps(old))
    rendered = subprocess.run([sys.executable, str(script), "--render", "--results", str(tmp_path)],
                              capture_output=True, text=True, timeout=300)
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    text = (tmp_path / "transfer.md").read_text()
    assert "kept from an earlier run" in text and "budgets differed" not in text
    no_ablations = subprocess.run([sys.executable, str(script), "--quick", "--methods", "pac", "--no-ablations",
                                   "--results", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert no_ablations.returncode == 0, no_ablations.stderr[-2000:]
    again = json.loads((tmp_path / "transfer.json").read_text())
    ablation = lambda table: [r for r in table  # noqa: E731
                              if r["variant"].startswith("ablation") and r["variant"] != "ablation baseline"]
    assert ablation(again["rows"]) == ablation(merged["rows"]) != []  # kept, not run again
    assert others(again["rows"]) == others(rows)
    # Each kept row names the run that made it: the ablations the pac-only run, the others the first.
    made = {tuple(group["rows"]): group["header"]["date"] for group in again["kept"]}
    baseline = [r for r in again["rows"] if r["variant"] == "ablation baseline"]
    assert made == {tuple(sorted({r["variant"] for r in ablation(rows) + baseline})): merged["header"]["date"],
                    tuple(sorted({r["method"] for r in others(rows)})): first["header"]["date"]}
    # The ablations are compared with the PAC-Net of the run that made them, kept beside them.
    assert [{**r, "variant": "all points"} for r in baseline] == [
        r for r in merged["rows"] if r["method"] == "pac" and r["variant"] == "all points"] != []


@pytest.fixture(scope="module")
def all_methods_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "all"
    code = main(["transfer", "burgers", "--method", "all", "--source", "nu=0.05/pi", "--targets", "nu=0.1/pi",
                 *TINY, "--source-adam", "40", "--source-iterations", "20", "--allocate-iterations", "5",
                 "--calibrate-iterations", "10", "--out", str(out)])
    assert code == 0
    return out


def test_transfer_all_methods_writes_a_comparison_and_one_run_per_method(all_methods_run, capsys):
    records = json.loads((all_methods_run / "comparison.json").read_text())
    targets = {r["method"]: r for r in records if r["role"] == "target"}
    assert set(targets) == set(METHODS)
    sources = {r["method"]: r for r in records if r["role"] == "source"}
    for name in ("pac", "freeze", "lora"):  # these keep the source exactly
        assert targets[name]["source_rel_l2_after"] == sources[name]["rel_l2"] == sources[name]["rel_l2_after_calibration"]
    assert targets["finetune"]["source_rel_l2_after"] != sources["finetune"]["rel_l2"]
    assert targets["freeze"]["stored_params"] < targets["pac"]["stored_params"] < targets["finetune"]["stored_params"]
    assert "| pac |" in (all_methods_run / "comparison.md").read_text()
    assert (all_methods_run / "comparison.png").stat().st_size > 1000


@pytest.mark.parametrize("method", ["lora", "parametric", "finetune"])
def test_every_methods_checkpoint_reloads_to_the_same_errors(all_methods_run, method):
    saved = json.loads((all_methods_run / method / "results.json").read_text())
    reloaded = evaluate_run(all_methods_run / method)
    assert [r.rel_l2 for r in reloaded] == [r["rel_l2"] for r in saved]
    assert [r.trainable_params for r in reloaded] == [r["trainable_params"] for r in saved]


def test_a_forgetting_method_says_so(tmp_path, capsys):
    assert main(["transfer", "burgers", "--method", "finetune", "--source", "nu=0.05/pi", "--targets", "nu=0.1/pi",
                 *TINY, "--source-adam", "20", "--source-iterations", "0", "--calibrate-iterations", "5",
                 "--out", str(tmp_path / "ft")]) == 0
    assert "finetune forgets the source" in capsys.readouterr().out


@pytest.mark.parametrize("method", ["pac", "finetune"])
def test_warm_start_changes_only_where_later_targets_begin(tmp_path, method):
    """Given far first, a nearest start trains nu = 0.1/pi first (from the source) and 0.12/pi
    from it; the records keep the order given, and reload to the same errors."""
    runs = {}
    for warm_start in ("zero", "nearest"):
        out = tmp_path / warm_start
        assert main(["transfer", "burgers", "--source", "nu=0.05/pi", "--targets", "nu=0.12/pi,nu=0.1/pi",
                     "--method", method, "--warm-start", warm_start, *TINY, "--source-adam", "20", "--source-iterations", "0",
                     "--allocate-iterations", "5", "--calibrate-iterations", "10", "--out", str(out)]) == 0
        runs[warm_start] = json.loads((out / "results.json").read_text())
        assert [r.rel_l2 for r in evaluate_run(out)] == [r["rel_l2"] for r in runs[warm_start]]
    zero, nearest = runs["zero"], runs["nearest"]
    assert [r["coefficients"]["nu"] * math.pi for r in nearest[1:]] == pytest.approx([0.12, 0.1])
    assert nearest[0]["rel_l2"] == zero[0]["rel_l2"]  # the same source
    assert nearest[2]["start_rel_l2"] == zero[2]["start_rel_l2"] and nearest[2]["rel_l2"] == zero[2]["rel_l2"]
    assert nearest[1]["start_rel_l2"] != zero[1]["start_rel_l2"]  # began from nu = 0.1/pi's weights
    with pytest.raises(SystemExit):
        main(["transfer", "burgers", "--warm-start", "neighbour"])


def test_speed_benchmark_quick_mode_times_every_derivative_path(tmp_path):
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "speed.py"
    done = subprocess.run([sys.executable, str(script), "--quick", "--threads", "1", "--results", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = json.loads((tmp_path / "speed.json").read_text())["rows"]
    assert {row["path"] for row in rows} == {"autograd", "forward", "compiled"}
    assert all(row["adam_s"] > 0 and row["matmul_gflop"] > 0 for row in rows)
    baseline = next(row for row in rows if row["path"] == "autograd")
    for row in rows:  # every ratio is that path's seconds over autograd's, as the table says
        assert row["adam_ratio"] == row["adam_s"] / baseline["adam_s"]
        assert row["lbfgs_ratio"] == row["lbfgs_s"] / baseline["lbfgs_s"]
    compiled, forward = (next(r for r in rows if r["path"] == p) for p in ("compiled", "forward"))
    assert compiled["matmul_gflop"] == forward["matmul_gflop"] < baseline["matmul_gflop"]


def test_calibrate_target_loss_stops_each_target_and_nothing_else(tmp_path):
    out = tmp_path / "run"
    assert main(["transfer", "burgers", "--targets", "nu=0.1/pi,nu=0.03/pi", *TINY, "--source-adam", "20",
                 "--source-iterations", "5", "--allocate-iterations", "5", "--calibrate-iterations", "50",
                 "--calibrate-target-loss", "1e9", "--out", str(out)]) == 0
    records = json.loads((out / "results.json").read_text())
    assert [r["stopped_because"] for r in records] == ["budget used", "target loss reached", "target loss reached"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["job"]["budgets"]["calibrate"]["target_loss"] == 1e9
    assert manifest["job"]["budgets"]["source"]["target_loss"] is None


@pytest.mark.parametrize("warm_start", ["nearest", "continuation"])
def test_a_target_added_by_from_starts_from_the_nearest_stored_member(tmp_path, warm_start):
    """Fine-tuning from the nearest member, or by continuation: a target added with --from to a
    saved run trains as it would have in that run (its start, from the nearest members, and for
    continuation the nearest member's quasi-Newton matrix, are taken up
    from the store; the checkpoint leaves the matrices out)."""
    common = ["--source", "nu=0.05/pi", "--method", "finetune", "--warm-start", warm_start, *TINY,
              "--source-adam", "20", "--source-iterations", "5", "--calibrate-iterations", "10"]
    assert main(["transfer", "burgers", *common, "--targets", "nu=0.1/pi,nu=0.11/pi", "--out", str(tmp_path / "one")]) == 0
    assert main(["transfer", "burgers", *common, "--targets", "nu=0.1/pi", "--out", str(tmp_path / "grown")]) == 0
    assert main(["transfer", "--from", str(tmp_path / "grown"), "--targets", "nu=0.11/pi"]) == 0
    one, grown = (json.loads((tmp_path / name / "results.json").read_text()) for name in ("one", "grown"))
    assert [r["coefficients"] for r in grown] == [r["coefficients"] for r in one]
    assert grown[2]["start_rel_l2"] == one[2]["start_rel_l2"] and grown[2]["rel_l2"] == one[2]["rel_l2"]
    assert grown[2]["start_rel_l2"] < grown[1]["start_rel_l2"]  # from nu = 0.1/pi, not from the source
    stored = [load_checkpoint(path) for path in sorted((tmp_path / "grown" / "finetune").glob("nu=*.pt"))]
    assert [("curvature" in piece) for piece in stored] == [warm_start == "continuation"] * 2
    assert all("curvature" not in target for target in load_checkpoint(tmp_path / "grown")["targets"])
