"""A run directory as a durable store: killed runs resume to the same records, SIGINT and
SIGTERM stop with one line and exit 130, --from adds targets to a trained source."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pinn_pac.cli import main
from pinn_pac.runs import evaluate_run

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--width", "8", "--depth", "2", "--points", "128", "--condition-points", "32", "--quiet",
        "--derivatives", "autograd", "--threads", "1", "--rad-every", "5", "--rad-candidates", "500"]
TARGETS = "nu=0.1/pi,nu=0.03/pi,nu=0.02/pi,nu=0.07/pi"
# Calibrations long enough (seconds each) that a poll catches the run between two targets.
FAMILY = ["transfer", "burgers", "--source", "nu=0.05/pi", "--targets", TARGETS, "--ratio", "0.5",
          "--warm-start", "nearest", *TINY, "--source-adam", "20", "--source-iterations", "10",
          "--allocate-iterations", "10", "--calibrate-iterations", "150"]


def _start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pinn_pac.cli", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finished(run_dir: Path) -> list[str]:
    try:
        return json.loads((run_dir / "manifest.json").read_text())["finished"]
    except (OSError, ValueError):
        return []


def _wait_for(run_dir: Path, process: subprocess.Popen, ready, timeout: float = 120.0) -> list[str]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        finished = _finished(run_dir)
        if ready(finished):
            return finished
        assert process.poll() is None, process.communicate()
        time.sleep(0.02)
    process.kill()
    raise AssertionError(f"the run never got that far: {_finished(run_dir)}")


def _records(run_dir: Path) -> list[dict]:
    """results.json less the seconds (timings differ between runs; every error must not)."""
    records = json.loads((run_dir / "results.json").read_text())
    return [{key: value for key, value in record.items() if key != "seconds"} for record in records]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("store") / "whole"
    assert main([*FAMILY, "--out", str(out)]) == 0
    return out


def test_killed_run_resumes_to_the_records_of_an_uninterrupted_one(uninterrupted, tmp_path, killed_at):
    out = tmp_path / "killed"
    with killed_at(lambda _, store: sum(p.startswith("pac/nu") for p in store.manifest["finished"]) == 2):
        main([*FAMILY, "--out", str(out)])
    assert len(_finished(out)) == 4 and not (out / "results.json").exists()
    kept = {name: (out / name).read_bytes() for name in ("source.pt", "pac/prepared.pt")}

    assert main(["transfer", "--resume", str(out), "--quiet"]) == 0
    assert {name: (out / name).read_bytes() for name in kept} == kept  # taken up, not trained again
    assert _records(out) == _records(uninterrupted)
    assert [r.rel_l2 for r in evaluate_run(out)] == [r["rel_l2"] for r in _records(out)]


def test_sigint_and_sigterm_stop_with_one_line_and_keep_finished_work(tmp_path):
    out = tmp_path / "interrupted"
    process = _start([*FAMILY, "--out", str(out)])
    _wait_for(out, process, lambda done: "pac/prepared" in done)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and f"resume with: pinn-pac transfer --resume {out}" in lines[0], stderr
    targets = sum(p.startswith("pac/nu") for p in _finished(out))
    assert lines[0].startswith(f"pinn-pac: interrupted: the source and {targets} target")
    records = evaluate_run(out)  # the source and every finished target reload
    assert [r.role for r in records] == ["source"] + ["target"] * targets
    assert all(0 < r.rel_l2 < 10 for r in records)

    solving = _start(["solve", "burgers", *TINY, "--adam", "100000", "--out", str(tmp_path / "solve")])
    deadline = time.monotonic() + 60
    while not (tmp_path / "solve").exists() and time.monotonic() < deadline:  # reserved: the handler is set
        time.sleep(0.02)
    solving.send_signal(signal.SIGTERM)  # wherever it lands from here on: one line, exit 130
    _, stderr = solving.communicate(timeout=60)
    assert solving.returncode == 130
    assert stderr.count("\n") == 1 and stderr.startswith("pinn-pac: interrupted: "), stderr
    assert ("resume with: pinn-pac solve --resume" in stderr
            or "solve stopped; every file it wrote is whole" in stderr), stderr


def test_from_adds_targets_and_leaves_the_source_bit_identical(uninterrupted, tmp_path, capsys):
    run = tmp_path / "family"
    (run / "pac").mkdir(parents=True)
    for path in uninterrupted.rglob("*"):
        if path.is_file():
            (run / path.relative_to(uninterrupted)).write_bytes(path.read_bytes())
    shared = {name: (run / name).read_bytes() for name in ("source.pt", "pac/prepared.pt")}
    before = _records(run)

    assert main(["transfer", "--from", str(run), "--targets", "nu=0.04/pi", "--quiet"]) == 0
    after = _records(run)
    assert after[:len(before)] == before  # the source (error included) and the earlier targets
    assert len(after) == len(before) + 1 and after[-1]["coefficients"]["nu"] == pytest.approx(0.04 / 3.141592653589793)
    assert {name: (run / name).read_bytes() for name in shared} == shared
    reloaded = evaluate_run(run)
    assert reloaded[0].rel_l2 == before[0]["rel_l2"] and reloaded[-1].rel_l2 == after[-1]["rel_l2"]


@pytest.mark.parametrize("args, message", [
    (["--resume", "{missing}"], "holds no resumable run"),
    (["--from", "{committed}", "--targets", "nu=0.02/pi"], "holds no resumable run"),
    (["--from", "{missing}"], "needs --targets"),
    (["--resume", "{missing}", "--ratio", "0.2"], "--ratio: not with --resume or --from"),
])
def test_bad_resume_and_from_are_refused_in_one_line(args, message, tmp_path, capsys):
    committed = next(path.parent for path in sorted((ROOT / "benchmarks" / "results").rglob("checkpoint.pt"))
                     if not (path.parent / "manifest.json").exists())  # a run saved before run stores
    paths = {"missing": tmp_path / "none", "committed": committed}
    assert main(["transfer", *[a.format(**paths) for a in args]]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not (tmp_path / "none").exists()
