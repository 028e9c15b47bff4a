"""`freeze`: the output layer only; the hidden layers stay the source's."""

from __future__ import annotations

import copy

from .base import Adapted, TransferMethod, count
from ..solver.train import train


class Freeze(TransferMethod):
    """Train the output layer only; the hidden layers are the source's, frozen."""

    name, keeps_source = "freeze", True

    def adapt(self, target, budget, evaluator=None, loss=None, **train_options) -> Adapted:
        network = copy.deepcopy(self.context.network).requires_grad_(False)
        head = [network.weights[-1], network.biases[-1]]
        for parameter in head:
            parameter.requires_grad_(True)
        result = train(network, self._loss(target, loss), head, budget, evaluator, **train_options)
        return Adapted(network, self.context.network, count(head), count(head), result)
