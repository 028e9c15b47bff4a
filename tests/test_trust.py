"""Runs a user can trust (issue 37): a refused --from leaves its run as it was, workers load
the family they were given, a family file's helper modules load and are checked, how a run
runs may change on --resume, workers resume inside their phase, and a save stopped by Ctrl-C
is resumed rather than called finished."""

import json
import math
from pathlib import Path

import pytest

from pinn_pac.cli import main

TINY = ["--width", "8", "--depth", "2", "--points", "128", "--condition-points", "32", "--quiet",
        "--derivatives", "autograd", "--threads", "1"]
SHORT = ["--source-adam", "20", "--source-iterations", "10", "--allocate-iterations", "5", "--calibrate-iterations", "10"]


def test_a_refused_from_leaves_the_run_as_it_was_and_a_good_one_still_runs(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["transfer", "burgers", "--method", "parametric", "--source", "nu=0.05/pi",
                 "--targets", "nu=0.1/pi", *TINY, *SHORT, "--out", str(run)]) == 0
    manifest = (run / "manifest.json").read_text()
    capsys.readouterr()
    assert main(["transfer", "--from", str(run), "--targets", "nu=0.2/pi", "--quiet"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "parametric was trained over nu" in error
    assert (run / "manifest.json").read_text() == manifest
    assert main(["transfer", "--from", str(run), "--targets", "nu=0.07/pi", "--quiet", "--derivatives", "forward"]) == 0
    nus = [r["coefficients"]["nu"] for r in json.loads((run / "results.json").read_text())]
    assert nus == pytest.approx([0.05 / math.pi, 0.1 / math.pi, 0.07 / math.pi])


def _logistic_file(folder: Path, helper: str | None = None) -> Path:
    """tests/test_own_equation.py's Logistic family in `folder`; its initial value taken from
    the module `helper` beside it where one is named."""
    from test_own_equation import LOGISTIC

    text = LOGISTIC
    if helper is not None:
        (folder / f"{helper}.py").write_text("START = 0.1\n")
        text = f"from {helper} import START\n" + text.replace("0.1 + 0 * p", "START + 0 * p")
    path = folder / "logistic.py"
    path.write_text(text)
    return path


def test_a_worker_trains_the_family_its_run_carried_though_its_files_changed(tmp_path):
    import pickle

    import torch

    import equations

    path = _logistic_file(tmp_path, helper="worker_start_helper")
    cls, source = equations.resolve(f"{path}:Logistic")
    carried = pickle.loads(pickle.dumps(source))  # what a task hands a worker
    path.write_text(path.read_text().replace('name = "logistic"', 'name = "edited"'))
    (tmp_path / "worker_start_helper.py").write_text("START = 0.2\n")
    family = carried.load()
    start = family().conditions()[0].value(torch.zeros(1, 1, dtype=torch.float64))
    assert family.name == "logistic" and float(start) == 0.1
    with pytest.raises(equations.UnknownEquationError, match="changed since the run was made"):
        equations.EquationSource.from_record(source.as_record()).load()  # the file itself, as a reload reads it


def test_a_family_file_imports_a_module_beside_it_and_an_edited_helper_is_noticed(tmp_path, capsys):
    path = _logistic_file(tmp_path, helper="logistic_start_helper")
    run = tmp_path / "run"
    assert main(["solve", f"{path}:Logistic", *TINY, "--adam", "20", "--iterations", "5", "--out", str(run)]) == 0
    assert main(["evaluate", str(run)]) == 0
    capsys.readouterr()
    (tmp_path / "logistic_start_helper.py").write_text("START = 0.2\n")
    assert main(["evaluate", str(run)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "changed since the run was made" in error


def test_a_stop_while_the_run_marks_itself_finished_completes_the_mark_and_says_so(tmp_path, monkeypatch, capsys):
    import signal

    from pinn_pac.runs.store import SOLVE, RunStore

    write = RunStore._write_manifest

    def signalled(store):
        if SOLVE in store.manifest["finished"]:  # Ctrl-C as the finished mark is being written
            signal.getsignal(signal.SIGINT)(signal.SIGINT, None)
        write(store)

    monkeypatch.setattr(RunStore, "_write_manifest", signalled)
    run = tmp_path / "run"
    assert main(["solve", "burgers", "--nu", "0.05/pi", *TINY, "--adam", "20", "--iterations", "5",
                 "--out", str(run)]) == 130
    assert f"the run is finished and saved in {run}" in capsys.readouterr().err
    assert json.loads((run / "manifest.json").read_text())["finished"] == ["source", "solve"]
    monkeypatch.undo()
    assert main(["solve", "--resume", str(run)]) == 2
    assert "is finished" in capsys.readouterr().err
    assert main(["evaluate", str(run)]) == 0


class _InProcessWorkers:
    """Stands for a process pool: each task crosses as a pickle, as it does to a worker."""

    threads, shares_files = 1, True

    def map_unordered(self, function, tasks):
        import pickle

        for index, task in enumerate(tasks):
            yield index, function(pickle.loads(pickle.dumps(task)))


def test_a_target_stopped_inside_its_phase_in_a_worker_goes_on_from_its_kept_state_to_the_same_bits(
        tmp_path, monkeypatch):
    from equations import create
    from pinn_pac.runs import Settings, TransferSettings, transfer
    from pinn_pac.runs.store import STATE_EVERY, FileTrainingState, RunStore
    from pinn_pac.solver.train import Budget

    source = create("burgers", nu=0.05 / math.pi)
    targets = [source.with_coefficients(nu=0.03 / math.pi)]
    settings = Settings(width=8, depth=2, n_interior=128, n_condition=32, threads=1, rad_every=100,
                        rad_candidates=1000)
    budgets = TransferSettings(Budget(20, 50), Budget(0, 20), Budget(0, 2 * STATE_EVERY + 50))

    def run(out):
        return transfer(source, targets, settings, budgets, "pac", progress=False, executor=_InProcessWorkers(),
                        store=RunStore.create(out, {"kind": "transfer"}) if not (out / "manifest.json").exists()
                        else RunStore.open(out))[0]

    whole = run(tmp_path / "whole")
    save, saves = FileTrainingState.save, []

    def killing(state, payload):
        save(state, payload)
        saves.append(payload["done"])
        if "pac" in state.path.parts and len(saves) == 2:
            raise KeyboardInterrupt  # stands for a kill after the worker kept its state twice

    monkeypatch.setattr(FileTrainingState, "save", killing)
    killed = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        run(killed)
    monkeypatch.undo()
    kept = killed / "state" / "pac" / "nu=0.0095493.pt"
    assert kept.is_file() and saves == [STATE_EVERY, 2 * STATE_EVERY]
    resumed = run(killed)
    assert [r.as_dict() | {"seconds": 0} for r in resumed.records] == [
        r.as_dict() | {"seconds": 0} for r in whole.records]
    assert not kept.exists()


def test_how_a_run_runs_may_change_on_resume_what_it_is_may_not(tmp_path, monkeypatch, capsys):
    import torch

    from pinn_pac.runs import Settings, SolveJob, numerics
    from pinn_pac.runs.checkpoint import load_checkpoint
    from pinn_pac.runs.store import RunStore
    from pinn_pac.solver.train import Budget

    if not torch.backends.mkl.is_available():
        pytest.skip("this torch has no MKL")
    run = tmp_path / "run"  # made with --thread-invariant where MKL's strict mode held, stopped before training
    settings = Settings(width=8, depth=2, n_interior=128, n_condition=32, thread_invariant=True)
    RunStore.create(run, SolveJob("burgers", {"nu": 0.05 / math.pi}, settings, Budget(20, 5)).as_dict())
    # resumed on a CPU where it does not hold
    monkeypatch.setenv("MKL_CBWR", "")
    monkeypatch.setattr(numerics, "_active_mode", lambda: 0x10002)
    monkeypatch.setattr(numerics, "_products_agree_on_one_and_two_threads", lambda: False)
    assert main(["solve", "--resume", str(run), "--quiet"]) == 2
    assert "strict mode" in capsys.readouterr().err
    assert main(["solve", "--resume", str(run), "--quiet", "--width", "9"]) == 2
    assert main(["solve", "--resume", str(run), "--quiet", "--no-thread-invariant", "--derivatives", "forward",
                 "--threads", "1"]) == 0
    settings = load_checkpoint(run / "checkpoint.pt")["settings"]
    assert (settings["thread_invariant"], settings["derivative_method"], settings["threads"]) == (False, "forward", 1)
    assert settings["width"] == 8


def test_an_interrupted_from_is_what_evaluate_reads_and_a_finished_transfer_is_not_resumed(tmp_path, killed_at,
                                                                                          capsys):
    run = tmp_path / "run"
    assert main(["transfer", "burgers", "--source", "nu=0.05/pi", "--targets", "nu=0.1/pi", *TINY, *SHORT,
                 "--out", str(run)]) == 0
    assert main(["transfer", "--resume", str(run), "--quiet"]) == 2
    assert "is finished" in capsys.readouterr().err
    with killed_at(lambda piece, _: piece.startswith("pac/nu=0.0127")):  # after the first new target is kept
        main(["transfer", "--from", str(run), "--targets", "nu=0.04/pi,nu=0.03/pi", "--quiet"])
    assert main(["evaluate", str(run)]) == 0
    table = capsys.readouterr().out
    assert "nu=0.012732" in table and "nu=0.0095493" not in table  # the kept target, not the one to come
    assert main(["transfer", "--resume", str(run), "--quiet"]) == 0
    assert len(json.loads((run / "results.json").read_text())) == 4


def test_a_moved_family_file_is_remembered_where_it_was_found(tmp_path, killed_at, capsys):
    path = _logistic_file(tmp_path)
    run = tmp_path / "run"
    with killed_at(lambda piece, _: piece == "source", before=True):
        main(["solve", f"{path}:Logistic", *TINY, "--adam", "20", "--iterations", "5", "--out", str(run)])
    moved = tmp_path / "moved.py"
    path.rename(moved)
    assert main(["solve", "--resume", str(run), "--quiet", "--equation-from", f"{moved}:Logistic"]) == 0
    assert main(["evaluate", str(run)]) == 0  # no --equation-from needed any more
    assert json.loads((run / "manifest.json").read_text())["job"]["equation_source"]["path"] == str(moved)


def test_a_value_error_from_a_bug_in_our_own_code_keeps_its_traceback(tmp_path, monkeypatch):
    import functools

    from pinn_pac.cli import solve

    # a ValueError raised from solve.py itself, as a bug there would raise it
    monkeypatch.setattr(solve, "format_table", functools.partial(list.index, []))
    with pytest.raises(ValueError, match="not in list"):
        main(["solve", "burgers", "--nu", "0.05/pi", *TINY, "--adam", "5", "--iterations", "0",
              "--out", str(tmp_path / "run")])


def test_history_csv_grows_while_a_phase_trains_and_tensorboard_reads_the_same_records(tmp_path, monkeypatch):
    import csv

    from pinn_pac.runs.store import STATE_EVERY, FileTrainingState

    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run, board = tmp_path / "run", tmp_path / "board"
    seen = []
    save = FileTrainingState.save

    def watching(state, payload):  # inside the quasi-Newton phase, every STATE_EVERY iterations
        with (run / "history.csv").open() as stream:
            seen.append([row["step"] for row in csv.DictReader(stream)])
        save(state, payload)

    monkeypatch.setattr(FileTrainingState, "save", watching)
    assert main(["solve", "burgers", "--nu", "0.05/pi", *TINY, "--adam", "20", "--iterations",
                 str(2 * STATE_EVERY + 10), "--out", str(run), "--tensorboard", str(board)]) == 0
    assert len(seen) == 2 and seen[0][-1] == str(20 + STATE_EVERY) and seen[1][-1] == str(20 + 2 * STATE_EVERY)
    assert seen[1][:len(seen[0])] == seen[0]
    history = json.loads((run / "history.json").read_text())
    (label, recorded), = history.items()
    events = EventAccumulator(str(board))
    events.Reload()
    losses = events.Scalars(f"{label}/loss")
    assert [e.step for e in losses] == recorded["step"]
    assert [e.value for e in losses] == pytest.approx(recorded["loss"], rel=1e-6)  # stored as float32


def test_tensorboard_without_its_package_is_refused_before_any_work(tmp_path, monkeypatch, capsys):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard"
                        else find_spec(name, *a))
    assert main(["solve", "burgers", *TINY, "--out", str(tmp_path / "run"), "--tensorboard", str(tmp_path)]) == 2
    assert "--tensorboard needs the tensorboard package" in capsys.readouterr().err
    assert not (tmp_path / "run" / "manifest.json").exists()


@pytest.mark.parametrize("command", [
    ["solve", "burgers", "--nu", "0.05/pi", *TINY, "--adam", "20", "--iterations", "30"],
    ["transfer", "burgers", "--method", "lora", "--source", "nu=0.05/pi", "--targets", "nu=0.1/pi", *TINY, *SHORT],
])
def test_run_of_a_manifest_reproduces_its_run_bit_for_bit(command, tmp_path):
    import torch

    from pinn_pac.runs.checkpoint import load_checkpoint

    first, again = tmp_path / "first", tmp_path / "again"
    assert main([*command, "--out", str(first)]) == 0
    assert main(["run", str(first / "manifest.json"), "--out", str(again), "--quiet"]) == 0

    def results(run):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in json.loads((run / "results.json").read_text())]

    def losses(run):
        return {label: h["loss"] for label, h in json.loads((run / "history.json").read_text()).items()}

    assert results(again) == results(first) and losses(again) == losses(first)
    a, b = load_checkpoint(first / "checkpoint.pt"), load_checkpoint(again / "checkpoint.pt")
    tensors = [(k, v) for k, v in (a.get("network") or a["targets"][0]).items() if isinstance(v, torch.Tensor)]
    assert tensors and all(torch.equal(v, (b.get("network") or b["targets"][0])[k]) for k, v in tensors)


def test_a_nan_error_prints_as_nan_and_only_a_family_without_a_reference_as_n_a():
    from dataclasses import replace

    from pinn_pac.cli.jobs import format_table
    from pinn_pac.runs import Record
    from pinn_pac.runs.reports import comparison_table

    diverged = Record("burgers", {"nu": 0.01}, "source", math.nan, math.nan, 10, 1.0, method="pac")
    unreferenced = Record("mine", {"r": 3.0}, "source", math.nan, math.nan, 10, 1.0, method="pac", reference=False)
    assert format_table([diverged]).splitlines()[2].split()[2:4] == ["nan", "nan"]
    assert format_table([unreferenced]).splitlines()[2].split()[2:4] == ["n/a", "n/a"]
    as_targets = [replace(r, role="target") for r in (diverged, unreferenced)]
    assert "| nan | n/a |" in comparison_table(as_targets[:1]) and "| n/a | n/a |" in comparison_table(as_targets[1:])
    assert Record(**unreferenced.as_dict()).reference is False and "reference" not in diverged.as_dict()


def test_thread_invariance_refused_here_leaves_no_run_behind(tmp_path, monkeypatch, capsys):
    import torch

    from pinn_pac.runs import numerics

    if not torch.backends.mkl.is_available():
        pytest.skip("this torch has no MKL")
    monkeypatch.setenv("MKL_CBWR", "")
    monkeypatch.setattr(numerics, "_active_mode", lambda: 0x10002)
    monkeypatch.setattr(numerics, "_products_agree_on_one_and_two_threads", lambda: False)
    run = tmp_path / "run"
    assert main(["solve", "burgers", *TINY, "--thread-invariant", "--out", str(run)]) == 2
    assert "strict mode" in capsys.readouterr().err and not (run / "manifest.json").exists()


def test_the_live_log_keeps_one_row_per_step_when_a_phase_goes_on_and_grows_columns(tmp_path):
    import csv

    from pinn_pac.solver.callbacks import CsvLog

    log = CsvLog(tmp_path / "history.csv")
    for step in range(4):
        log.on_record("source", {"step": step, "seconds": 0.1, "loss": 1.0, "rel_l2": math.nan})
    log.on_start("source", 1)  # went on from a state kept at step 1: steps 2 and 3 come again
    log.on_record("source", {"step": 2, "seconds": 0.2, "loss": 0.5, "rel_l2": 0.1})
    log.on_record("target", {"step": 0, "seconds": 0.1, "loss": 2.0, "rel_l2": 0.2, "initial": 3.0})
    with (tmp_path / "history.csv").open() as stream:
        rows = list(csv.DictReader(stream))
    assert [(r["phase"], r["step"], r["rel_l2"], r["initial"]) for r in rows] == [
        ("source", "0", "", ""), ("source", "1", "", ""), ("source", "2", "0.1", ""), ("target", "0", "0.2", "3.0")]
