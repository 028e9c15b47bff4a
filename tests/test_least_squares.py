"""Optimizer "lm": the physics loss as squared rows, their Jacobian from one backward pass per
column, Levenberg-Marquardt steps, and its refusals before any work."""

import copy
import math
from types import SimpleNamespace

import pytest
import torch

from equations import create
from equations.errors import InputError
from pinn_pac.cli import main
from pinn_pac.cli.main import build_parser
from pinn_pac.cli.options import budget_from, transfer_settings_from
from pinn_pac.runs import SOLVE_BUDGET, Settings, build_network, physics_loss
from pinn_pac.solver.callbacks import Callback
from pinn_pac.solver.least_squares import LeastSquares, check_least_squares
from pinn_pac.solver.loss import PhysicsLoss
from pinn_pac.solver.sampling import sample_points
from pinn_pac.solver.train import Budget, train
from pinn_pac.transfer.lora import LoRANetwork
from pinn_pac.transfer.pac_network import AdaptedNetwork, PACNetwork, prune
from pinn_pac.transfer.pac_source import MaskedNetwork
from test_regions import DiskWithFlux


def _settings(conditions: str) -> Settings:
    return Settings(width=8, depth=2, n_interior=64, n_condition=16, conditions=conditions,
                    derivative_method="forward", rad_every=0)


def _perturbed(parameters, seed=0):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in parameters:
            p.add_(0.1 * torch.randn(p.shape, generator=generator, dtype=p.dtype))
    return parameters


def _pac(network, own_biases=False):
    pac = PACNetwork(network, prune(network, 0.3, "output"), own_biases=own_biases)
    adapter = _perturbed(pac.start_adapter())
    return AdaptedNetwork(pac, adapter), adapter


def _assert_rows_are_the_loss(loss, network, parameters, penalty=None):
    problem = LeastSquares(loss, network, parameters, penalty)
    rows, jacobian = problem.rows_and_jacobian()
    total = loss(network) + (penalty() if penalty else 0)
    gradient = torch.cat([g.flatten() for g in torch.autograd.grad(total, parameters)])
    assert math.isclose(float(rows.square().sum()), float(total.detach()), rel_tol=1e-12)
    assert torch.equal(problem.rows(), rows)
    assert jacobian.shape == (len(rows), sum(p.numel() for p in parameters))
    assert float((2 * jacobian.T @ rows - gradient).norm() / gradient.norm()) < 1e-12


@pytest.mark.parametrize("family, coefficients, conditions", [
    ("burgers", {"nu": 0.01}, "exact"),  # a built form: the residual's rows only
    ("burgers", {"nu": 0.01}, "soft"),  # initial and boundary rows
    ("convection", {"beta": 5.0}, "soft"),  # periodic rows: each point and its partner
    ("lotka-volterra", {}, "soft"),  # two outputs: two columns of rows
])
def test_rows_square_to_the_loss_and_their_jacobian_gives_its_gradient(family, coefficients, conditions):
    equation = create(family, **coefficients)
    network = build_network(equation, _settings(conditions))
    _assert_rows_are_the_loss(physics_loss(equation, _settings(conditions)), network, list(network.parameters()))


def test_the_jacobian_of_pac_nets_freed_weights_own_biases_and_a_penalty():
    equation = create("burgers", nu=0.01)
    loss = physics_loss(equation, _settings("soft"))
    network, adapter = _pac(build_network(equation, _settings("soft")))
    _assert_rows_are_the_loss(loss, network, adapter, penalty=lambda: 0.3 * sum(a.square().sum() for a in adapter))
    network, adapter = _pac(build_network(equation, _settings("soft")), own_biases=True)
    _assert_rows_are_the_loss(loss, network, adapter)


def test_the_jacobian_of_a_masked_network_has_zero_columns_for_the_freed_weights():
    equation = create("burgers", nu=0.01)
    network = build_network(equation, _settings("exact"))
    kept = prune(network, 0.3, "output")
    masked = MaskedNetwork(network, kept)
    loss = physics_loss(equation, _settings("exact"))
    parameters = [*network.weights, *network.biases]
    _assert_rows_are_the_loss(loss, masked, parameters)
    _, jacobian = LeastSquares(loss, masked, parameters).rows_and_jacobian()
    freed = torch.cat([(~m).flatten() for m in kept] + [torch.zeros(b.numel(), dtype=torch.bool) for b in network.biases])
    assert bool((jacobian[:, freed] == 0).all()) and bool((jacobian[:, ~freed] != 0).any())


def test_neumann_and_robin_rows_along_the_normal():
    equation = DiskWithFlux()
    loss = PhysicsLoss(equation, sample_points(equation, 64, 64, seed=0), conditions="exact",
                       derivative_method="forward")
    assert set(loss.weights) == {"residual", "upper", "lower"}
    network = build_network(equation, _settings("exact"))
    _assert_rows_are_the_loss(loss, network, list(network.parameters()))


def test_rows_taken_first_without_a_graph_on_fresh_points_are_the_loss():
    """After a RAD redraw or on resume the rows come first, under no_grad: the built form's
    derivatives they need (cached per point set) must still be taken with autograd."""
    equation = create("burgers", nu=0.01)
    settings = _settings("exact")
    network, loss = build_network(equation, settings), physics_loss(equation, settings)
    expected = float(physics_loss(equation, settings)(network).detach())  # the same points, its own cache
    rows = LeastSquares(loss, network, list(network.parameters())).rows()
    assert math.isclose(float(rows.square().sum()), expected, rel_tol=1e-12)


def test_levenberg_marquardt_lowers_the_loss_at_every_step_to_the_same_bits_twice():
    equation = create("burgers", nu=0.05 / math.pi)
    settings = Settings(width=8, depth=2, n_interior=128, n_condition=32, rad_every=0)

    def run():
        network = build_network(equation, settings)
        result = train(network, physics_loss(equation, settings), network.parameters(),
                       Budget(adam_steps=0, iterations=12, optimizer="lm"), eval_every=1, progress=False)
        return result.history, [p.detach().clone() for p in network.parameters()]

    history, weights = run()
    assert history.optimizer == "lm" and history.step == list(range(13))
    assert all(b < a for a, b in zip(history.loss, history.loss[1:]))
    assert history.loss[-1] < 0.1 * history.loss[0]
    again, same = run()
    assert again.loss == history.loss and all(torch.equal(a, b) for a, b in zip(weights, same))


def test_lm_refuses_weights_that_enter_through_a_product_and_unsupported_losses():
    equation = create("burgers", nu=0.01)
    source = build_network(equation, _settings("exact"))
    lora = LoRANetwork(source, 2, torch.Generator().manual_seed(0))
    _perturbed(list(lora.up))
    with pytest.raises(InputError, match="not ones that enter through a product"):
        LeastSquares(physics_loss(equation, _settings("exact")), lora, [*lora.up, *lora.down])
    with pytest.raises(InputError, match="causal"):
        check_least_squares(equation, causal=1.0)
    with pytest.raises(InputError, match="trains one member's network"):
        train(source, lambda net: net(torch.zeros(3, 2, dtype=torch.float64)).square().sum(), source.parameters(),
              Budget(adam_steps=0, iterations=2, optimizer="lm"), progress=False)

    mixed = SimpleNamespace(name="mixed", inputs=("x", "t"), outputs=("u",), derivatives=("u_t", "u_xt"),
                            conditions=lambda: [])
    with pytest.raises(InputError, match="pure derivatives; mixed asks for u_xt"):
        check_least_squares(mixed)
    in_a_condition = SimpleNamespace(name="flux", inputs=("x", "t"), outputs=("u",), derivatives=("u_t", "u_xx"),
                                     conditions=lambda: [SimpleNamespace(fields=("u", "u_xt"))])
    with pytest.raises(InputError, match="pure derivatives; flux asks for u_xt"):
        check_least_squares(in_a_condition)

    class OwnPass(type(source)):
        def forward(self, points):
            return super().forward(points) * 2
    own = OwnPass.merged(source)
    with pytest.raises(InputError, match="a plain tanh pass"):
        LeastSquares(physics_loss(equation, _settings("exact")), own, list(own.parameters()))


def test_the_command_line_refuses_lm_where_it_cannot_serve_before_any_work(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["transfer", "burgers", "--method", "lora", "--calibrate-optimizer", "lm", "--out", str(out)]) == 2
    assert "lora: lm steps train entries of a network's layers" in capsys.readouterr().err
    assert main(["transfer", "burgers", "--method", "lora", "--calibrate-finish", "5", "--out", str(out)]) == 2
    assert "lora: lm steps train entries of a network's layers" in capsys.readouterr().err
    assert main(["solve", "burgers", "--finish", "5", "--causal", "1", "--out", str(out)]) == 2
    assert "optimizer lm does not take causal weighting" in capsys.readouterr().err
    assert main(["solve", "burgers", "--optimizer", "lm", "--causal", "1", "--out", str(out)]) == 2
    assert "optimizer lm does not take causal weighting" in capsys.readouterr().err
    assert main(["transfer", "burgers", "--width", "200", "--depth", "6", "--calibrate-optimizer", "lm",
                 "--out", str(out)]) == 2
    assert "optimizer lm: the Jacobian of 8,000 rows over" in capsys.readouterr().err
    data = tmp_path / "data.npz"
    data.write_text("x,t,u\n0.5,0.5,0.1\n")
    assert main(["identify", "burgers", "--data", str(data), "--unknowns", "nu", "--optimizer", "lm",
                 "--out", str(out)]) == 2
    assert "identify: lm steps train a network's weights" in capsys.readouterr().err
    assert main(["identify", "burgers", "--data", str(data), "--unknowns", "nu", "--finish", "3",
                 "--out", str(out)]) == 2
    assert "identify: lm steps train a network's weights" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("conditions", ["soft", "exact"])
def test_an_lm_phase_killed_after_a_kept_state_goes_on_to_the_same_bits(conditions):
    from test_resumable_phases import Killed, MemoryState

    equation = create("burgers", nu=0.05 / math.pi)
    settings = Settings(width=8, depth=2, n_interior=128, n_condition=32, conditions=conditions, rad_every=7,
                        rad_candidates=600)
    budget = Budget(adam_steps=5, iterations=20, optimizer="lm")

    def run(state):
        network = build_network(equation, settings)
        result = train(network, physics_loss(equation, settings), network.parameters(), budget, progress=False,
                       state=state, eval_every=1)
        return [p.detach().clone() for p in network.parameters()], result.history

    whole, whole_history = run(MemoryState(every=6))
    killed = MemoryState(every=6, kill_after=2)
    with pytest.raises(Killed):
        run(killed)
    assert killed.saved["done"] == 12 and killed.saved["optimizer"]["damping"] > 0
    resumed, history = run(MemoryState(every=6, saved=killed.saved))
    assert all(torch.equal(a, b) for a, b in zip(whole, resumed))
    assert history.loss == whole_history.loss and history.step == whole_history.step


def test_a_phase_on_lm_defaults_to_a_twentieth_of_its_iterations_and_takes_a_given_count_as_given():
    parser = build_parser()
    budgets = transfer_settings_from(parser.parse_args(["transfer", "burgers", "--calibrate-optimizer", "lm"]))
    assert (budgets.calibrate.optimizer, budgets.calibrate.iterations) == ("lm", 125)
    assert (budgets.source.optimizer, budgets.source.iterations) == ("ssbroyden", 2500)
    everywhere = transfer_settings_from(parser.parse_args(["transfer", "burgers", "--optimizer", "lm",
                                                           "--allocate-iterations", "7"]))
    assert [(b.optimizer, b.iterations) for b in (everywhere.source, everywhere.allocate, everywhere.calibrate)] \
        == [("lm", 125), ("lm", 7), ("lm", 125)]
    solve = budget_from(parser.parse_args(["solve", "burgers", "--optimizer", "lm"]), "", SOLVE_BUDGET)
    assert (solve.optimizer, solve.iterations) == ("lm", 250)
    assert budget_from(parser.parse_args(["solve", "burgers"]), "", SOLVE_BUDGET).iterations == 5000


def test_finish_steps_go_on_from_the_quasi_newton_end_and_a_stop_among_them_goes_on_to_the_same_bits():
    from test_resumable_phases import Killed, MemoryState

    equation = create("burgers", nu=0.05 / math.pi)
    settings = Settings(width=8, depth=2, n_interior=128, n_condition=32, conditions="exact")
    network = build_network(equation, settings)
    start = {name: value.clone() for name, value in network.state_dict().items()}

    class KillAt(Callback):
        def on_record(self, label, row):
            if row["step"] == 34:
                raise Killed

    class CopiedState(MemoryState):  # as a file keeps it: the run goes on past the save
        def save(self, state):
            super().save(copy.deepcopy(state))

    def run(budget, state=None, callbacks=()):
        network.load_state_dict(start)
        result = train(network, physics_loss(equation, settings), network.parameters(), budget, progress=False,
                       state=state, eval_every=1, callbacks=callbacks)
        return [p.detach().clone() for p in network.parameters()], result.history

    plain, plain_history = run(Budget(adam_steps=5, iterations=25))
    finished, history = run(Budget(adam_steps=5, iterations=25, finish=10))
    assert history.step[-1] == 40 and history.loss[:31] == plain_history.loss
    assert all(after < before for before, after in zip(history.loss[30:], history.loss[31:]))
    assert history.loss[-1] < 0.5 * plain_history.loss[-1]
    again, _ = run(Budget(adam_steps=5, iterations=25, finish=10))
    assert all(torch.equal(a, b) for a, b in zip(again, finished))

    killed = CopiedState(every=6)
    with pytest.raises(Killed):
        run(Budget(adam_steps=5, iterations=25, finish=10), killed, [KillAt()])
    assert killed.saved["done"] == 24  # the quasi-Newton phase's last kept state; the finish keeps none
    resumed, resumed_history = run(Budget(adam_steps=5, iterations=25, finish=10), MemoryState(6, saved=killed.saved))
    assert all(torch.equal(a, b) for a, b in zip(finished, resumed))
    assert resumed_history.loss[-1] == history.loss[-1]
