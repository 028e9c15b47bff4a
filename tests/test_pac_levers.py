"""PAC-Net's levers: whole neurons freed, freed weights chosen by sensitivity, own biases."""

import dataclasses

import pytest
import torch

from equations import coefficient_key, create
from pinn_pac.runs import build_network, physics_loss, transfer_context
from pinn_pac.solver.train import Budget
from pinn_pac.transfer import PAC
from pinn_pac.transfer.pac import sensitivity_scores
from pinn_pac.transfer.pac_network import PACNetwork, allocate, prune
from pinn_pac.transfer.pac_source import calibration_start

SHORT = Budget(adam_steps=20, iterations=10)


def test_neurons_scope_frees_whole_neurons_with_the_smallest_outgoing_weights(tiny_network):
    weights = [w.detach() for w in tiny_network.weights]
    kept = prune(tiny_network, 0.3, "neurons")
    freed_per_layer = []
    for layer in range(len(weights) - 1):
        rows = (~kept[layer]).all(dim=1)  # incoming rows all freed
        columns = (~kept[layer + 1]).all(dim=0)  # outgoing columns all freed
        assert torch.equal(rows, columns)
        outgoing = weights[layer + 1].norm(dim=0)
        assert outgoing[columns].max() <= outgoing[~columns].min()
        freed_per_layer.append(int(columns.sum()))
    assert len(set(freed_per_layer)) == 1 and freed_per_layer[0] >= 1
    # Nothing but those neurons' weights is freed: a weight is freed where its row is a freed
    # neuron of this layer or its column one of the layer below.
    total = sum(w.numel() for w in weights)
    for layer, mask in enumerate(kept):
        rows = (~mask).all(dim=1) if layer < len(kept) - 1 else torch.zeros(mask.shape[0], dtype=torch.bool)
        columns = (~kept[layer - 1]).all(dim=1) if layer > 0 else torch.zeros(mask.shape[1], dtype=torch.bool)
        assert torch.equal(~mask, rows[:, None] | columns[None, :])
    # The fewest neurons per layer that free at least the ratio: one fewer frees less.
    def freed_by(count):
        masks = [torch.ones_like(w, dtype=torch.bool) for w in weights]
        for layer in range(len(weights) - 1):
            smallest = torch.argsort(weights[layer + 1].norm(dim=0), stable=True)[:count]
            masks[layer][smallest, :] = False
            masks[layer + 1][:, smallest] = False
        return sum(int((~m).sum()) for m in masks)

    assert freed_by(freed_per_layer[0]) == sum(int((~m).sum()) for m in kept) >= 0.3 * total
    assert freed_by(freed_per_layer[0] - 1) < 0.3 * total


def test_freed_neurons_start_from_their_trained_incoming_weights_and_the_target_starts_as_the_source(
        tiny_network, tiny_loss):
    before = [w.detach().clone() for w in tiny_network.weights]
    kept = prune(tiny_network, 0.3, "neurons")
    start = calibration_start(tiny_network, kept)
    allocate(tiny_network, kept, tiny_loss, SHORT, progress=False)
    pac = PACNetwork(tiny_network, kept, start)
    for layer, (values, weight, mask) in enumerate(zip(pac.start, before, kept)):
        unused = (~kept[layer + 1]).all(dim=0) if layer < len(kept) - 1 else torch.zeros(mask.shape[0], dtype=torch.bool)
        expected = torch.where(unused[:, None].expand_as(weight), weight, torch.zeros_like(weight))[~mask]
        assert torch.equal(values, expected)
    assert any(bool((v != 0).any()) for v in pac.start)
    assert all(torch.all(w.detach()[~m] == 0) for w, m in zip(tiny_network.weights, kept))
    points = torch.rand(64, 2, dtype=torch.float64)
    pac.set_adapter("start", pac.start_adapter())
    assert torch.equal(pac.target_view("start")(points), pac.source_view()(points))


def test_prune_by_scores_frees_the_smallest_scores(tiny_network):
    generator = torch.Generator().manual_seed(1)
    scores = [torch.rand(w.shape, generator=generator, dtype=torch.float64) for w in tiny_network.weights]
    kept = prune(tiny_network, 0.4, "global", scores)
    assert max(s[~m].max() for s, m in zip(scores, kept)) <= min(s[m].min() for s, m in zip(scores, kept))


def test_sensitivity_scores_are_magnitude_over_the_rms_of_the_targets_loss_gradients(burgers, tiny_settings):
    targets = [create("burgers", nu=nu) for nu in (0.02, 0.03, 0.05, 0.1)]
    network = build_network(burgers, tiny_settings)
    context = transfer_context(burgers, network, targets, tiny_settings, progress=False)
    scores = sensitivity_scores(network, context)
    picked = [targets[0], targets[2], targets[3]]  # three spread over the four: first, middle, last
    squares = [torch.zeros_like(w) for w in network.weights]
    for target in picked:
        for total, g in zip(squares, torch.autograd.grad(physics_loss(target, tiny_settings)(network),
                                                         list(network.weights))):
            total += g.square()
    for score, weight, total in zip(scores, network.weights, squares):
        assert torch.allclose(score, weight.detach().abs() / (total / 3).sqrt(), rtol=1e-12)


def test_own_biases_are_calibrated_per_target_and_the_source_keeps_its_own(tiny_network, tiny_loss, tiny_settings):
    kept = prune(tiny_network, 0.5)
    allocate(tiny_network, kept, tiny_loss, SHORT, progress=False)
    pac = PACNetwork(tiny_network, kept, own_biases=True)
    source_biases = [b.detach().clone() for b in tiny_network.biases]
    points = torch.rand(64, 2, dtype=torch.float64)
    source = pac.source_view()(points).clone()
    pac.calibrate("t", physics_loss(create("burgers", nu=0.05), tiny_settings), SHORT, 0.0, progress=False)
    adapter = pac.target_adapter("t")
    layers = len(kept)
    assert pac.freed_count == sum(int((~m).sum()) for m in kept) + sum(b.numel() for b in source_biases)
    assert [a.shape for a in adapter[layers:]] == [b.shape for b in source_biases]
    assert any(not torch.equal(a, b) for a, b in zip(adapter[layers:], source_biases))
    assert all(torch.equal(b, b0) for b, b0 in zip(tiny_network.biases, source_biases))
    assert torch.equal(pac.source_view()(points), source)
    fresh = PACNetwork(build_network(create("burgers"), dataclasses.replace(tiny_settings, seed=4)),
                       [torch.ones_like(m) for m in kept], own_biases=True)
    fresh.load_state_dict(pac.state_dict())
    assert torch.equal(fresh.target_view("t")(points), pac.target_view("t")(points))


def test_start_values_are_saved_and_a_state_saved_without_them_loads_them_at_zero(tiny_network, tiny_settings):
    kept = prune(tiny_network, 0.3, "neurons")
    pac = PACNetwork(tiny_network, kept, calibration_start(tiny_network, kept))
    pac.calibrate("t", physics_loss(create("burgers", nu=0.05), tiny_settings), SHORT, 0.0, progress=False)
    assert any(bool((v != 0).any()) for v in pac.start)
    points = torch.rand(64, 2, dtype=torch.float64)
    for state, zero in ((pac.state_dict(), False),
                        ({k: v for k, v in pac.state_dict().items() if not k.startswith("start.")}, True)):
        fresh = PACNetwork(build_network(create("burgers"), tiny_settings), [torch.ones_like(m) for m in kept])
        fresh.load_state_dict(state)
        assert all(torch.equal(v, torch.zeros_like(v) if zero else w) for v, w in zip(fresh.start, pac.start))
        assert torch.equal(fresh.target_view("t")(points), pac.target_view("t")(points))


@pytest.mark.parametrize("options", [{"scope": "neurons"}, {"free_by": "sensitivity", "own_biases": True}])
def test_each_lever_runs_through_prepare_and_adapt_and_keeps_the_source(burgers, tiny_settings, options):
    from pinn_pac.runs import TransferSettings, solve, transfer

    targets = [create("burgers", nu=0.02), create("burgers", nu=0.05)]
    budgets = TransferSettings(source=Budget(30, 10), allocate=Budget(0, 5), calibrate=Budget(0, 10))
    source_run = solve(burgers, tiny_settings, budgets.source, progress=False)
    (run,) = transfer(burgers, targets, tiny_settings, budgets, (PAC(**options),), progress=False,
                      source_run=source_run)
    allocated = run.records[0].rel_l2
    assert all(record.source_rel_l2_after == allocated for record in run.records[1:])
    for target in targets:
        loss = run.histories[f"pac {coefficient_key(target)}"].loss
        assert loss[-1] < loss[0]


def test_an_unknown_free_by_and_sensitivity_with_neurons_are_refused():
    with pytest.raises(ValueError, match="free-by"):
        PAC(free_by="gradient")
    with pytest.raises(ValueError, match="choose one"):
        PAC(scope="neurons", free_by="sensitivity")


def test_the_levers_as_flags_save_and_reload_to_the_recorded_errors(tmp_path):
    import json

    from pinn_pac.cli import main
    from pinn_pac.runs.predict import load_model
    from pinn_pac.solver.evaluate import Evaluator

    out = tmp_path / "run"
    assert main(["transfer", "burgers", "--source", "nu=0.05/pi", "--targets", "nu=0.1/pi", "--scope", "neurons",
                 "--own-biases", "--width", "8", "--depth", "2", "--points", "128", "--condition-points", "32",
                 "--quiet", "--source-adam", "30", "--source-iterations", "10", "--allocate-iterations", "5",
                 "--calibrate-iterations", "10", "--out", str(out)]) == 0
    records = json.loads((out / "results.json").read_text())
    for model, record in zip(("source", "nu=0.1/pi"), records):
        network = load_model(out, model).network
        assert Evaluator(create("burgers", **record["coefficients"]))(network).rel_l2 == record["rel_l2"]
    source = load_model(out, "source").network
    freed = sum(int((w == 0).sum()) for w in source.weights)  # the freed weights are 0 in the allocated source
    assert records[1]["trainable_params"] == freed + sum(b.numel() for b in source.biases)


def test_stacked_calibration_with_own_biases_computes_each_targets_own_loss(tiny_network, tiny_settings):
    from pinn_pac.solver.loss import StackedPhysicsLoss
    from pinn_pac.transfer.pac_network import AdaptedNetwork, StackedAdaptedNetwork

    pac = PACNetwork(tiny_network, prune(tiny_network, 0.5), own_biases=True)
    losses = [physics_loss(create("burgers", nu=nu), tiny_settings) for nu in (0.02, 0.1)]
    generator = torch.Generator().manual_seed(5)
    values = [v + 0.1 * torch.randn((2, *v.shape), generator=generator, dtype=torch.float64)
              for v in pac.start_values()]
    stacked = float(StackedPhysicsLoss(losses)(StackedAdaptedNetwork(pac, values)))
    each = sum(float(loss(AdaptedNetwork(pac, [v[k] for v in values]))) for k, loss in enumerate(losses))
    assert stacked == pytest.approx(each, rel=1e-12)


def test_sensitivity_with_two_targets_uses_both(burgers, tiny_settings):
    targets = [create("burgers", nu=0.02), create("burgers", nu=0.1)]
    network = build_network(burgers, tiny_settings)
    scores = sensitivity_scores(network, transfer_context(burgers, network, targets, tiny_settings, progress=False))
    squares = [torch.zeros_like(w) for w in network.weights]
    for target in targets:
        for total, g in zip(squares, torch.autograd.grad(physics_loss(target, tiny_settings)(network),
                                                         list(network.weights))):
            total += g.square()
    assert all(torch.allclose(s, w.detach().abs() / (t / 2).sqrt(), rtol=1e-12)
               for s, w, t in zip(scores, network.weights, squares))


def test_gauss_newton_benchmark_quick_mode_has_an_exact_jacobian_and_a_falling_loss(tmp_path):
    """benchmarks/pac_gauss_newton.py on the stored default-job source, tiny budgets: its
    Jacobian of the freed weights matches autograd's gradient, Levenberg-Marquardt lowers the
    loss, and the three ways are written."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "pac_gauss_newton.py"
    done = subprocess.run([sys.executable, str(script), "--quick", "--seeds", "0", "--results", str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    records = json.loads((tmp_path / "pac_gauss_newton.json").read_text())["records"]
    assert [r["method"] for r in records] == ["lm", "ssbroyden"] * 4 + ["scratch"]
    for record in records[:-1]:
        assert record["gradient_check"] < 1e-12 and record["freed"] > 0
    for record in (r for r in records if r["method"] == "lm"):
        losses = record["history"]["loss"]
        assert record["history"]["step"] == [0, 3] and losses[1] < losses[0]
    assert "| lm | 4 |" in (tmp_path / "pac_gauss_newton.md").read_text()
    assert (tmp_path / "pac_gauss_newton.png").stat().st_size > 500



def test_pac_takes_its_own_lm_steps_after_calibration_only_where_lm_serves(burgers, tiny_settings):
    from pinn_pac.runs import TransferSettings, solve, transfer

    target = create("burgers", nu=0.02)
    budgets = TransferSettings(source=Budget(30, 10), allocate=Budget(0, 5), calibrate=Budget(0, 10))
    source_run = solve(burgers, tiny_settings, budgets.source, progress=False)

    def history(method, settings=tiny_settings, calibrate=budgets.calibrate, run=source_run):
        (done,) = transfer(burgers, [target], settings, dataclasses.replace(budgets, calibrate=calibrate),
                           (method,), progress=False, source_run=run)
        return done.histories[f"pac {coefficient_key(target)}"]

    finished, plain = history(PAC(lm_finish=7)), history(PAC(lm_finish=0))
    assert (finished.step[-1], plain.step[-1]) == (17, 10)
    at_ten = finished.step.index(10)
    assert finished.loss[at_ten] == plain.loss[-1]  # the same calibration before the finish
    assert finished.loss[-1] < plain.loss[-1]
    # On top of the run's own finish, for every method.
    assert history(PAC(lm_finish=7), calibrate=Budget(0, 10, finish=3)).step[-1] == 20
    # None where the calibration is lm already, nor where lm cannot serve (causal weighting).
    assert history(PAC(lm_finish=7), calibrate=Budget(0, 10, optimizer="lm")).step[-1] == 10
    causal = dataclasses.replace(tiny_settings, causal=1.0)
    causal_source = solve(burgers, causal, budgets.source, progress=False)
    assert history(PAC(lm_finish=7), settings=causal, run=causal_source).step[-1] == 10


def test_lm_finish_defaults_to_400_reads_old_records_as_none_and_refuses_negatives():
    assert PAC().options.lm_finish == 400
    assert PAC.from_record({"ratio": 0.3}).options.lm_finish == 0  # recorded before the option existed
    assert PAC.from_record({"lm_finish": 5}).options.lm_finish == 5
    with pytest.raises(ValueError, match="lm finish"):
        PAC(lm_finish=-1)
