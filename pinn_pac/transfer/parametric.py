"""`parametric`: the coefficient as an extra input, trained over the range the source and the
targets span, then fine-tuned on each target."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch

from equations import Equation
from equations.errors import InputError

from .base import Adapted, TransferMethod, count, option
from ..solver.loss import MeanPhysicsLoss
from ..solver.model import MLP, Layers, TanhNetwork
from ..solver.train import TrainResult, train


@dataclass(frozen=True)
class ParametricOptions:
    members: int = option(5, "parametric: coefficients trained on across the range")
    finetune: bool = option(True, "parametric: fine-tune the network on each target after the range training")

    def __post_init__(self) -> None:
        if self.members < 2:
            raise InputError(f"parametric training needs >= 2 members, got {self.members}")


class AtCoefficient(TanhNetwork):
    """A parametric network (inputs, then the coefficient) at one coefficient value: the
    constant coefficient input is folded into the first layer's bias."""

    def __init__(self, parametric: MLP, value: float) -> None:
        super().__init__(parametric.input_center[:-1], parametric.input_scale[:-1], parametric.periodic[:-1],
                         parametric.frequencies[:-1], parametric.features)
        self.parametric = parametric
        self.scaled_value = float((value - parametric.input_center[-1]) * parametric.input_scale[-1])

    def affine_layers(self) -> Layers:
        (weight, bias), *rest = self.parametric.affine_layers()
        c = self.parametric.first_extra_column - 1  # the coefficient's column, before any feature
        return [(torch.cat([weight[:, :c], weight[:, c + 1:]], dim=1), bias + weight[:, c] * self.scaled_value), *rest]


@dataclass
class CoefficientRange:
    """The one coefficient that varies across a family's members, and its span."""

    name: str
    low: float
    high: float

    @classmethod
    def spanning(cls, members: list[Equation]) -> "CoefficientRange":
        names = members[0].coefficients
        varying = [n for n in names if len({m.coefficients[n] for m in members}) > 1]
        if len(varying) != 1:
            raise InputError(
                "parametric transfer needs exactly one coefficient to vary across the source and "
                f"targets; here {len(varying)} do ({', '.join(varying) or 'none'})"
            )
        values = [m.coefficients[varying[0]] for m in members]
        return cls(varying[0], min(values), max(values))

    def members(self, source: Equation, count: int) -> list[Equation]:
        step = (self.high - self.low) / (count - 1)
        return [source.with_coefficients(**{self.name: self.low + k * step}) for k in range(count)]


class Parametric(TransferMethod):
    """One network over (inputs, coefficient), warm-started from the source with zero weights
    on the new input, trained on `members` evenly spaced coefficients spanning the source and
    the targets (each on 1/members of the points), then fine-tuned per target if `finetune`."""

    name, keeps_source = "parametric", False
    trains_layer_entries = False  # one network over a range of members' losses
    Options = ParametricOptions

    def check(self, source: Equation, targets: list[Equation]) -> None:
        CoefficientRange.spanning([source, *targets])

    def check_prepared(self, prepared, source, targets) -> None:
        self._covered(CoefficientRange(*prepared["range"]), CoefficientRange.spanning([source, *targets]))

    @staticmethod
    def _covered(stored: CoefficientRange, needed: CoefficientRange) -> None:
        if stored != needed:
            raise InputError(f"parametric was trained over {stored.name} in [{stored.low:.6g}, {stored.high:.6g}]; "
                             f"these targets span [{needed.low:.6g}, {needed.high:.6g}]: give targets inside the "
                             "trained range, or start a new run")

    def prepare(self, context, budget, evaluator=None, **train_options) -> TrainResult:
        super().prepare(context, budget, evaluator)
        self.range = CoefficientRange.spanning([context.source, *context.targets])
        self.parametric = self._widen(context.network)
        members = self.range.members(context.source, self.options.members)
        n_points = max(1, context.n_interior // self.options.members)
        range_loss = MeanPhysicsLoss([
            (context.loss_for(member, n_interior=n_points, seed_offset=k), self._at(self.parametric, member))
            for k, member in enumerate(members)
        ])
        return train(self.source_model(), range_loss, self.parametric.parameters(), budget, evaluator,
                     **train_options)

    def _widen(self, source: MLP) -> MLP:
        """The source network with one more input (the coefficient) whose weights are zero,
        built on the CPU and moved to the source's device."""
        center, dtype = source.input_center.cpu(), source.input_center.dtype
        half = 1.0 / source.input_scale.cpu()
        with torch.device("cpu"):
            lower = torch.cat([center - half, torch.tensor([self.range.low], dtype=dtype)])
            upper = torch.cat([center + half, torch.tensor([self.range.high], dtype=dtype)])
            widened = MLP(lower, upper, source.weights[-1].shape[0], source.width, source.depth,
                          periodic=(*source.periodic, False), frequencies=(*source.frequencies, ()),
                          features=source.features)
        c = source.first_extra_column  # the coefficient's column in the first layer
        with torch.no_grad():
            for k, (weight, bias, new_weight, new_bias) in enumerate(zip(source.weights, source.biases,
                                                                         widened.weights, widened.biases)):
                new_weight.zero_()
                if k == 0:
                    new_weight[:, :c], new_weight[:, c + 1:] = weight[:, :c], weight[:, c:]
                else:
                    new_weight.copy_(weight)
                new_bias.copy_(bias)
        return widened.to(source.input_center.device)

    def prepared_state(self) -> dict[str, Any]:
        return {**super().prepared_state(), "parametric": self.parametric.state_dict(),
                "range": [self.range.name, self.range.low, self.range.high]}

    def load_prepared(self, context, state) -> None:
        super().load_prepared(context, state)
        self.range = CoefficientRange.spanning([context.source, *context.targets])
        self._covered(CoefficientRange(*state["range"]), self.range)
        self.parametric = self._widen(context.network)
        self.parametric.load_state_dict(state["parametric"], strict=True)

    def _at(self, parametric: MLP, equation: Equation) -> AtCoefficient:
        return AtCoefficient(parametric, equation.coefficients[self.range.name])

    def source_model(self) -> TanhNetwork:
        return self._at(self.parametric, self.context.source)

    def adapt(self, target, budget, evaluator=None, loss=None, **train_options) -> Adapted:
        parametric = copy.deepcopy(self.parametric)
        network = self._at(parametric, target)
        parameters = list(parametric.parameters()) if self.options.finetune else []
        result = train(network, self._loss(target, loss), parameters, budget, evaluator, **train_options)
        size = count(parameters)
        return Adapted(network, self._at(parametric, self.context.source), size, size, result)
