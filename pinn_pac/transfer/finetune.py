"""`finetune`: every weight, warm-started from the source or from the nearest member."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable

import torch

from equations import Equation

from .base import Adapted, TransferMethod, count, option
from .nearest import WARM_START_HELP, WARM_STARTS, check_warm_start, nearest_first, nearest_member
from ..solver.model import MLP, TanhNetwork
from ..solver.train import train


@dataclass(frozen=True)
class FineTuneOptions:
    warm_start: str = option("zero", WARM_START_HELP, WARM_STARTS)

    def __post_init__(self) -> None:
        check_warm_start(self.warm_start)


class FineTune(TransferMethod):
    """Every weight trained for each target, from a copy of the source's network or, with
    `warm_start="nearest"`, of the nearest member's (see `nearest`)."""

    name, keeps_source = "finetune", False
    Options = FineTuneOptions

    def prepare(self, context, budget, evaluator=None, **train_options) -> None:
        super().prepare(context, budget, evaluator)
        self.trained: list[tuple[Equation, MLP]] = []

    def load_prepared(self, context, state) -> None:
        super().load_prepared(context, state)
        self.trained = []

    @property
    def targets_independent(self) -> bool:
        return self.options.warm_start == "zero"

    def training_order(self, targets: list[Equation]) -> list[Equation]:
        if self.options.warm_start == "zero":
            return list(targets)
        return nearest_first(targets, self._members(), self.context.source)

    def adapt(self, target, budget, evaluator=None, loss=None, **train_options) -> Adapted:
        network = copy.deepcopy(self._start(target)).requires_grad_(True)
        result = train(network, self._loss(target, loss), network.parameters(), budget, evaluator,
                       penalty=self._penalty(network), **train_options)
        self.trained.append((target, network))
        size = count(network.parameters())
        return Adapted(network, network, size, size, result)

    def load_target(self, target: Equation, state: dict[str, Any]) -> TanhNetwork:
        network = super().load_target(target, state)
        self.trained.append((target, network))
        return network

    def _members(self) -> list[Equation]:
        return [self.context.source, *(member for member, _ in self.trained)]

    def _start(self, target: Equation) -> MLP:
        """The network a target starts from: the source's, or the nearest member's."""
        if self.options.warm_start == "zero":
            return self.context.network
        nearest = nearest_member(target, self._members(), self.context.source)
        return next((network for member, network in self.trained if member is nearest), self.context.network)

    def _penalty(self, network: MLP) -> Callable[[], torch.Tensor] | None:
        return None
