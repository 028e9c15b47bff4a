"""`finetune`: every weight, warm-started from the source."""

from __future__ import annotations

import copy
from typing import Callable

import torch

from .base import Adapted, TransferMethod, count
from ..solver.model import MLP
from ..solver.train import train


class FineTune(TransferMethod):
    name, keeps_source = "finetune", False

    def adapt(self, target, budget, evaluator=None, loss=None, **train_options) -> Adapted:
        network = copy.deepcopy(self.context.network).requires_grad_(True)
        result = train(network, self._loss(target, loss), network.parameters(), budget, evaluator,
                       penalty=self._penalty(network), **train_options)
        size = count(network.parameters())
        return Adapted(network, network, size, size, result)

    def _penalty(self, network: MLP) -> Callable[[], torch.Tensor] | None:
        return None
