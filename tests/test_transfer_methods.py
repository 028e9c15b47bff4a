"""Each transfer method's contract: what it trains, what stays frozen, what it gives back."""

import copy
import math

import numpy as np
import pytest
import torch

from pinn_pac.solver.evaluate import Evaluator
from pinn_pac.solver.model import MLP
from pinn_pac.runs import Settings, build_network, physics_loss
from pinn_pac.solver.train import Budget, train
from equations import coefficient_key
from pinn_pac.transfer import L2SP, METHODS, PAC, AtCoefficient, CoefficientRange, LoRA, Parametric, TransferContext, make_method

STEPS = Budget(adam_steps=10, iterations=10)
SETTINGS = Settings(width=8, depth=2, seed=0, n_interior=128, n_condition=32)


@pytest.fixture(scope="module")
def trained_source():
    from equations import create

    source = create("burgers", nu=0.05 / math.pi)
    network = build_network(source, SETTINGS)
    train(network, physics_loss(source, SETTINGS), network.parameters(), Budget(50, 20), progress=False)
    return source, network.requires_grad_(False)


@pytest.fixture
def context(trained_source):
    source, network = trained_source
    return TransferContext(
        source, network, [source.with_coefficients(nu=0.1 / math.pi)],
        loss_for=lambda equation, **points: physics_loss(equation, SETTINGS, **points),
        new_network=lambda equation: build_network(equation, SETTINGS),
        n_interior=SETTINGS.n_interior,
    )


def run_method(name, context, **options):
    method = make_method(name, **options)
    before = copy.deepcopy(context.network.state_dict())
    method.prepare(context, Budget(adam_steps=0, iterations=5), progress=False)
    adapted = method.adapt(context.targets[0], STEPS, Evaluator(context.targets[0]), progress=False)
    for key, value in context.network.state_dict().items():  # no method touches the source
        assert torch.equal(value, before[key]), key
    return method, adapted


def outputs(network, n=64):
    points = torch.rand(n, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 2 - 1
    points[:, 1] = (points[:, 1] + 1) / 2
    with torch.no_grad():
        return network(points)


def changed(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return a.detach() != b.detach()


def test_every_method_is_registered_and_unknown_names_are_refused():
    assert set(METHODS) == {"scratch", "finetune", "l2sp", "freeze", "lora", "parametric", "pac"}
    with pytest.raises(ValueError, match="unknown transfer method 'adam'"):
        make_method("adam")


def test_scratch_trains_a_fresh_network_on_the_target_alone(context):
    _, adapted = run_method("scratch", context)
    fresh = context.new_network(context.targets[0])
    assert adapted.trainable == adapted.stored == sum(p.numel() for p in fresh.parameters())
    error = Evaluator(context.targets[0])
    assert adapted.result.history.rel_l2[0] == error(fresh).rel_l2  # it starts from a fresh init


def test_finetune_trains_every_weight_and_does_not_keep_the_source(context):
    _, adapted = run_method("finetune", context)
    for new, old in zip(adapted.network.parameters(), context.network.parameters()):
        assert changed(new, old).all()
    assert adapted.source_view is adapted.network
    assert not torch.equal(outputs(adapted.source_view), outputs(context.network))


def test_l2sp_pulls_the_weights_towards_the_source(context):
    def distance(adapted):
        return sum(float((p - q).detach().square().sum()) for p, q in zip(adapted.network.parameters(), context.network.parameters()))

    _, free = run_method("finetune", context)
    _, pulled = run_method("l2sp", context, alpha=1.0)
    assert distance(pulled) < 0.5 * distance(free)


def test_freeze_trains_only_the_output_layer_and_keeps_the_source_exact(context):
    before = outputs(context.network)
    _, adapted = run_method("freeze", context)
    network, source = adapted.network, context.network
    for new, old in zip([*network.weights[:-1], *network.biases[:-1]], [*source.weights[:-1], *source.biases[:-1]]):
        assert torch.equal(new, old)
    assert changed(network.weights[-1], source.weights[-1]).any()
    assert adapted.trainable == network.weights[-1].numel() + network.biases[-1].numel()
    assert torch.equal(outputs(adapted.source_view), before)


def test_lora_adds_a_low_rank_update_and_keeps_the_source_exact(context):
    before = outputs(context.network)
    _, adapted = run_method("lora", context, rank=2)
    merged = MLP.merged(adapted.network)
    for new, old, bias, old_bias in zip(merged.weights, context.network.weights, merged.biases, context.network.biases):
        update = (new - old).detach()
        assert torch.linalg.matrix_rank(update) <= 2
        assert torch.equal(bias, old_bias)
    assert any(changed(new, old).any() for new, old in zip(merged.weights, context.network.weights))
    # r x (fan_in + fan_out) per matrix, r capped by the matrix's smaller side (2 inputs, 1 output)
    assert adapted.trainable == sum(min(2, *w.shape) * sum(w.shape) for w in context.network.weights)
    assert torch.equal(outputs(adapted.source_view), before)
    assert torch.equal(outputs(merged), outputs(adapted.network))


def test_parametric_starts_as_the_source_and_folds_the_coefficient_exactly(context):
    method = make_method("parametric", members=3)
    method.range = CoefficientRange.spanning([context.source, *context.targets])
    widened = method._widen(context.network)
    at_source = AtCoefficient(widened, context.source.coefficients["nu"])
    assert torch.allclose(outputs(at_source), outputs(context.network), rtol=0, atol=1e-14)

    method, adapted = run_method("parametric", context, members=3)
    assert adapted.trainable == sum(p.numel() for p in method.parametric.parameters())
    assert torch.equal(outputs(MLP.merged(adapted.network)), outputs(adapted.network))
    # Fine-tuning moves the shared inputs too, so the source it gives back has changed.
    assert not torch.equal(outputs(adapted.source_view), outputs(method.source_model()))


def test_parametric_needs_exactly_one_varying_coefficient():
    from equations import create

    source = create("reaction-diffusion")
    with pytest.raises(ValueError, match="exactly one coefficient to vary"):
        CoefficientRange.spanning([source, source.with_coefficients(nu=2.0, rho=4.0)])
    with pytest.raises(ValueError, match="none"):
        CoefficientRange.spanning([source, source])


def test_pac_trains_only_freed_weights_and_keeps_the_source_exact(context):
    method, adapted = run_method("pac", context, ratio=0.5)
    allocated = outputs(method.source_model())
    merged = MLP.merged(adapted.network)
    for new, old, kept in zip(merged.weights, method.pac.source.weights, method.pac.kept):
        assert torch.equal(new[kept], old[kept])
    assert adapted.trainable == method.pac.freed_count
    assert torch.equal(outputs(adapted.source_view), allocated)


def test_pac_allocate_retrains_the_kept_weights_of_a_frozen_source(context):
    assert not any(p.requires_grad for p in context.network.parameters())
    method = make_method("pac", ratio=0.5)
    prepared = method.prepare(context, Budget(adam_steps=0, iterations=20), progress=False)
    assert prepared.history.loss[-1] < prepared.history.loss[0]
    moved = [changed(new[kept], old[kept]).any()
             for new, old, kept in zip(method.pac.source.weights, context.network.weights, method.pac.kept)]
    assert all(moved)


def test_pac_without_allocate_only_zeroes_the_freed_weights(context):
    method = make_method("pac", ratio=0.5, with_allocate=False)
    method.prepare(context, Budget(adam_steps=0, iterations=20), progress=False)
    for new, old, kept in zip(method.pac.source.weights, context.network.weights, method.pac.kept):
        assert torch.equal(new[kept], old[kept]) and torch.all(new[~kept] == 0)


@pytest.mark.parametrize("warm_start", ["zero", "nearest", "auto"])
def test_pac_warm_start_begins_at_the_nearest_calibrated_target(context, warm_start):
    """Untrained (zero-step) calibrations keep their starting point, which shows where they began:
    at the calibrated neighbour when it is nearer than the source, else at the source's zeros
    ("auto" in one process is "nearest")."""
    method = make_method("pac", ratio=0.5, warm_start=warm_start, member_steps=0)
    method.prepare(context, Budget(adam_steps=0, iterations=5), progress=False)
    source = context.source
    nu = source.coefficients["nu"]
    first, near_first, near_source = (source.with_coefficients(nu=f * nu) for f in (3.0, 2.8, 1.5))
    method.adapt(first, STEPS, progress=False)
    no_steps = Budget(adam_steps=0, iterations=0)
    method.adapt(near_first, no_steps, progress=False)
    method.adapt(near_source, no_steps, progress=False)
    calibrated = method.pac.target_adapter(coefficient_key(first))
    assert any(values.abs().max() > 0 for values in calibrated)
    started = method.pac.target_adapter(coefficient_key(near_first))
    for values, expected in zip(started, calibrated):
        assert torch.equal(values, expected if warm_start != "zero" else torch.zeros_like(values))
    assert all(torch.all(v == 0) for v in method.pac.target_adapter(coefficient_key(near_source)))


def test_pac_calibrates_a_target_within_the_familys_reach_by_member_steps_of_lm(context):
    """The first target (3 nu, from the source) takes the calibration budget and the lm finish;
    one whose start lies no farther from it than the farthest calibrated member lies from the
    source (2.8 nu from 3 nu; 0.3 nu from the source) takes `member_steps` lm steps in their
    place; one beyond that reach (6 nu) takes the budget again; member_steps=0 keeps the
    budget throughout, and so does warm start "zero"."""
    source = context.source
    nu = source.coefficients["nu"]
    targets = [source.with_coefficients(nu=f * nu) for f in (3.0, 2.8, 0.3, 6.0)]
    budget = Budget(adam_steps=5, iterations=10)
    full, member = ("ssbroyden", 5 + 10 + 4), ("lm", 7)
    for options, expected in (({"member_steps": 7}, [full, member, member, full]),
                              ({"member_steps": 0}, [full] * 4),
                              ({"member_steps": 7, "warm_start": "zero"}, [full] * 4)):
        method = make_method("pac", ratio=0.5, lm_finish=4, **options)
        method.prepare(context, Budget(adam_steps=0, iterations=5), progress=False)
        results = [method.adapt(target, budget, eval_every=1, progress=False).result for target in targets]
        assert [(r.history.optimizer, r.steps) for r in results] == expected, options
        for result, (optimizer, _) in zip(results, expected):
            if optimizer == "lm":
                assert result.history.loss[-1] < result.history.loss[0]


@pytest.mark.parametrize("warm_start", ["zero", "nearest"])
def test_pac_nearest_warm_start_trains_nearest_targets_first(context, warm_start):
    """Given far to near, a nearest warm start walks out from the source (and from members
    already calibrated), so each target starts from a neighbour; the zero start keeps the order."""
    method = make_method("pac", ratio=0.5, warm_start=warm_start)
    method.prepare(context, Budget(adam_steps=0, iterations=0), progress=False)
    source = context.source
    nu = source.coefficients["nu"]
    far, middle, near, below = (source.with_coefficients(nu=f * nu) for f in (4.0, 2.5, 1.5, 0.8))
    given = [far, middle, below, near]
    expected = [below, near, middle, far] if warm_start == "nearest" else given
    assert method.training_order(given) == expected
    low, beside_middle = (source.with_coefficients(nu=f * nu) for f in (0.4, 3.0))
    assert method.training_order([low, beside_middle]) == [low, beside_middle]
    method.adapt(middle, Budget(adam_steps=0, iterations=0), progress=False)
    # Now a calibrated member lies 0.5 from beside_middle; low is 0.6 from the source.
    expected = [beside_middle, low] if warm_start == "nearest" else [low, beside_middle]
    assert method.training_order([low, beside_middle]) == expected

def test_pac_refuses_an_unknown_warm_start():
    with pytest.raises(ValueError, match="warm start 'neighbour'"):
        PAC(warm_start="neighbour")
    with pytest.raises(ValueError, match="member steps must be >= 0"):
        PAC(member_steps=-1)


def test_every_method_checks_its_own_options():
    with pytest.raises(ValueError, match="rank"):
        LoRA(rank=0)
    with pytest.raises(ValueError, match="alpha"):
        L2SP(alpha=-1.0)
    with pytest.raises(ValueError, match="members"):
        Parametric(members=1)
    with pytest.raises(ValueError, match="prune ratio"):
        PAC(ratio=1.5)


@pytest.mark.parametrize("conditions", ["exact", "soft"])
@pytest.mark.parametrize("name", [n for n, m in METHODS.items() if m.keeps_source])
def test_the_posed_source_stays_bit_exact_under_every_method_that_keeps_it(context, name, conditions):
    """What a user evaluates (the network through the exact form, or not) is unchanged by
    calibrating two targets, whatever the conditions."""
    settings = Settings(**{**vars(SETTINGS), "conditions": conditions})
    context.loss_for = lambda equation, **points: physics_loss(equation, settings, **points)
    method = make_method(name)
    method.prepare(context, Budget(adam_steps=0, iterations=5), progress=False)
    evaluator = Evaluator(context.source, conditions=conditions)
    before = evaluator.predict(method.source_model())
    for target in (context.targets[0], context.source.with_coefficients(nu=0.02 / math.pi)):
        adapted = method.adapt(target, STEPS, loss=context.loss_for(target), progress=False)
        # PAC-Net calibrates the second target, within the family's reach, by lm steps.
        assert adapted.result.history.optimizer in (STEPS.optimizer, "lm") and adapted.result.steps > 0
        assert np.array_equal(evaluator.predict(adapted.source_view), before)
    assert np.array_equal(evaluator.predict(method.source_model()), before)


def test_secant_step_projects_the_target_on_the_two_members_line():
    from equations import create
    from pinn_pac.transfer.nearest import secant_step, two_nearest

    source = create("burgers", nu=0.01)
    member = {f: source.with_coefficients(nu=f * 0.01) for f in (1.0, 1.5, 2.0, 2.5, 5.0)}
    assert two_nearest(member[2.5], [member[1.0], member[2.0], member[1.5]], source) == (member[2.0], member[1.5])
    assert secant_step(member[2.5], member[2.0], member[1.5], source) == pytest.approx(1.0)  # one spacing on
    assert secant_step(member[1.5], member[2.0], member[1.0], source) == pytest.approx(-0.5)  # between: halfway
    assert secant_step(member[5.0], member[2.0], member[1.5], source) == 1.0  # held within one spacing
    assert secant_step(member[2.5], member[2.0], member[2.0], source) == 0.0  # no line: the nearest itself


@pytest.mark.parametrize("name", ["finetune", "l2sp"])
def test_continuation_starts_on_the_secant_with_the_last_members_matrix(context, name, monkeypatch):
    """The first target starts from the source; the next from the secant through the two
    nearest members' weights, its quasi-Newton matrix the one the previous training ended with."""
    import pinn_pac.transfer.finetune as finetune_module

    method = make_method(name, warm_start="continuation")
    method.prepare(context, Budget(adam_steps=0, iterations=0), progress=False)
    nu = context.source.coefficients["nu"]
    first, second = (context.source.with_coefficients(nu=f * nu) for f in (1.5, 2.5))
    given: list = []
    real_train = finetune_module.train

    def recording_train(network, *args, curvature=None, **kwargs):
        given.append((copy.deepcopy(network.state_dict()), curvature))
        return real_train(network, *args, curvature=curvature, **kwargs)

    monkeypatch.setattr(finetune_module, "train", recording_train)
    done = method.adapt(first, Budget(adam_steps=0, iterations=5), progress=False)
    assert given[0][1] is None and done.result.curvature is not None
    for key, value in context.network.state_dict().items():
        assert torch.equal(given[0][0][key], value)
    method.adapt(second, Budget(adam_steps=0, iterations=2), progress=False)
    assert given[1][1] is done.result.curvature
    source_state, first_state = context.network.state_dict(), done.network.state_dict()
    for key, value in given[1][0].items():  # t = 1: one spacing past the first target
        assert torch.allclose(value, 2 * first_state[key] - source_state[key], rtol=0, atol=1e-12)


def test_continuation_is_for_methods_that_train_every_weight():
    with pytest.raises(ValueError, match="'continuation' is for the methods that train every weight"):
        PAC(warm_start="continuation")
