"""A reduced basis over trained networks: functions combined under an equation's posing,
u = g + d sum_k w_k f_k, and the weights w that minimise its physics loss.

Every field the loss needs is affine in w, so each function's fields are computed once
(a member's last hidden features in one pass of its hidden layers) and the loss and its
Jacobian for any w are a few vector operations; Levenberg-Marquardt then finds w in a few small
dense solves. `family_answer` builds its answers from this.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from ..solver.derivatives import Derivative, compute_fields, derivative_name
from ..solver.loss import PhysicsLoss
from ..solver.model import Layers, TanhNetwork

#: Levenberg-Marquardt steps, at most; each costs one small dense solve.
MAX_STEPS = 50


class CombinedNetwork(nn.Module):
    """sum_i a_i N_i(points): the members' networks (of one shape) weighed by `weights`."""

    def __init__(self, networks: list[nn.Module], weights: torch.Tensor) -> None:
        super().__init__()
        self.networks = nn.ModuleList(networks)
        self.register_buffer("weights", weights)
        self.periodic = getattr(networks[0], "periodic", ())

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        return sum(w * network(points) for w, network in zip(self.weights, self.networks))


class ReheadedNetwork(TanhNetwork):
    """A member's first `hidden` hidden layers (all by default) under another last layer
    (`weight`, `bias`)."""

    def __init__(self, member: TanhNetwork, weight: torch.Tensor, bias: torch.Tensor,
                 hidden: int | None = None) -> None:
        super().__init__(*member.input_map())
        *inner, _ = [(w.detach(), b.detach()) for w, b in member.affine_layers()]
        self.layers = [*inner[:hidden], (weight, bias)]

    def affine_layers(self) -> Layers:
        return self.layers


class NetworkFields:
    """Networks' own fields (outputs and derivatives) at one set of points, kept across fits:
    they do not depend on a member's coefficients (only the posing on top does), so every
    fit of a family on the same points computes each member's once."""

    def __init__(self) -> None:
        self.points: torch.Tensor | None = None
        self.kept: dict[tuple, tuple[nn.Module, dict[str, torch.Tensor]]] = {}

    def get(self, network: nn.Module, key: tuple, points: torch.Tensor,
            make: Callable[[], dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """`network`'s fields that `key` names at `points`: kept ones, or `make()`'s."""
        same = (self.points is not None and self.points.shape == points.shape
                and self.points.device == points.device and torch.equal(self.points, points))
        if not same:
            self.points, self.kept = points.detach().clone(), {}
        key = (id(network), *key)
        if key not in self.kept or self.kept[key][0] is not network:
            self.kept[key] = (network, {name: value.detach() for name, value in make().items()})
        return self.kept[key][1]


class MemberBasis:
    """A member's basis functions: each feature of its last `layers` hidden layers, and a
    constant per layer, in each output. The last layer's weights are the member's own under
    another last layer; a deeper layer's features start at weight zero (they add what the
    member's last features cannot combine into). With `layers` 0, or a network that is not a
    tanh network, the member is one function, itself."""

    def __init__(self, network: nn.Module, layers: int = 1) -> None:
        self.network = network
        if not (layers and isinstance(network, TanhNetwork)):
            self.heads, self.functions = [], [network]
            return
        weight, bias = (part.detach() for part in network.affine_layers()[-1])
        last = torch.cat([weight, bias[:, None]], dim=1)  # (outputs, width + 1)
        hidden_layers = len(network.affine_layers()) - 1
        #: (hidden layers kept, head): the member's own last layer, then zeros over deeper features.
        self.heads = [(hidden_layers, last)]
        for depth in range(hidden_layers - 1, max(hidden_layers - layers, 0), -1):
            width = network.affine_layers()[depth - 1][0].shape[0]
            self.heads.append((depth, last.new_zeros(len(last), width + 1)))
        self.functions = []
        for depth, head in self.heads:
            for index in range(head.numel()):
                pick = torch.zeros_like(head).flatten()
                pick[index] = 1.0
                pick = pick.view_as(head)
                self.functions.append(ReheadedNetwork(network, pick[:, :-1], pick[:, -1], depth))

    def posed_fields(self, loss: PhysicsLoss, points: torch.Tensor,
                     kept: NetworkFields | None = None) -> list[dict[str, torch.Tensor]]:
        """Each function's fields under `loss`'s posing at `points`: for features, from one
        pass of the member's hidden layers per layer (their derivatives, by the loss's
        derivative path); the network's own fields are taken from `kept` where it holds them."""
        posing, derivatives, method = loss.posing, loss.derivatives, loss.derivative_method
        kept = kept or NetworkFields()
        posing.check_network(self.network)
        inputs, outputs = posing.equation.inputs, posing.equation.outputs
        inner = posing.network_derivatives(derivatives)
        key = (method, tuple(d.name for d in inner))
        if not self.heads:
            net = kept.get(self.network, (True, *key), points,
                           lambda: compute_fields(self.network, points, inner, outputs, method, inputs))
            return [posing.pose(net, points, derivatives)]
        posed = []
        for hidden_layers, head in self.heads:
            raw, names = self._hidden_fields(hidden_layers, head.shape[1] - 1, points, inner, method, inputs,
                                             kept, key)
            posed += [posing.pose(net, points, derivatives)
                      for net in _feature_fields(raw, names, outputs, inner, inputs, points)]
        return posed

    def _hidden_fields(self, hidden_layers: int, width: int, points: torch.Tensor, inner: list[Derivative],
                       method: str, inputs: tuple[str, ...], kept: NetworkFields,
                       key: tuple) -> tuple[dict[str, torch.Tensor], tuple[str, ...]]:
        """The features of the member's first `hidden_layers` hidden layers and their
        derivatives at `points` (kept across fits)."""
        names = tuple(f"feature{j}" for j in range(width))
        wrts = sorted({d.wrt for d in inner})
        like = self.heads[0][1]
        hidden = ReheadedNetwork(self.network, torch.eye(width).to(like), like.new_zeros(width), hidden_layers)
        raw = kept.get(self.network, (False, hidden_layers, *key), points, lambda: compute_fields(
            hidden, points, [Derivative(derivative_name(j, wrt, inputs, names), j, wrt)
                             for j in range(width) for wrt in wrts], names, method, inputs))
        return raw, names

    def weights_of(self, member_weight: torch.Tensor) -> torch.Tensor:
        """The functions' weights that make `member_weight` times the member."""
        if not self.heads:
            return member_weight.reshape(1)
        return torch.cat([member_weight * head.flatten() for _, head in self.heads])

    def network_of(self, weights: torch.Tensor) -> nn.Module:
        """The sum of the functions under `weights`, as one network."""
        if not self.heads:
            return CombinedNetwork([self.network], weights)
        parts = weights.split([head.numel() for _, head in self.heads])
        networks = [ReheadedNetwork(self.network, w.view_as(head)[:, :-1], w.view_as(head)[:, -1], depth)
                    for (depth, head), w in zip(self.heads, parts)]
        return networks[0] if len(networks) == 1 else CombinedNetwork(networks, weights.new_ones(len(networks)))


def _feature_fields(raw: dict[str, torch.Tensor], names: tuple[str, ...], outputs: tuple[str, ...],
                    inner: list[Derivative], inputs: tuple[str, ...],
                    points: torch.Tensor) -> list[dict[str, torch.Tensor]]:
    """The network fields of each feature in `raw`, then of the constant, in each output."""
    zeros, ones = points.new_zeros(len(points), 1), points.new_ones(len(points), 1)
    width = len(names)
    nets = []
    for output in range(len(outputs)):
        for j in range(width + 1):  # the features, then the constant
            def net_field(k: int, wrt: tuple[int, ...]) -> torch.Tensor:
                if k != output:
                    return zeros
                if j == width:
                    return zeros if wrt else ones
                return raw[derivative_name(j, wrt, inputs, names) if wrt else names[j]]
            net = {name: net_field(k, ()) for k, name in enumerate(outputs)}
            net.update({d.name: net_field(d.output, d.wrt) for d in inner})
            nets.append(net)
    return nets


class _Zero(nn.Module):
    """The network that outputs 0 everywhere: its posed fields are the posing's own part."""

    def __init__(self, outputs: int, periodic: tuple[bool, ...]) -> None:
        super().__init__()
        self.outputs, self.periodic = outputs, periodic

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        return 0.0 * points[:, :1].expand(-1, self.outputs)


class AffineFields:
    """The loss's residual and soft-condition rows of sum_i a_i N_i, affine in a: each member's
    rows once, then any a in a few vector operations."""

    def __init__(self, loss: PhysicsLoss, bases: list["MemberBasis"], kept: NetworkFields | None = None) -> None:
        self.loss = loss
        interior = loss.points.interior
        zero = _Zero(len(loss.equation.outputs), getattr(bases[0].network, "periodic", ()))
        fields = [self._detached(loss.posing.fields(zero, interior, loss.derivatives, loss.derivative_method))]
        for basis in bases:
            fields += [self._detached(f) for f in basis.posed_fields(loss, interior, kept)]
        self.base = fields[0]
        varying = [name for name in fields[0] if name not in loss.equation.inputs]  # the inputs are the points
        #: Each varying field's change per unit weight, as (points, functions), one column per function.
        self.columns = {name: torch.stack([(f[name] - fields[0][name]).flatten() for f in fields[1:]], dim=1)
                        for name in varying}
        functions = [f for basis in bases for f in basis.functions]
        mismatches = [self._mismatches(n) for n in [zero, *functions]]
        self.mismatch_base = mismatches[0]
        self.mismatch_parts = torch.stack([m - mismatches[0] for m in mismatches[1:]])
        outputs = loss.equation.outputs
        self.values = torch.stack([torch.cat([f[name] for name in outputs], dim=1) for f in fields[1:]])
        self.zero_values = torch.cat([self.base[name] for name in outputs], dim=1)

    @staticmethod
    def _detached(fields: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {name: value.detach() for name, value in fields.items()}

    def _mismatches(self, network: nn.Module) -> torch.Tensor:
        rows = [self.loss.condition_mismatch(network, c, d).detach().flatten()
                for c, d in zip(self.loss.points.conditions, self.loss.condition_derivatives)]
        like = self.loss.points.interior
        return torch.cat(rows) if rows else like.new_zeros(0)

    def _combined(self, weights: torch.Tensor) -> dict[str, torch.Tensor]:
        return {**self.base, **{name: self.base[name] + (columns @ weights).view_as(self.base[name])
                                for name, columns in self.columns.items()}}

    def _scaled(self, residual: torch.Tensor, mismatch: torch.Tensor) -> torch.Tensor:
        """Residual and condition rows (the first dimension) scaled so that the sum of their
        squares is the loss: each term is a mean."""
        counts = [c.points.shape[0] * len(c.condition.fields) for c in self.loss.points.conditions]
        parts = [residual * (self.loss.residual_scale / math.sqrt(len(residual)))]
        if counts:
            parts += [part / math.sqrt(n) for part, n in zip(mismatch.split(counts), counts)]
        return torch.cat(parts)

    def rows(self, weights: torch.Tensor) -> torch.Tensor:
        """Every squared term's row: the loss is the sum of their squares."""
        residual = self.loss.equation.residual(self._combined(weights)).flatten()
        return self._scaled(residual, self.mismatch_base + weights @ self.mismatch_parts)

    def jacobian(self, weights: torch.Tensor) -> torch.Tensor:
        """d rows / d weights. A residual is pointwise in the fields, so one backward pass per
        residual column gives each point's partial derivatives, and the chain rule through the
        affine fields does the rest (no forward-mode machinery, whose first use costs seconds)."""
        fields = {name: value.detach().requires_grad_(name in self.columns)
                  for name, value in self._combined(weights).items()}
        residual = self.loss.equation.residual(fields)
        residual = residual.reshape(len(residual), -1)
        varying = [fields[name] for name in self.columns]
        blocks = []
        for column in residual.unbind(dim=1):
            grads = torch.autograd.grad(column.sum(), varying, retain_graph=True, allow_unused=True)
            block = weights.new_zeros(len(residual), len(weights))
            for name, grad in zip(self.columns, grads):
                if grad is not None:
                    block.addcmul_(grad[:, :1], self.columns[name])
            blocks.append(block)
        residual_jacobian = torch.stack(blocks, dim=1).flatten(0, 1)
        return self._scaled(residual_jacobian, self.mismatch_parts.T)

    def solution(self, weights: torch.Tensor) -> torch.Tensor:
        """u of sum_i a_i N_i at the interior points."""
        return self.zero_values + (weights @ (self.values - self.zero_values).flatten(1)).view_as(self.zero_values)


def levenberg_marquardt(affine: AffineFields, start: torch.Tensor) -> torch.Tensor:
    """The weights that minimise the loss, sum(rows(a)^2), from `start` (Marquardt's scaled damping,
    at least 1e-12 of the largest scale on every weight). Members share functions (each layer's
    constant), so the damped system can be singular to rounding: such a step counts as failed."""
    rows = affine.rows
    weights, current = start.clone(), rows(start)
    damping = 1e-3
    for _ in range(MAX_STEPS):
        jacobian = affine.jacobian(weights)
        normal, gradient = jacobian.T @ jacobian, jacobian.T @ current
        scale = torch.diag(normal)
        scale = scale.clamp_min(1e-12 * float(scale.max()))
        while damping < 1e12:
            step, info = torch.linalg.solve_ex(normal + damping * torch.diag(scale), -gradient)
            trial = rows(weights + step) if info == 0 else current
            if trial.square().sum() < current.square().sum():
                weights, damping = weights + step, damping / 3
                improved = 1 - trial.square().sum() / current.square().sum()
                current = trial
                break
            damping *= 4
        else:
            return weights
        if improved < 1e-10:
            return weights
    return weights
