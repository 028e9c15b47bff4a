"""A physics loss as a sum of squared rows, and the rows' Jacobian with respect to the trained
weights: what Levenberg-Marquardt (`levenberg`) steps with.

Every row of a `PhysicsLoss` (the scaled residual at one point, a condition's mismatch at one
point and, for a periodic condition, at its partner) depends on the network only through its
values and derivatives at that row's own points. So one backward pass of the sum of a column
of rows gives each row's gradient with respect to every layer's outputs at its points, and a
row's Jacobian with respect to a layer's weight is that gradient's outer product with the
layer's input, summed over the streams of a forward-mode pass (`StreamRecorder`: the values,
then each input's derivatives). Trained weights must be entries of the network's layers (a
plain network's, or PAC-Net's freed weights): their columns are gathered from the layers'.
Measured on PAC-Net's 382 freed weights of Burgers on 8,000 points: 86 ms for the rows and
their Jacobian, exact to 1e-14 against autograd's gradient (benchmarks/pac_gauss_newton.py).
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from equations import BoundaryCondition, Equation
from equations.errors import InputError

from .derivatives import column_jets, parse_derivatives, _orders, _tanh_streams
from .loss import PhysicsLoss
from .model import TanhNetwork

#: Most memory the rows' Jacobian over every layer entry may take, in bytes.
JACOBIAN_MEMORY_LIMIT = 2 * 1024**3


def check_least_squares(equation: Equation, causal: float = 0.0, rows: int = 0, weights: int = 0) -> None:
    """Refuse, before any work, what the rows' Jacobian cannot serve: mixed derivatives in the
    residual or a condition (the forward-mode pass carries pure ones), causal weights, and a
    Jacobian of `rows` over `weights` (every layer entry) past `JACOBIAN_MEMORY_LIMIT`."""
    asked = [*equation.derivatives, *(f for c in _conditions(equation) for f in c.fields)]
    names = tuple(dict.fromkeys(f for f in asked if f not in equation.outputs))
    mixed = [d.name for d in parse_derivatives(names, equation.inputs, equation.outputs) if len(set(d.wrt)) > 1]
    if mixed:
        raise InputError(f"optimizer lm needs pure derivatives; {equation.name} asks for {', '.join(mixed)}")
    if causal:
        raise InputError("optimizer lm does not take causal weighting; use --causal 0 or another optimizer")
    if rows * weights * 8 > JACOBIAN_MEMORY_LIMIT:
        raise InputError(f"optimizer lm: the Jacobian of {rows:,} rows over {weights:,} weights needs "
                         f"{rows * weights * 8 / 2**30:.1f} GiB; use fewer points or another optimizer")


def check_rows(loss: PhysicsLoss, network: TanhNetwork) -> None:
    """Refuse, before any work, lm steps on `network` and `loss` that `LeastSquares` cannot
    serve: another loss or network than one member's, or what `check_least_squares` refuses."""
    if not (isinstance(loss, PhysicsLoss) and isinstance(network, TanhNetwork)
            and type(network).forward is TanhNetwork.forward):
        raise InputError("optimizer lm trains one member's network (a plain tanh pass) on its physics loss "
                         f"(got a {type(loss).__name__} of a {type(network).__name__})")
    entries = sum(w.numel() + b.numel() for w, b in network.affine_layers())
    rows = len(loss.points.interior) * len(loss.equation.outputs) + sum(
        len(c.points) * len(c.condition.fields) for c in loss.points.conditions)
    check_least_squares(loss.equation, loss.causal, rows, entries)


def serves(loss: PhysicsLoss, network: TanhNetwork) -> bool:
    """Whether lm steps can train `network` on `loss` (nothing `check_rows` refuses)."""
    try:
        check_rows(loss, network)
    except InputError:
        return False
    return True


def _conditions(equation: Equation) -> list:
    """The family's conditions whose `fields` name what they compare (Neumann and Robin terms
    take first derivatives along the normal: pure ones)."""
    return [c for c in equation.conditions() if not isinstance(c, BoundaryCondition)]


class StreamRecorder:
    """u and its pure derivatives by forward mode (the formulas of `derivatives._forward_mode`),
    keeping each layer's inputs and outputs for every stream: (layer, inputs, outputs, whether
    it is the value stream, the one the bias enters)."""

    def __init__(self) -> None:
        self.records: list[tuple[int, torch.Tensor, torch.Tensor, bool]] = []

    def posed_fields(self, posing, network: TanhNetwork, points: torch.Tensor, derivatives) -> dict[str, torch.Tensor]:
        """What `posing.fields` gives, through this recorder's pass."""
        posing.check_network(network)
        inner = posing.network_derivatives(derivatives)
        return posing.pose(self.fields(network, points, inner, posing.equation.outputs), points, derivatives)

    def fields(self, network: TanhNetwork, points: torch.Tensor, derivatives, outputs) -> dict[str, torch.Tensor]:
        if any(len(set(d.wrt)) > 1 for d in derivatives):
            raise InputError("optimizer lm needs pure derivatives (the forward-mode pass carries no mixed ones)")
        orders = _orders(derivatives) if derivatives else {}
        # The first layer's input and its derivatives (the first kept: every stream starts there).
        value, jets = column_jets(network.embed, points, orders, keep_first=True)
        streams = jets
        layers = network.affine_layers()
        for layer, (weight, bias) in enumerate(layers):
            z = torch.addmm(bias, value, weight.T)
            self.records.append((layer, value, z, True))
            tangents = {j: [None if h is None else self._linear(layer, h, weight) for h in streams[j]] for j in orders}
            if layer == len(layers) - 1:
                break
            value = torch.tanh(z)
            streams = _tanh_streams(value, 1 - value * value, tangents, orders) if orders else {}
        fields = {name: z[:, k:k + 1] for k, name in enumerate(outputs)}
        for d in derivatives:
            fields[d.name] = tangents[d.wrt[0]][len(d.wrt) - 1][:, d.output:d.output + 1]
        return fields

    def _linear(self, layer: int, inputs: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        outputs = inputs @ weight.T
        self.records.append((layer, inputs, outputs, False))
        return outputs


class LeastSquares:
    """`loss` (plus `penalty`, a scalar of the parameters) as a sum of squared rows of the
    trained `parameters` of `network`, and the rows' Jacobian with respect to them."""

    def __init__(self, loss: PhysicsLoss, network: TanhNetwork, parameters: list[torch.nn.Parameter],
                 penalty: Callable[[], torch.Tensor] | None = None) -> None:
        check_rows(loss, network)
        self.loss, self.network, self.parameters, self.penalty = loss, network, parameters, penalty
        entry_of = _layer_entries(network, parameters)
        self.columns = _columns_by_layer(network, entry_of)
        self.count = len(entry_of)  # columns; those of masked-out entries stay 0

    def rows(self) -> torch.Tensor:
        """Every row (the loss is the sum of their squares), without a graph."""
        with torch.no_grad():
            return torch.cat([rows.T.flatten() for rows, _ in self._groups()] + self._penalty_rows())

    def rows_and_jacobian(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The rows (as `rows` orders them: each term's, column by column) and d rows / d
        parameters, (rows, parameters)."""
        rows, jacobians = [], []
        for group, records in self._groups():
            for column in range(group.shape[1]):
                rows.append(group[:, column].detach())
                jacobians.append(self._jacobian(group[:, column], records))
        penalty = self._penalty_rows(with_gradient=True)
        rows += penalty[:1]
        jacobians += penalty[1:]
        return torch.cat(rows), torch.cat(jacobians)

    def _groups(self):
        """Each term's rows, (points, columns), scaled so that their squares sum to the term
        times its weight, with the streams their forward passes recorded."""
        loss, weights = self.loss, self.loss.weights
        recorder = StreamRecorder()
        with loss.recording(recorder):
            residual = loss.scaled_residual(self.network)
        residual = residual.reshape(len(residual), -1)
        yield residual * math.sqrt(weights["residual"] / residual.numel()), recorder.records
        for condition, derivatives in zip(loss.points.conditions, loss.condition_derivatives):
            recorder = StreamRecorder()
            with loss.recording(recorder):
                mismatch = loss.condition_mismatch(self.network, condition, derivatives)
            mismatch = mismatch.reshape(len(mismatch), -1)
            yield mismatch * math.sqrt(weights[condition.condition.name] / mismatch.numel()), recorder.records

    def _jacobian(self, rows: torch.Tensor, records) -> torch.Tensor:
        """d rows / d parameters: per-point gradients at every layer's outputs (one backward
        pass: a row depends on its own points only) times the layer's inputs."""
        gradients = torch.autograd.grad(rows.sum(), [record[2] for record in records], retain_graph=True,
                                        allow_unused=True)
        layers = self.network.affine_layers()
        weights = [rows.new_zeros(len(rows), *w.shape) if len(cols[0]) else None
                   for (w, _), cols in zip(layers, self.columns)]
        biases = [rows.new_zeros(len(rows), *b.shape) if len(cols[2]) else None
                  for (_, b), cols in zip(layers, self.columns)]
        for (layer, inputs, _, is_value), gradient in zip(records, gradients):
            if gradient is None:
                continue
            # A condition's partner points give the same rows, in order: their pass adds in.
            if weights[layer] is not None:
                weights[layer].baddbmm_(gradient[:, :, None], inputs.detach()[:, None, :])
            if is_value and biases[layer] is not None:
                biases[layer] += gradient
        jacobian = rows.new_zeros(len(rows), self.count)
        for weight, bias, (weight_columns, weight_entries, bias_columns, bias_entries) in zip(weights, biases, self.columns):
            if weight is not None:
                jacobian[:, weight_columns] = weight.flatten(1)[:, weight_entries]
            if bias is not None:
                jacobian[:, bias_columns] = bias[:, bias_entries]
        return jacobian

    def _penalty_rows(self, with_gradient: bool = False) -> list[torch.Tensor]:
        """The penalty as one row sqrt(penalty) (and its Jacobian, the gradient over twice the
        row); none without a penalty, or while it is 0."""
        if self.penalty is None:
            return []
        with torch.set_grad_enabled(with_gradient):
            value = self.penalty()
        if not float(value.detach()) > 0:
            return []
        row = value.detach().sqrt().reshape(1)
        if not with_gradient:
            return [row]
        gradient = torch.autograd.grad(value, self.parameters, allow_unused=True)
        flat = torch.cat([(torch.zeros_like(p) if g is None else g).flatten() for p, g in zip(self.parameters, gradient)])
        return [row, (flat / (2 * row)).reshape(1, -1)]


def _layer_entries(network: TanhNetwork, parameters: list[torch.nn.Parameter]) -> torch.Tensor:
    """Per entry of the trained `parameters` (flattened, in order), the index of the layer
    entry it is (every layer's weight, then its bias, flattened, input to output). Read off two
    backward passes: with all-ones each entry's gradient must be 1 (it is one layer entry
    itself; 0 where a mask holds it out of the layers: no entry, -1, a zero column), with the
    entries numbered 1, 2, ... it is that number."""
    flat = torch.cat([part.flatten() for weight, bias in network.affine_layers() for part in (weight, bias)])
    if not flat.requires_grad:
        raise InputError("optimizer lm: the network's layers do not depend on the trained parameters")
    ones = torch.autograd.grad(flat, parameters, torch.ones_like(flat), retain_graph=True, allow_unused=True)
    numbers = torch.autograd.grad(flat, parameters, torch.arange(1, len(flat) + 1, dtype=flat.dtype, device=flat.device),
                                  allow_unused=True)
    if any(g is None or not torch.all((g == 1) | (g == 0)) for g in ones):
        raise InputError("optimizer lm trains weights that are entries of the network's layers (a plain "
                         "network's, PAC-Net's freed weights), not ones that enter through a product (LoRA)")
    used = torch.cat([g.flatten() for g in ones]) == 1
    index = torch.cat([g.flatten() for g in numbers]).round().long() - 1
    if len(torch.unique(index[used])) != int(used.sum()):
        raise InputError("optimizer lm: two trained weights make the same layer entry")
    return torch.where(used, index, -1)


def _columns_by_layer(network: TanhNetwork, entry_of: torch.Tensor) -> list[tuple[torch.Tensor, ...]]:
    """Per layer: the Jacobian's columns that are entries of its weight and those entries (as
    flattened), then the same for its bias."""
    columns, start = [], 0
    positions = torch.arange(len(entry_of), device=entry_of.device)
    for weight, bias in network.affine_layers():
        parts = []
        for size in (weight.numel(), bias.numel()):
            inside = (entry_of >= start) & (entry_of < start + size)
            parts += [positions[inside], entry_of[inside] - start]
            start += size
        columns.append(tuple(parts))
    return columns
