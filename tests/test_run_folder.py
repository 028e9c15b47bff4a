"""The run folder in library terms, and what users hit with it: every method of a --method all
folder, --from and --resume as typed, checks before any training, strict histories."""

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

import pinn_pac.runs.solve_job
from equations import create
from pinn_pac.cli import main
from pinn_pac.cli import jobs as cli_jobs
from pinn_pac.runs import Settings, TransferJob, TransferSettings, build_network, evaluate_run, physics_loss, transfer
from pinn_pac.runs.checkpoint import load_checkpoint
from pinn_pac.runs.reports import write_histories
from pinn_pac.runs.store import RunStore
from pinn_pac.solver.loss import MeanPhysicsLoss
from pinn_pac.solver.optim import DENSE_MEMORY_LIMIT, dense_bytes, dense_fits
from pinn_pac.solver.train import Budget, History, train
from pinn_pac.transfer import LoRA, PAC, Parametric, TransferContext

TINY = ["--width", "8", "--depth", "2", "--points", "128", "--condition-points", "32", "--quiet",
        "--derivatives", "autograd", "--threads", "1"]
SHORT = ["--source-adam", "20", "--source-iterations", "10", "--allocate-iterations", "5", "--calibrate-iterations", "10"]


def records(run_dir: Path, name: str = "results.json") -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in json.loads((run_dir / name).read_text())]


@pytest.fixture(scope="module")
def trained_source():
    source = create("burgers", nu=0.05 / math.pi)
    settings = Settings(width=8, depth=2, n_interior=128, n_condition=32)
    network = build_network(source, settings)
    train(network, physics_loss(source, settings), network.parameters(), Budget(50, 10), progress=False)
    return source, network


@pytest.fixture(scope="module")
def all_methods(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("all") / "run"
    assert main(["transfer", "burgers", "--method", "all", "--source", "nu=0.05/pi", "--targets", "nu=0.1/pi",
                 *TINY, *SHORT, "--out", str(out)]) == 0
    return out


def test_evaluate_on_a_method_all_folder_reports_every_method(all_methods, capsys):
    reloaded = evaluate_run(all_methods)
    saved = json.loads((all_methods / "comparison.json").read_text())
    assert [(r.method, r.role, r.rel_l2) for r in reloaded] == [(r["method"], r["role"], r["rel_l2"]) for r in saved]
    assert len(reloaded) == 7 * 2
    assert main(["evaluate", str(all_methods)]) == 0
    assert capsys.readouterr().out.count("target") == 7


def test_predict_on_a_method_all_folder_asks_which_method(all_methods, tmp_path, capsys):
    common = ["predict", str(all_methods), "--grid", "x=-1:1:5,t=0:1:3", "--model", "nu=0.1/pi"]
    assert main([*common, "--out", str(tmp_path / "u.npz")]) == 2
    assert "holds 7 methods (scratch, finetune, l2sp, freeze, lora, parametric, pac); choose one with --method" \
        in capsys.readouterr().err
    values = {}
    for method in ("lora", "pac"):
        assert main([*common, "--method", method, "--out", str(tmp_path / f"{method}.npz")]) == 0
        values[method] = np.load(tmp_path / f"{method}.npz")["u"]
    assert not np.array_equal(values["lora"], values["pac"])


def test_an_interrupted_from_keeps_its_new_targets_for_resume(tmp_path, killed_at):
    run = tmp_path / "run"
    assert main(["transfer", "burgers", "--source", "nu=0.05/pi", "--targets", "nu=0.1/pi", *TINY, *SHORT,
                 "--out", str(run)]) == 0
    with killed_at(lambda piece, _: piece.startswith("pac/nu=0.0127"), before=True):
        main(["transfer", "--from", str(run), "--targets", "nu=0.04/pi", "--quiet"])
    assert main(["transfer", "--resume", str(run), "--quiet"]) == 0
    assert [r["coefficients"]["nu"] for r in records(run)[1:]] == pytest.approx([0.1 / math.pi, 0.04 / math.pi])


def test_an_option_typed_on_resume_is_refused_even_at_its_default(tmp_path, capsys):
    run = tmp_path / "run"
    RunStore.create(run, TransferJob(
        "burgers", {"nu": 0.05 / math.pi}, [{"nu": 0.1 / math.pi}], Settings(), TransferSettings(),
        [{"name": "pac", "options": PAC(ratio=0.5).options_dict()}]).as_dict())
    for typed in (["--ratio", "0.3"], ["--seed", "0"], ["--points", "8000"]):  # each the parser's default
        assert main(["transfer", "--resume", str(run), *typed]) == 2
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and f"{typed[0]}: not with --resume or --from" in error


def test_a_run_started_from_the_library_resumes_from_the_command_line(tmp_path):
    source = create("burgers", nu=0.05 / math.pi)
    targets = [source.with_coefficients(nu=0.1 / math.pi)]
    settings = Settings(width=8, depth=2, n_interior=128, n_condition=32, threads=1)
    budgets = TransferSettings(Budget(20, 10), Budget(0, 5), Budget(0, 10))
    job = TransferJob(source.name, source.coefficients, [t.coefficients for t in targets], settings, budgets,
                               [{"name": "lora", "options": LoRA(rank=2).options_dict()}])
    whole = transfer(source, targets, settings, budgets, [LoRA(rank=2)], progress=False)[0]
    run = tmp_path / "run"
    store = RunStore.create(run, job.as_dict())  # the manifest first, as a library run writes it
    assert json.loads((run / "manifest.json").read_text())["job"]["methods"] == [{"name": "lora",
                                                                                  "options": {"rank": 2}}]
    assert store.summary() == "nothing finished yet"
    assert main(["transfer", "--resume", str(run), "--quiet"]) == 0
    assert [r["rel_l2"] for r in records(run)] == [r.rel_l2 for r in whole.records]


def test_a_run_started_from_the_command_line_resumes_from_the_library(tmp_path, killed_at):
    run, whole = tmp_path / "run", tmp_path / "whole"
    command = ["transfer", "burgers", "--source", "nu=0.05/pi", "--targets", "nu=0.1/pi,nu=0.03/pi", *TINY, *SHORT]
    assert main([*command, "--out", str(whole)]) == 0
    with killed_at(lambda piece, _: piece.startswith("pac/nu=")):
        main([*command, "--out", str(run)])
    store = RunStore.open(run)
    job = TransferJob.from_dict(store.job)
    source = create(job.equation, **job.source)
    methods = [PAC(**m["options"]) for m in job.methods]
    resumed, = transfer(source, [source.with_coefficients(**t) for t in job.targets], job.settings, job.budgets,
                        methods, progress=False, store=store)
    assert [r.as_dict()["rel_l2"] for r in resumed.records] == [r["rel_l2"] for r in records(whole)]


def test_target_points_beyond_the_rad_candidates_are_refused_before_the_source_trains(tmp_path, capsys,
                                                                                       monkeypatch):
    monkeypatch.setattr(pinn_pac.runs.solve_job, "train", lambda *a, **k: pytest.fail("the source started training"))
    assert main(["transfer", "burgers", *TINY, "--rad-candidates", "500", "--target-points", "600",
                 "--out", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "at least as many candidates (500) as interior points (600)" in error


def test_balance_acts_during_pac_calibration_and_the_parametric_range(trained_source, monkeypatch):
    source, network = trained_source
    settings = Settings(width=8, depth=2, n_interior=128, n_condition=32, conditions="soft", balance=True,
                        rad_every=5, rad_candidates=600)
    context = TransferContext(source, network, [source.with_coefficients(nu=0.1 / math.pi)],
                              loss_for=lambda equation, **points: physics_loss(equation, settings, **points),
                              new_network=lambda equation: build_network(equation, settings), n_interior=128)
    pac = PAC(ratio=0.5)
    pac.prepare(context, Budget(0, 0), progress=False)
    loss = context.loss_for(context.targets[0])
    pac.adapt(context.targets[0], Budget(adam_steps=100, iterations=0), loss=loss, progress=False)
    assert loss.weights["initial"] != 1.0 and loss.weights["boundary"] != 1.0  # the adapter's gradients balance

    made = []

    class Recorded(MeanPhysicsLoss):
        def __init__(self, members):
            super().__init__(members)
            self.start = [member.points.interior.clone() for member, _ in members]
            made.append(self)

    monkeypatch.setattr("pinn_pac.transfer.parametric.MeanPhysicsLoss", Recorded)
    result = Parametric(members=2).prepare(context, Budget(adam_steps=100, iterations=10), progress=False)
    (range_loss,) = made
    assert set(result.history.terms) == {"residual", "initial", "boundary"}
    for (member, _), start in zip(range_loss.members, range_loss.start):
        assert not torch.equal(member.points.interior, start)  # RAD moved each member's points
        assert member.weights["initial"] != 1.0  # and balancing weighed its terms


@pytest.mark.parametrize("argv, message", [
    (["reference", "burgers", "--out", "{tmp}"], "is a directory; give the .npz file to write"),
    (["predict", "{committed}", "--grid", "x=-1:1:3,t=0:1:2", "--out", "/proc/pinn-pac-test/u.npz"],
     "cannot write the prediction to /proc/pinn-pac-test"),
    (["solve", "burgers", "--points", "200000000", "--rad-every", "0", "--width", "512", "--out", "{tmp}/big"],
     "needs at least"),
])
def test_unusable_outputs_and_oversized_runs_get_one_line(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(pinn_pac.runs.solve_job, "train", lambda *a, **k: pytest.fail("training started"))
    committed = Path(__file__).resolve().parents[1] / "benchmarks/results/defaults/transfer_seed0"
    assert main([a.format(tmp=tmp_path, committed=committed) for a in argv]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and message in error, error
    assert not (tmp_path / "big").exists()


def test_a_bug_inside_a_library_keeps_its_traceback(monkeypatch, tmp_path):
    """pinn-pac's own refusals are one line; numpy's or a missing key is a bug, not an input error."""
    monkeypatch.setattr("pinn_pac.cli.tools.measure", lambda *a: np.reshape(np.zeros(3), (2,)))
    committed = Path(__file__).resolve().parents[1] / "benchmarks/results/defaults/transfer_seed0"
    with pytest.raises(ValueError, match="cannot reshape"):
        main(["evaluate", str(committed)])
    monkeypatch.setattr("pinn_pac.cli.tools.measure", lambda *a: {}["network"])
    with pytest.raises(KeyError):
        main(["evaluate", str(committed)])


def test_device_on_resume_auto_stored_as_what_it_chose_and_cuda_settings_on_any_machine(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["solve", "oscillator", *TINY, "--adam", "5", "--iterations", "5", "--device", "auto",
                 "--out", str(run)]) == 0
    chosen = "cuda" if torch.cuda.is_available() else "cpu"
    assert json.loads((run / "manifest.json").read_text())["job"]["settings"]["device"] == chosen
    assert load_checkpoint(run)["settings"]["device"] == chosen
    interrupted = tmp_path / "again"
    RunStore.create(interrupted, json.loads((run / "manifest.json").read_text())["job"])
    assert main(["solve", "--resume", str(interrupted), "--device", "cpu", "--quiet"]) == 0
    expected = records(run)
    if chosen != "cpu":  # the same run on the CPU: a GPU's sums differ in the last bits (seen: 1e-14 relative)
        expected = [{**r, **{k: pytest.approx(r[k], rel=1e-9) for k in ("rel_l2", "max_abs_err")}} for r in expected]
    assert records(interrupted) == expected
    assert Settings(device="cuda").device == "cuda"  # written down anywhere; checked where it runs


def test_the_dense_budget_counts_every_matrix_a_phase_holds():
    assert dense_bytes(1000) == 3 * 8 * 1000**2
    largest = int((DENSE_MEMORY_LIMIT / 24) ** 0.5)
    assert dense_fits(largest) and not dense_fits(largest + 1)
    assert not dense_fits(10000)  # one 10000 x 10000 matrix is 0.75 GiB, and a phase may hold three


def test_histories_are_strict_json_and_csv(tmp_path):
    history = History(step=[0, 25], seconds=[0.0, 1.5], loss=[2.0, 1.0], rel_l2=[math.nan, math.nan],
                      optimizer="ssbroyden", terms={"residual": [1.5, 0.5], "initial": [0.5, 0.5]})
    write_histories({"solve nu=0.1": history}, tmp_path)
    text = (tmp_path / "history.json").read_text()
    data = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))
    assert data["solve nu=0.1"]["rel_l2"] == [None, None]
    rows = (tmp_path / "history.csv").read_text().splitlines()
    assert rows == ["phase,step,seconds,loss,rel_l2,initial,residual",
                    "solve nu=0.1,0,0.0,2.0,,0.5,1.5", "solve nu=0.1,25,1.5,1.0,,0.5,0.5"]


def test_lora_follows_the_run_seed_and_stores_no_seed_of_its_own(tmp_path):
    runs = {}
    for seed in ("0", "1"):
        out = tmp_path / seed
        assert main(["transfer", "burgers", "--method", "lora", "--source", "nu=0.05/pi", "--targets", "nu=0.1/pi",
                     *TINY, *SHORT, "--seed", seed, "--out", str(out)]) == 0
        runs[seed] = load_checkpoint(out)
    assert runs["0"]["options"] == runs["1"]["options"] == {"rank": 4}
    assert runs["0"]["seed"] == 0 and runs["1"]["seed"] == 1


def test_lora_draws_its_down_projections_from_the_run_seed(trained_source):
    source, network = trained_source
    settings = Settings(width=8, depth=2, n_interior=128, n_condition=32)
    downs = []
    for seed in (0, 1):
        context = TransferContext(source, network, [source.with_coefficients(nu=0.1 / math.pi)],
                                  loss_for=lambda equation, **points: physics_loss(equation, settings, **points),
                                  new_network=lambda equation: build_network(equation, settings), n_interior=128,
                                  seed=seed)
        lora = LoRA(rank=2)
        lora.prepare(context, Budget(0, 0))
        adapted = lora.adapt(context.targets[0], Budget(0, 0), progress=False)
        downs.append([d.detach().clone() for d in adapted.network.down])
    assert not torch.equal(downs[0][0], downs[1][0])


def test_the_summary_counts_each_methods_targets(tmp_path):
    store = RunStore.create(tmp_path / "run", {"kind": "transfer", "methods": [{"name": "pac"}, {"name": "lora"}]})
    store.manifest["finished"] = ["source", "pac/prepared", "pac/nu=0.1", "pac/nu=0.2", "lora/prepared", "lora/nu=0.1"]
    assert store.summary() == "the source and 3 targets (pac 2, lora 1)"


def test_two_runs_started_in_the_same_second_get_their_own_folders(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("time.strftime", lambda *a: "20261201-120000")
    args = argparse.Namespace(out=None, command="solve")
    burgers = create("burgers")
    first, second = cli_jobs.run_dir_for(args, burgers), cli_jobs.run_dir_for(args, burgers)
    assert first != second and first.is_dir() and second.is_dir()
    assert second.name == first.name + "-2"
