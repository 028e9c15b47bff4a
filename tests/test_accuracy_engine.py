"""Exact forms, the dense quasi-Newton methods and RAD resampling."""

import math

import numpy as np
import pytest
import torch

from equations import FAMILIES, PeriodicCondition, create
from pinn_pac.solver.derivatives import parse_derivatives
from pinn_pac.solver.optim import DENSE_METHODS, OPTIMIZERS, DenseQuasiNewton, strong_wolfe
from pinn_pac.solver.posing import Posing
from pinn_pac.runs import Settings, build_network, physics_loss
from pinn_pac.solver.sampling import rad_choice
from pinn_pac.solver.train import Budget, train

SETTINGS = Settings(width=8, depth=2, seed=0, n_interior=128, n_condition=32)


def random_points(n: int, seed: int) -> torch.Tensor:
    """Points in Burgers' box x in [-1, 1], t in [0, 1]."""
    points = torch.rand(n, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return torch.stack([2 * points[:, 0] - 1, points[:, 1]], dim=1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_burgers_exact_form_meets_its_conditions_for_random_networks(seed):
    burgers = create("burgers")
    network = build_network(burgers, Settings(width=16, depth=3, seed=seed))
    posing = Posing(burgers, "exact")
    points = random_points(200, seed + 10)
    initial = points.clone()
    initial[:, 1] = 0.0
    left, right = points.clone(), points.clone()
    left[:, 0], right[:, 0] = -1.0, 1.0
    with torch.no_grad():
        assert torch.allclose(posing.predict(network, initial), -torch.sin(math.pi * initial[:, :1]), rtol=0, atol=1e-12)
        assert posing.predict(network, left).abs().max() <= 1e-12
        assert posing.predict(network, right).abs().max() <= 1e-12
        assert posing.predict(network, points).abs().max() > 1e-3  # the network does matter inside
    assert posing.soft_conditions() == []
    assert [c.name for c in Posing(burgers, "soft").soft_conditions()] == ["initial", "boundary"]


@pytest.mark.parametrize("method", ["autograd", "forward", "compiled"])
def test_exact_form_derivatives_match_autograd_through_the_posed_solution(method):
    """The product rule on any derivative path equals nested autograd of u = g + d N."""
    burgers = create("burgers")
    network = build_network(burgers, Settings(width=12, depth=2, seed=3))
    posing = Posing(burgers, "exact")
    derivatives = parse_derivatives(("u_t", "u_x", "u_xx", "u_xt"), burgers.inputs, burgers.outputs)
    points = random_points(50, 4)
    if method != "autograd":  # mixed derivatives are autograd-only; the residual's set is pure
        derivatives = derivatives[:3]
    fields = posing.fields(network, points, derivatives, method)

    tracked = points.clone().requires_grad_(True)
    u = posing.predict(network, tracked)
    (first,) = torch.autograd.grad(u.sum(), tracked, create_graph=True)
    (second_x,) = torch.autograd.grad(first[:, 0].sum(), tracked, create_graph=True)
    expected = {"u": u, "u_x": first[:, :1], "u_t": first[:, 1:], "u_xx": second_x[:, :1], "u_xt": second_x[:, 1:]}
    for d in ["u", *(d.name for d in derivatives)]:
        assert torch.allclose(fields[d], expected[d], rtol=1e-10, atol=1e-12), d


def test_exact_conditions_leave_the_loss_and_soft_ones_stay():
    burgers = create("burgers")
    exact = physics_loss(burgers, SETTINGS)
    soft = physics_loss(burgers, Settings(**{**vars(SETTINGS), "conditions": "soft"}))
    assert exact.points.conditions == [] and len(soft.points.conditions) == 2
    network = build_network(burgers, SETTINGS)
    residual_only = exact.equation.residual(exact._fields(network, exact.points.interior, exact.derivatives))
    assert float(exact(network).detach()) == pytest.approx(float(residual_only.detach().square().mean()), rel=1e-14)


def quadratic(n: int = 6, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    q = torch.randn(n, n, generator=generator, dtype=torch.float64)
    a = q @ q.T + 0.5 * torch.eye(n, dtype=torch.float64)
    b = torch.randn(n, generator=generator, dtype=torch.float64)
    x = torch.nn.Parameter(torch.zeros(n, dtype=torch.float64))
    return a, b, x, (lambda: 0.5 * x @ a @ x - b @ x)


def test_bfgs_update_matches_the_closed_form_on_a_quadratic():
    a, b, x, objective = quadratic()
    optimizer = DenseQuasiNewton([x], objective, "bfgs")
    x0, g0 = optimizer.x.clone(), optimizer.gradient.clone()
    optimizer.step()
    s, y = optimizer.x - x0, optimizer.gradient - g0
    assert torch.allclose(y, a @ s, atol=1e-12)  # the quadratic's exact curvature pair
    # H0 = (s.y / y.y) I, then (I - rho s y') H0 (I - rho y s') + rho s s' (Nocedal, Wright eq. 6.17).
    rho, identity = 1 / float(s @ y), torch.eye(len(s), dtype=torch.float64)
    h0 = float(s @ y) / float(y @ y) * identity
    expected = (identity - rho * torch.outer(s, y)) @ h0 @ (identity - rho * torch.outer(y, s)) + rho * torch.outer(s, s)
    assert torch.allclose(optimizer.inverse_hessian, expected, rtol=1e-12, atol=1e-14)
    assert torch.allclose(optimizer.inverse_hessian @ y, s, atol=1e-12)  # the secant equation


def test_the_update_in_its_work_matrix_gives_the_bits_of_the_formula_on_fresh_tensors():
    a, b, x, objective = quadratic(300, 2)
    optimizer = DenseQuasiNewton([x], objective, "ssbroyden")
    for _ in range(3):  # H away from the identity
        optimizer.step()
    for seed in (10, 11):  # twice: the second update reuses the work matrix
        s = torch.randn(300, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
        y, g, step, h = a @ s, optimizer.gradient, 0.5, optimizer.inverse_hessian.clone()
        rho = 1.0 / float(s @ y)
        hy = h @ y
        yhy = float(y @ hy)
        phi, tau = optimizer._scaling(rho * yhy, -step * rho * float(s @ g))
        v = rho * s - hy / yhy
        h.sub_(torch.outer(hy, hy), alpha=1.0 / yhy).add_(torch.outer(v, v), alpha=phi * yhy)
        h.div_(tau).add_(torch.outer(s, s), alpha=rho)
        expected = (h + h.T) / 2
        optimizer._update(s, y, step, g)
        assert torch.equal(optimizer.inverse_hessian, expected)


@pytest.mark.parametrize("method", DENSE_METHODS)
def test_each_dense_method_minimises_a_quadratic(method):
    a, b, x, objective = quadratic(8, 1)
    optimizer = DenseQuasiNewton([x], objective, method)
    start = optimizer.loss
    for _ in range(40):
        optimizer.step()
    solution = torch.linalg.solve(a, b)
    minimum = float(-0.5 * b @ solution)
    assert optimizer.loss < start
    assert optimizer.loss - minimum <= 1e-10 * abs(minimum)
    assert torch.allclose(x.detach(), solution, atol=1e-6)


@pytest.mark.parametrize("method", [*DENSE_METHODS, "lbfgs"])
def test_each_optimizer_lowers_a_small_pinn_loss(method):
    burgers = create("burgers", nu=0.05 / math.pi)
    settings = Settings(**{**vars(SETTINGS), "rad_every": 0})
    network = build_network(burgers, settings)
    loss = physics_loss(burgers, settings)
    before = float(loss(network).detach())
    result = train(network, loss, network.parameters(), Budget(adam_steps=0, iterations=30, optimizer=method),
                   progress=False)
    assert result.history.optimizer == method
    assert float(loss(network).detach()) < 0.5 * before


def test_strong_wolfe_step_meets_both_conditions():
    def rosenbrock(z: torch.Tensor) -> tuple[float, torch.Tensor]:
        z = z.clone().requires_grad_(True)
        value = (1 - z[0]) ** 2 + 100 * (z[1] - z[0] ** 2) ** 2
        (gradient,) = torch.autograd.grad(value, z)
        return float(value), gradient

    x = torch.tensor([-1.2, 1.0], dtype=torch.float64)
    f0, g0 = rosenbrock(x)
    direction = -g0
    result = strong_wolfe(lambda t: rosenbrock(x + t * direction), f0, g0, direction, step=1.0)
    slope0 = float(g0 @ direction)
    assert result.step > 0
    assert result.loss <= f0 + 1e-4 * result.step * slope0
    assert abs(float(result.gradient @ direction)) <= 0.9 * abs(slope0)


def test_a_non_finite_trial_loss_shortens_the_step():
    calls = []

    def evaluate(t: float) -> tuple[float, torch.Tensor]:
        calls.append(t)
        if t > 0.5:
            return math.inf, torch.full((1,), math.nan, dtype=torch.float64)
        return (t - 0.3) ** 2, torch.tensor([2 * (t - 0.3)], dtype=torch.float64)

    result = strong_wolfe(evaluate, 0.09, torch.tensor([-0.6], dtype=torch.float64),
                          torch.tensor([1.0], dtype=torch.float64), step=1.0)
    assert 0 < result.step <= 0.5 and result.loss < 0.09 and calls[0] == 1.0


def test_rad_prefers_large_residuals_and_is_seeded():
    residual = torch.cat([torch.full((500, 1), 100.0), torch.zeros(500, 1)])
    chosen = rad_choice(residual, 200, np.random.default_rng(0))
    # p ~ |r| / mean|r| + 1 is 3 on the large half and 1 on the other: about 3 in 4 draws.
    assert len(set(chosen)) == 200 and 0.6 < (chosen < 500).mean() < 0.8
    assert (rad_choice(residual, 200, np.random.default_rng(1), c=0.0) < 500).all()
    assert np.array_equal(chosen, rad_choice(residual, 200, np.random.default_rng(0)))


def test_rad_resampling_is_fixed_by_the_seed_and_moves_points():
    burgers = create("burgers")
    settings = Settings(**{**vars(SETTINGS), "rad_candidates": 1000})
    network = build_network(burgers, settings)
    first, second, other = (physics_loss(burgers, s) for s in
                            (settings, settings, Settings(**{**vars(settings), "seed": 1})))
    before = first.points.interior.clone()
    for loss in (first, second, other):
        loss.resample(network)
    assert torch.equal(first.points.interior, second.points.interior)
    assert not torch.equal(first.points.interior, before)
    assert not torch.equal(first.points.interior, other.points.interior)


def test_training_with_rad_is_reproducible():
    burgers = create("burgers", nu=0.05 / math.pi)
    settings = Settings(**{**vars(SETTINGS), "rad_every": 10, "rad_candidates": 512})
    results = []
    for _ in range(2):
        network = build_network(burgers, settings)
        train(network, physics_loss(burgers, settings), network.parameters(), Budget(adam_steps=5, iterations=25),
              progress=False)
        results.append(torch.cat([p.detach().flatten() for p in network.parameters()]))
    assert torch.equal(results[0], results[1])


FORMS = [name for name, family in FAMILIES.items() if family().exact_form() is not None]


def test_every_family_has_an_exact_form():
    assert FORMS == list(FAMILIES)


def _random_points(equation, n: int, generator: torch.Generator) -> torch.Tensor:
    lower = torch.tensor([equation.domain[n][0] for n in equation.inputs], dtype=torch.float64)
    upper = torch.tensor([equation.domain[n][1] for n in equation.inputs], dtype=torch.float64)
    return lower + (upper - lower) * torch.rand(n, len(lower), generator=generator, dtype=torch.float64)


@pytest.mark.parametrize("name", FORMS)
def test_every_exact_form_meets_its_imposed_conditions_for_random_networks(name):
    """On each imposed condition's faces, at random points, for three random networks;
    periodic conditions in u, u_x and u_xx at both ends of the period."""
    equation = create(name)
    posing = Posing(equation, "exact")
    generator = torch.Generator().manual_seed(7)
    for seed in range(3):
        network = build_network(equation, Settings(width=16, depth=3, seed=seed))
        for condition in equation.conditions():
            assert condition.name in posing.form.imposes
            column = equation.inputs.index(condition.on)
            if isinstance(condition, PeriodicCondition):
                names = ("u", f"u_{condition.on}", f"u_{condition.on}{condition.on}")
                derivatives = parse_derivatives(names[1:], equation.inputs, equation.outputs)
                low = _random_points(equation, 64, generator)
                high = low.clone()
                low[:, column], high[:, column] = equation.domain[condition.on]
                at_low = posing.fields(network, low, derivatives, "autograd")
                at_high = posing.fields(network, high, derivatives, "autograd")
                for field in names:
                    assert torch.allclose(at_low[field], at_high[field], rtol=0, atol=1e-12), field
                assert at_low["u_xx"].abs().max() > 1e-3  # a real second derivative, not zero
                continue
            derivatives = parse_derivatives(tuple(f for f in condition.fields if f not in equation.outputs),
                                            equation.inputs, equation.outputs)
            for at in condition.at:
                points = _random_points(equation, 64, generator)
                points[:, column] = at
                fields = posing.fields(network, points, derivatives, "autograd")
                value = torch.cat([fields[f] for f in condition.fields], dim=1)
                assert torch.allclose(value, condition.value(points), rtol=0, atol=1e-12), (condition.name, at)


@pytest.mark.parametrize("method", ["forward", "compiled"])
def test_the_periodic_embedding_matches_autograd_on_the_forward_paths(method):
    """u_t, u_x and u_xx of a network periodic in x, through the exact form, on every path."""
    equation = create("reaction-diffusion")
    posing = Posing(equation, "exact")
    network = build_network(equation, Settings(width=16, depth=3, seed=1))
    assert network.periodic == (True, False) and network.weights[0].shape[1] == 3
    points = _random_points(equation, 200, torch.Generator().manual_seed(3))
    derivatives = parse_derivatives(("u_t", "u_x", "u_xx"), equation.inputs, equation.outputs)
    expected = posing.fields(network, points, derivatives, "autograd")
    got = posing.fields(network, points, derivatives, method)
    for name in ("u", "u_t", "u_x", "u_xx"):
        assert torch.allclose(got[name], expected[name], rtol=1e-10, atol=1e-12), name


def test_a_network_without_the_periodic_embedding_is_refused_by_a_periodic_form():
    equation = create("convection")
    plain = build_network(equation, Settings(width=8, depth=2, conditions="soft"))
    with pytest.raises(ValueError, match="periodic in x"):
        Posing(equation, "exact").predict(plain, torch.zeros(3, 2, dtype=torch.float64))


def test_helmholtz_offset_reads_only_the_boundary_values():
    """Coons' patch of arbitrary boundary values: it asks for them only on the square's sides
    and matches them there."""
    from equations.helmholtz import coons_patch

    def boundary(p):
        assert bool(((p.abs() == 1).any(dim=1)).all()), "asked for a value inside the square"
        return torch.exp(p[:, :1]) * torch.cos(3 * p[:, 1:2]) + p[:, :1] * p[:, 1:2] ** 3

    points = _random_points(create("helmholtz"), 50, torch.Generator().manual_seed(5))
    for column in (0, 1):
        for side in (-1.0, 1.0):
            on_side = points.clone()
            on_side[:, column] = side
            assert torch.allclose(coons_patch(boundary, on_side), boundary(on_side), rtol=0, atol=1e-14)


def test_the_oscillator_loss_is_scaled_by_one_over_omega_squared():
    oscillator = create("oscillator", omega=10.0)
    loss = physics_loss(oscillator, Settings(**{**vars(SETTINGS), "rad_every": 0}))
    network = build_network(oscillator, SETTINGS)
    fields = loss._fields(network, loss.points.interior, loss.derivatives)
    raw = oscillator.residual(fields).detach().square().mean()
    assert float(loss(network).detach()) == pytest.approx(float(raw) / 10.0**4, rel=1e-12)


def test_a_matrix_too_large_for_memory_falls_back_to_lbfgs_with_one_line(monkeypatch, capsys):
    import pinn_pac.solver.optim

    burgers = create("burgers", nu=0.05 / math.pi)
    network = build_network(burgers, SETTINGS)
    monkeypatch.setattr(pinn_pac.solver.optim, "DENSE_MEMORY_LIMIT", 8 * 10**2)  # room for 10 parameters
    result = train(network, physics_loss(burgers, SETTINGS), network.parameters(),
                   Budget(adam_steps=0, iterations=5), progress=False, label="fit")
    notice = capsys.readouterr().err.strip()
    assert result.history.optimizer == "lbfgs"
    assert len(notice.splitlines()) == 1 and "using L-BFGS instead of ssbroyden" in notice


@pytest.mark.parametrize("method", [m for m in OPTIMIZERS if m != "lm"])  # lm: tests/test_least_squares.py
def test_each_optimizer_through_the_training_loop_minimises_a_quadratic(method):
    a, b, x, objective = quadratic(8, 2)
    result = train(torch.nn.Module(), lambda _: objective(), [x], Budget(adam_steps=0, iterations=60, optimizer=method),
                   progress=False)
    minimum = float(-0.5 * b @ torch.linalg.solve(a, b))
    assert result.history.optimizer == method
    assert result.history.loss[-1] - minimum <= 1e-8 * abs(minimum) < result.history.loss[0] - minimum


def test_a_given_inverse_hessian_is_where_the_matrix_starts():
    """From the quadratic's exact inverse Hessian the first step is Newton's (the minimum, no
    scaling of an identity); the training loop passes a matrix in and gives the last one back."""
    a, b, x, objective = quadratic(8, 3)
    solution = torch.linalg.solve(a, b)
    optimizer = DenseQuasiNewton([x], objective, "ssbroyden", inverse_hessian=torch.linalg.inv(a))
    optimizer.step()
    assert torch.allclose(x.detach(), solution, atol=1e-10)
    with pytest.raises(ValueError, match=r"shape \(3, 3\) for 8 parameters"):
        DenseQuasiNewton([x], objective, "ssbroyden", inverse_hessian=torch.eye(3, dtype=torch.float64))
    with torch.no_grad():
        x.zero_()
    budget = Budget(adam_steps=0, iterations=3)
    cold = train(torch.nn.Module(), lambda _: objective(), [x], budget, eval_every=1, progress=False)
    with torch.no_grad():
        x.zero_()
    warm = train(torch.nn.Module(), lambda _: objective(), [x], budget, eval_every=1, progress=False,
                 curvature=cold.curvature)
    minimum = float(-0.5 * b @ solution)
    assert cold.curvature.shape == (8, 8) and not torch.equal(warm.curvature, cold.curvature)
    assert warm.history.loss[1] - minimum < 0.5 * (cold.history.loss[1] - minimum)  # the first step gains from it
    lbfgs = train(torch.nn.Module(), lambda _: objective(), [x], Budget(adam_steps=0, iterations=3, optimizer="lbfgs"),
                  progress=False)
    assert lbfgs.curvature is None


def test_causal_weights_wait_for_earlier_slabs():
    from pinn_pac.solver.weighting import causal_weights, slab_means, time_slabs

    times = torch.tensor([0.0, 0.01, 0.5, 0.99, 1.0], dtype=torch.float64)
    slabs = time_slabs(times, 0.0, 1.0)
    assert slabs.tolist() == [0, 0, 16, 31, 31]
    means = slab_means(torch.tensor([1.0, 3.0, 5.0, 2.0, 4.0], dtype=torch.float64), slabs)
    assert means[0] == 2.0 and means[16] == 5.0 and means[31] == 3.0 and means[1] == 0.0
    weights = causal_weights(means, epsilon=0.5)
    assert weights[0] == 1.0
    assert weights[1] == pytest.approx(math.exp(-0.5 * 2.0), rel=1e-15)
    assert weights[31] == pytest.approx(math.exp(-0.5 * 7.0), rel=1e-15)


def test_balanced_weights_equalise_the_gradient_norms():
    from pinn_pac.solver.weighting import SMOOTHING, balanced_weights

    w = torch.nn.Parameter(torch.tensor([1.0, 1.0], dtype=torch.float64))
    terms = {"residual": 3.0 * w[0], "initial": 0.5 * w[1]}  # gradient norms 3 and 0.5
    weights = balanced_weights(terms, [w], {"residual": 1.0, "initial": 1.0})
    assert weights["residual"] == pytest.approx(SMOOTHING + (1 - SMOOTHING) * 3.5 / 3.0, rel=1e-14)
    assert weights["initial"] == pytest.approx(SMOOTHING + (1 - SMOOTHING) * 3.5 / 0.5, rel=1e-14)


def test_soft_terms_are_balanced_during_adam_only_and_recorded():
    from pinn_pac.solver.weighting import REWEIGHT_EVERY

    burgers = create("burgers", nu=0.05 / math.pi)
    settings = Settings(**{**vars(SETTINGS), "conditions": "soft", "balance": True, "rad_every": 0})
    loss = physics_loss(burgers, settings)
    network = build_network(burgers, settings)
    seen = []  # (balance asked, the weights after the call) at every reweighting
    reweight = loss.reweight

    def recorded(network, balance, parameters):
        changed = reweight(network, balance, parameters)
        seen.append((balance, dict(loss.weights)))
        return changed

    loss.reweight = recorded
    result = train(network, loss, network.parameters(), Budget(adam_steps=200, iterations=2 * REWEIGHT_EVERY),
                   progress=False)
    during_adam = [weights for balance, weights in seen if balance]
    during_quasi_newton = [weights for balance, weights in seen if not balance]
    assert len(during_adam) == 1 + 200 // REWEIGHT_EVERY and len(during_quasi_newton) == 1
    assert during_adam[-1]["initial"] != 1.0 and during_adam[-1]["boundary"] != 1.0
    assert during_adam[-1] != during_adam[-2]  # each Adam reweighting moves them
    assert during_quasi_newton == [during_adam[-1]] and loss.weights == during_adam[-1]  # then frozen
    assert set(result.history.terms) == {"residual", "initial", "boundary"}
    assert all(len(v) == len(result.history.step) for v in result.history.terms.values())


def test_causal_training_is_reproducible_and_refused_without_time():
    burgers = create("burgers", nu=0.05 / math.pi)
    settings = Settings(**{**vars(SETTINGS), "causal": 1.0})
    losses = []
    for _ in range(2):
        network = build_network(burgers, settings)
        train(network, physics_loss(burgers, settings), network.parameters(), Budget(adam_steps=120, iterations=120),
              progress=False)
        losses.append(physics_loss(burgers, settings)(network))
    assert torch.equal(losses[0], losses[1])
    with pytest.raises(ValueError, match="time input"):
        physics_loss(create("helmholtz"), settings)
