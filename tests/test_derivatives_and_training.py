"""Derivative paths agree; training is seeded, lowers the error, stops and fails cleanly."""

import math
import subprocess
import sys
import textwrap

import pytest
import torch

from equations import create
from pinn_pac.solver.derivatives import compute_fields, parse_derivatives
from pinn_pac.solver.evaluate import Evaluator
from pinn_pac.runs import Settings, build_network, physics_loss, solve
from pinn_pac.solver.sampling import sample_points
from pinn_pac.solver.train import Budget, TrainingDiverged, train


def test_forward_mode_matches_nested_autograd(burgers):
    network = build_network(burgers, Settings(width=16, depth=3, seed=3))
    derivatives = parse_derivatives(("u_t", "u_x", "u_xx", "u_tt"), ("x", "t"), ("u",))
    points = torch.rand(200, 2, dtype=torch.float64)
    forward = compute_fields(network, points, derivatives, ("u",), "forward")
    nested = compute_fields(network, points, derivatives, ("u",), "autograd")
    assert forward.keys() == nested.keys()
    for name in forward:
        torch.testing.assert_close(forward[name], nested[name], rtol=1e-12, atol=1e-12)


def test_compiled_path_matches_nested_autograd_in_fields_and_parameter_gradients(burgers):
    network = build_network(burgers, Settings(width=12, depth=2, seed=4))
    derivatives = parse_derivatives(burgers.derivatives, burgers.inputs, burgers.outputs)
    points = torch.rand(96, 2, dtype=torch.float64)
    results = {}
    for method in ("compiled", "autograd"):
        fields = compute_fields(network, points, derivatives, burgers.outputs, method)
        loss = burgers.residual(fields).square().mean()
        results[method] = (fields, torch.autograd.grad(loss, list(network.parameters())))
    (fields, grads), (expected_fields, expected_grads) = results["compiled"], results["autograd"]
    for name in expected_fields:
        torch.testing.assert_close(fields[name], expected_fields[name], rtol=1e-12, atol=1e-12)
    for grad, expected in zip(grads, expected_grads):
        torch.testing.assert_close(grad, expected, rtol=1e-10, atol=1e-12)


def test_compiled_path_without_a_compiler_says_what_to_do():
    """Run apart: inductor remembers a failed compiler for the rest of the process."""
    script = textwrap.dedent("""
        import torch, torch._inductor.config as inductor_config
        from equations import create
        from pinn_pac.solver.derivatives import CompileUnavailable, compute_fields, parse_derivatives
        from pinn_pac.runs import Settings, build_network
        inductor_config.cpp.cxx = ("/nonexistent/c++",)
        inductor_config.fx_graph_cache = False
        network = build_network(create("burgers"), Settings(width=5, depth=1))
        derivatives = parse_derivatives(("u_x",), ("x", "t"), ("u",))
        try:
            compute_fields(network, torch.rand(7, 2, dtype=torch.float64), derivatives, ("u",), "compiled")
        except CompileUnavailable as error:
            print(error)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "could not compile" in done.stdout and "--derivatives autograd" in done.stdout


def test_unknown_derivative_method_is_refused(burgers):
    network = build_network(burgers, Settings(width=4, depth=1))
    derivatives = parse_derivatives(("u_x",), ("x", "t"), ("u",))
    with pytest.raises(ValueError, match="autograd, forward, compiled"):
        compute_fields(network, torch.rand(3, 2, dtype=torch.float64), derivatives, ("u",), "symbolic")
    with pytest.raises(ValueError, match="derivative method"):
        Settings(derivative_method="symbolic")


def test_derivative_of_a_known_function():
    """Both paths give the exact derivatives of a one-neuron network u = tanh(a x + b t)."""
    network = build_network(create("burgers"), Settings(width=1, depth=1))
    with torch.no_grad():
        network.weights[0].copy_(torch.tensor([[0.7, -0.4]], dtype=torch.float64))
        network.weights[1].fill_(1.0)
    points = torch.tensor([[0.3, 0.2], [-0.5, 0.9]], dtype=torch.float64)
    z = 0.7 * points[:, :1] - 0.4 * (2 * points[:, 1:] - 1)  # t is scaled from [0, 1] to [-1, 1]
    s = 1 - torch.tanh(z) ** 2
    expected = {"u_x": 0.7 * s, "u_t": -0.8 * s, "u_xx": -2 * torch.tanh(z) * s * 0.49}
    derivatives = parse_derivatives(tuple(expected), ("x", "t"), ("u",))
    for method in ("forward", "autograd"):
        fields = compute_fields(network, points, derivatives, ("u",), method)
        for name, value in expected.items():
            torch.testing.assert_close(fields[name], value, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("name", ["u_y", "w_x", "u_xxxxx", "u"])
def test_unreadable_derivative_names_are_refused(name):
    with pytest.raises(ValueError):
        parse_derivatives((name,), ("x", "t"), ("u",))


def test_sampling_is_seeded_and_inside_the_domain(burgers):
    a = sample_points(burgers, 100, 20, seed=5)
    b = sample_points(burgers, 100, 20, seed=5)
    c = sample_points(burgers, 100, 20, seed=6)
    assert torch.equal(a.interior, b.interior) and not torch.equal(a.interior, c.interior)
    assert a.interior[:, 0].abs().max() <= 1 and a.interior[:, 1].min() >= 0 and a.interior[:, 1].max() <= 1
    initial, boundary = a.conditions
    assert torch.all(initial.points[:, 1] == 0)
    assert set(boundary.points[:, 0].tolist()) == {-1.0, 1.0}
    torch.testing.assert_close(initial.values[:, 0], -torch.sin(math.pi * initial.points[:, 0]))


def test_solve_is_reproducible_and_lowers_the_error(burgers, tiny_settings):
    budget = Budget(adam_steps=60, iterations=40)
    first = solve(burgers, tiny_settings, budget, progress=False)
    second = solve(burgers, tiny_settings, budget, progress=False)
    assert first.record.rel_l2 == second.record.rel_l2
    assert first.history.loss[-1] < 0.5 * first.history.loss[0]
    assert first.history.rel_l2[-1] < first.history.rel_l2[0]


def test_early_stop_on_target_loss(burgers, tiny_settings):
    network = build_network(burgers, tiny_settings)
    result = train(network, physics_loss(burgers, tiny_settings), network.parameters(),
                   Budget(adam_steps=500, iterations=0, target_loss=0.5), progress=False)
    assert result.stopped_because == "target loss reached"
    assert result.steps < 500 and result.history.loss[-1] <= 0.5


def test_early_stop_on_target_error(burgers, tiny_settings):
    network = build_network(burgers, tiny_settings)
    result = train(network, physics_loss(burgers, tiny_settings), network.parameters(),
                   Budget(adam_steps=500, iterations=0, target_error=0.9), Evaluator(burgers),
                   progress=False)
    assert result.stopped_because == "target error reached"
    assert result.history.rel_l2[-1] <= 0.9


def test_float32_training_runs_in_float32(burgers):
    settings = Settings(width=8, depth=2, n_interior=64, n_condition=16, dtype="float32")
    run = solve(burgers, settings, Budget(adam_steps=10, iterations=10), progress=False)
    assert run.network.weights[0].dtype == torch.float32
    assert math.isfinite(run.record.rel_l2)


def test_divergence_is_reported(burgers, tiny_settings):
    network = build_network(burgers, tiny_settings)
    loss = physics_loss(burgers, tiny_settings)
    calls = {"n": 0}

    def exploding(net):
        calls["n"] += 1
        value = loss(net)
        return value * float("nan") if calls["n"] > 5 else value

    with pytest.raises(TrainingDiverged, match="loss became nan"):
        train(network, exploding, network.parameters(), Budget(adam_steps=50, iterations=0), progress=False)



def _lora(network):
    from pinn_pac.transfer import LoRANetwork

    lora = LoRANetwork(network, 2, torch.Generator().manual_seed(0))
    with torch.no_grad():
        for up in lora.up:
            up.normal_(generator=torch.Generator().manual_seed(1))
    return lora


def _adapted(network):
    from pinn_pac.transfer.pac_network import AdaptedNetwork, PACNetwork, prune

    pac = PACNetwork(network, prune(network, 0.3))
    generator = torch.Generator().manual_seed(2)
    return AdaptedNetwork(pac, [0.1 * torch.randn(i.numel(), generator=generator, dtype=torch.float64)
                                for i in pac.freed_index])


def _parametric(network):
    from pinn_pac.transfer import AtCoefficient, CoefficientRange, Parametric

    method = Parametric(members=3)
    method.range = CoefficientRange("nu", 0.001, 0.01)
    widened = method._widen(network)
    with torch.no_grad():
        widened.weights[0][:, -1].normal_(generator=torch.Generator().manual_seed(3))
    return AtCoefficient(widened, 0.005)


@pytest.mark.parametrize("family, names, wrap", [
    ("lotka-volterra", ("u_t", "v_t"), None),  # two outputs
    ("oscillator", ("u_t", "u_tt"), None),  # a second derivative in t
    ("helmholtz", ("u_xx", "u_yy"), None),  # a second derivative in y
    ("burgers", ("u_t", "u_x", "u_xx"), _adapted),  # PAC-Net's adapted view
    ("burgers", ("u_t", "u_x", "u_xx"), _lora),
    ("burgers", ("u_t", "u_x", "u_xx"), _parametric),
])
def test_compiled_path_matches_autograd_across_systems_orders_and_adapted_networks(family, names, wrap):
    equation = create(family)
    network = build_network(equation, Settings(width=8, depth=2, seed=4))
    network = wrap(network) if wrap else network
    lower = torch.tensor([equation.domain[n][0] for n in equation.inputs], dtype=torch.float64)
    upper = torch.tensor([equation.domain[n][1] for n in equation.inputs], dtype=torch.float64)
    points = lower + (upper - lower) * torch.rand(40, len(lower), generator=torch.Generator().manual_seed(5),
                                                  dtype=torch.float64)
    derivatives = parse_derivatives(names, equation.inputs, equation.outputs)
    compiled = compute_fields(network, points, derivatives, equation.outputs, "compiled", equation.inputs)
    expected = compute_fields(network, points, derivatives, equation.outputs, "autograd", equation.inputs)
    for name, value in expected.items():
        assert torch.allclose(compiled[name], value, rtol=1e-10, atol=1e-12), name


def test_compiled_path_gives_the_same_loss_with_a_soft_derivative_condition():
    """The oscillator posed softly keeps u'(0) = 0 as a loss term on derivatives."""
    oscillator = create("oscillator")
    network = build_network(oscillator, Settings(width=8, depth=2, seed=6))
    losses = [physics_loss(oscillator, Settings(width=8, depth=2, n_interior=64, n_condition=4, conditions="soft",
                                                rad_every=0, derivative_method=method))(network)
              for method in ("compiled", "autograd")]
    assert float(losses[0].detach()) == pytest.approx(float(losses[1].detach()), rel=1e-12)
