"""`finetune`: every weight, warm-started from the source or from the nearest member."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable

import torch

from equations import Equation, coefficient_key

from .base import Adapted, TransferMethod, count, option
from .nearest import WARM_START_HELP, WARM_STARTS, NearestStart, check_warm_start
from ..solver.model import MLP, TanhNetwork
from ..solver.train import train


@dataclass(frozen=True)
class FineTuneOptions:
    warm_start: str = option("zero", WARM_START_HELP, WARM_STARTS)

    def __post_init__(self) -> None:
        check_warm_start(self.warm_start)


class FineTune(NearestStart, TransferMethod):
    """Every weight trained for each target, from a copy of the source's network or, with
    `warm_start="nearest"`, of the nearest member's (see `nearest`)."""

    name, keeps_source = "finetune", False
    Options = FineTuneOptions

    def prepare(self, context, budget, evaluator=None, **train_options) -> None:
        super().prepare(context, budget, evaluator)
        self.calibrated: list[Equation] = []
        self.networks: dict[str, MLP] = {}

    def load_prepared(self, context, state) -> None:
        super().load_prepared(context, state)
        self.calibrated, self.networks = [], {}

    def adapt(self, target, budget, evaluator=None, loss=None, **train_options) -> Adapted:
        network = copy.deepcopy(self._start(target)).requires_grad_(True)
        result = train(network, self._loss(target, loss), network.parameters(), budget, evaluator,
                       penalty=self._penalty(network), **train_options)
        self._keep(target, network)
        size = count(network.parameters())
        return Adapted(network, network, size, size, result)

    def load_target(self, target: Equation, state: dict[str, Any]) -> TanhNetwork:
        network = super().load_target(target, state)
        self._keep(target, network)
        return network

    def _keep(self, target: Equation, network: MLP) -> None:
        self.calibrated.append(target)
        self.networks[coefficient_key(target)] = network

    def _start(self, target: Equation) -> MLP:
        """The network a target starts from: the source's, or the nearest member's."""
        nearest = self.nearest_start(target)
        return self.context.network if nearest is None else self.networks[coefficient_key(nearest)]

    def _penalty(self, network: MLP) -> Callable[[], torch.Tensor] | None:
        return None
