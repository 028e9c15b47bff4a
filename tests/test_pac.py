"""Prune, allocate, calibrate: masks, freezing and the source-exactness invariant."""

import dataclasses

import pytest
import torch

from equations import create
from pinn_pac.solver.evaluate import Evaluator
from pinn_pac.transfer.pac_network import PACNetwork, allocate, prune
from pinn_pac.runs import physics_loss
from pinn_pac.solver.train import Budget

SHORT = Budget(adam_steps=20, iterations=10)


@pytest.mark.parametrize("scope", ["global", "layer"])
@pytest.mark.parametrize("ratio", [0.2, 0.5, 0.9])
def test_prune_frees_the_requested_fraction_of_smallest_weights(tiny_network, scope, ratio):
    kept = prune(tiny_network, ratio, scope)
    weights = [w.detach().abs() for w in tiny_network.weights]
    total = sum(w.numel() for w in weights)
    freed = sum(int((~m).sum()) for m in kept)
    if scope == "global":
        assert freed == round(ratio * total)
        largest_freed = max(w[~m].max() for w, m in zip(weights, kept) if (~m).any())
        smallest_kept = min(w[m].min() for w, m in zip(weights, kept) if m.any())
        assert largest_freed <= smallest_kept
    else:
        for w, m in zip(weights, kept):
            assert int((~m).sum()) == round(ratio * w.numel())
            assert w[~m].max() <= w[m].min()


@pytest.mark.parametrize("ratio", [0.2, 0.5])
def test_output_scope_is_the_global_prune_with_the_output_layer_freeing_its_own_share(tiny_network, ratio):
    kept, global_kept = prune(tiny_network, ratio, "output"), prune(tiny_network, ratio, "global")
    assert all(torch.equal(a, b) for a, b in zip(kept[:-1], global_kept[:-1]))
    output = tiny_network.weights[-1].detach().abs()
    assert int((~kept[-1]).sum()) == round(ratio * output.numel())
    assert output[~kept[-1]].max() <= output[kept[-1]].min()


@pytest.mark.parametrize("ratio", [0.0, 1.0, -0.1, 1.5])
def test_prune_rejects_ratios_outside_open_unit_interval(tiny_network, ratio):
    with pytest.raises(ValueError, match="ratio"):
        prune(tiny_network, ratio)


def test_prune_rejects_unknown_scope(tiny_network):
    with pytest.raises(ValueError, match="scope"):
        prune(tiny_network, 0.5, "row")


def test_allocate_holds_freed_weights_at_exactly_zero_and_trains_kept(tiny_network, tiny_loss):
    kept = prune(tiny_network, 0.5)
    before = [w.detach().clone() for w in tiny_network.weights]
    result = allocate(tiny_network, kept, tiny_loss, SHORT, progress=False)
    for w, w0, m in zip(tiny_network.weights, before, kept):
        assert torch.all(w.detach()[~m] == 0)
        assert not torch.equal(w.detach()[m], w0[m])
    # Training saw the freed weights at zero: its last loss is the loss of the zeroed network
    # (were the mask ignored, the freed weights would have moved and the zeroing changed the loss).
    assert result.history.loss[-1] == pytest.approx(float(tiny_loss(tiny_network).detach()), rel=1e-12)


@pytest.fixture
def allocated(tiny_network, tiny_loss):
    kept = prune(tiny_network, 0.5)
    allocate(tiny_network, kept, tiny_loss, SHORT, progress=False)
    return PACNetwork(tiny_network, kept)


def test_start_adapter_reproduces_the_source_bit_for_bit(allocated):
    points = torch.rand(64, 2, dtype=torch.float64)
    allocated.set_adapter("zero", allocated.start_adapter())
    assert torch.equal(allocated.target_view("zero")(points), allocated.source_view()(points))


def test_calibration_trains_only_freed_weights_and_keeps_source_exact(allocated, tiny_settings):
    points = torch.rand(256, 2, dtype=torch.float64) * torch.tensor([2.0, 1.0], dtype=torch.float64) - torch.tensor([1.0, 0.0], dtype=torch.float64)
    source_state = {k: v.clone() for k, v in allocated.source.state_dict().items()}
    source_prediction = allocated.source_view()(points).detach().clone()

    for key, nu in (("a", 0.02), ("b", 0.002)):
        target = create("burgers", nu=nu)
        allocated.calibrate(key, physics_loss(target, tiny_settings), SHORT, 1e-4, progress=False)

    for name, value in allocated.source.state_dict().items():
        assert torch.equal(value, source_state[name]), f"frozen {name} moved"
    assert torch.equal(allocated.source_view()(points), source_prediction)
    for key in ("a", "b"):
        adapter = allocated.target_adapter(key)
        assert [a.numel() for a in adapter] == [int((~m).sum()) for m in allocated.kept]
        assert any(a.abs().max() > 0 for a in adapter), "calibration did not move freed weights"
        assert not torch.equal(allocated.target_view(key)(points), source_prediction)


def test_calibration_lowers_the_target_error(allocated, tiny_settings):
    target = create("burgers", nu=0.1)
    evaluator = Evaluator(target)
    allocated.set_adapter("start", allocated.start_adapter())
    start = evaluator(allocated.target_view("start")).rel_l2
    allocated.calibrate("t", physics_loss(target, tiny_settings), Budget(50, 50), 1e-6, progress=False)
    assert evaluator(allocated.target_view("t")).rel_l2 < start


def test_large_penalty_keeps_freed_weights_near_zero(tiny_network, tiny_loss, tiny_settings):
    kept = prune(tiny_network, 0.5)
    pac = PACNetwork(tiny_network, kept)
    loss = physics_loss(create("burgers", nu=0.1), tiny_settings)
    pac.calibrate("weak", loss, SHORT, 0.0, progress=False)
    pac.calibrate("strong", loss, SHORT, 10.0, progress=False)
    norm = {k: sum(float(a.square().sum()) for a in pac.target_adapter(k)) for k in ("weak", "strong")}
    assert norm["strong"] < 0.1 * norm["weak"]


def test_negative_penalty_is_refused(allocated, tiny_loss):
    with pytest.raises(ValueError, match="penalty"):
        allocated.calibrate("x", tiny_loss, SHORT, -1.0, progress=False)


@pytest.mark.parametrize("derivatives", ["autograd", "forward"])
def test_stacked_calibration_computes_each_targets_own_loss_and_gradient(
    tiny_network, tiny_settings, derivatives
):
    """Also with forward-mode derivatives asked for: the stacked network's own forward pass
    must not be bypassed by the per-layer propagation (it falls back to autograd)."""
    from pinn_pac.transfer.pac_network import AdaptedNetwork, StackedAdaptedNetwork
    from pinn_pac.solver.loss import StackedPhysicsLoss

    pac = PACNetwork(tiny_network, prune(tiny_network, 0.5))
    targets = [create("burgers", nu=nu) for nu in (0.02, 0.05, 0.1)]
    settings = dataclasses.replace(tiny_settings, derivative_method=derivatives)
    losses = [physics_loss(t, settings) for t in targets]
    generator = torch.Generator().manual_seed(3)
    values = [torch.randn(3, i.numel(), generator=generator, dtype=torch.float64) * 0.1 for i in pac.freed_index]

    stacked = [v.clone().requires_grad_() for v in values]
    total = StackedPhysicsLoss(losses)(StackedAdaptedNetwork(pac, stacked))
    total.backward()
    expected = 0.0
    for k, loss in enumerate(losses):
        own = [v[k].clone().requires_grad_() for v in values]
        value = loss(AdaptedNetwork(pac, own))
        value.backward()
        expected += float(value.detach())
        for layer, grad in enumerate(own):
            assert torch.allclose(stacked[layer].grad[k], grad.grad, rtol=1e-10, atol=1e-13)
    assert float(total) == pytest.approx(expected, rel=1e-12)


def test_stacked_calibration_stores_one_adapter_per_target_and_keeps_the_source(tiny_network, tiny_settings):
    from pinn_pac.solver.loss import StackedPhysicsLoss

    pac = PACNetwork(tiny_network, prune(tiny_network, 0.5))
    source = create("burgers")
    before = Evaluator(source)(pac.source_view()).rel_l2
    targets = [create("burgers", nu=nu) for nu in (0.02, 0.05)]
    loss = StackedPhysicsLoss([physics_loss(t, tiny_settings) for t in targets])
    pac.calibrate_stacked(["a", "b"], loss, SHORT, 0.0, progress=False)
    assert pac.target_keys == ["a", "b"]
    assert not torch.equal(pac.target_adapter("a")[0], pac.target_adapter("b")[0])
    assert Evaluator(source)(pac.source_view()).rel_l2 == before
    with pytest.raises(ValueError, match="3 keys for 2"):
        pac.calibrate_stacked(["a", "b", "c"], loss, SHORT, 0.0, progress=False)


def _calibrated(network, settings) -> PACNetwork:
    """An allocated network with two short calibrations, one under a key holding dots."""
    pac = PACNetwork(network, prune(network, 0.5))
    for key, nu in (("nu=0.02", 0.02), ("nu=0.1", 0.1)):
        pac.calibrate(key, physics_loss(create("burgers", nu=nu), settings), SHORT, 0.0, progress=False)
    return pac


def test_state_dict_carries_masks_and_adapters_into_a_fresh_network(tiny_network, tiny_settings, burgers):
    from pinn_pac.runs import build_network

    pac = _calibrated(tiny_network, tiny_settings)
    state = pac.state_dict()
    assert {"kept.0", "freed_index.2", "adapters.nu=0:02.0", "adapters.nu=0:1.2"} <= set(state)
    fresh_source = build_network(burgers, dataclasses.replace(tiny_settings, seed=5))
    fresh = PACNetwork(fresh_source, [torch.ones_like(w, dtype=torch.bool) for w in fresh_source.weights])
    fresh.load_state_dict(state)  # strict: every key has its place
    points = torch.rand(64, 2, dtype=torch.float64)
    assert fresh.target_keys == ["nu=0.02", "nu=0.1"] and fresh.freed_count == pac.freed_count
    assert torch.equal(fresh.source_view()(points), pac.source_view()(points))
    for key in pac.target_keys:
        assert torch.equal(fresh.target_view(key)(points), pac.target_view(key)(points))
    assert not torch.equal(fresh.target_view("nu=0.02")(points), fresh.target_view("nu=0.1")(points))


def test_to_moves_masks_indices_and_adapters(tiny_network, tiny_settings):
    pac = _calibrated(tiny_network, tiny_settings)
    points = torch.rand(64, 2, dtype=torch.float64)
    expected = pac.target_view("nu=0.1")(points)
    pac.to(torch.float32)
    assert all(a.dtype == torch.float32 for key in pac.target_keys for a in pac.target_adapter(key))
    assert all(m.dtype == torch.bool for m in pac.kept) and all(i.dtype == torch.int64 for i in pac.freed_index)
    single = pac.target_view("nu=0.1")(points.float())
    assert single.dtype == torch.float32 and torch.allclose(single.double(), expected, rtol=1e-5, atol=1e-6)
    assert pac.to("cpu") is pac and pac.kept[0].device.type == "cpu"
    pac.to(torch.device("meta"))  # a second device that every machine has
    tensors = [*pac.kept, *pac.freed_index, *pac.source.parameters(), *pac.target_adapter("nu=0.02")]
    assert {t.device.type for t in tensors} == {"meta"}


def test_an_adapter_that_does_not_fit_the_masks_is_refused(allocated):
    with pytest.raises(ValueError, match="does not fit the masks"):
        allocated.set_adapter("bad", [v[:-1] for v in allocated.start_adapter()])
