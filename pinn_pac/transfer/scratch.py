"""`scratch`: a fresh network trained on the target alone (the baseline every method must beat)."""

from __future__ import annotations

from equations import Equation

from ..solver.model import TanhNetwork
from .base import Adapted, TransferMethod, count
from ..solver.train import train


class Scratch(TransferMethod):
    name, keeps_source = "scratch", False

    def adapt(self, target, budget, evaluator=None, loss=None, **train_options) -> Adapted:
        network = self._stored_network(target)
        result = train(network, self._loss(target, loss), network.parameters(), budget, evaluator,
                       **train_options)
        size = count(network.parameters())
        return Adapted(network, network, size, size, result)

    def _stored_network(self, target: Equation) -> TanhNetwork:
        """A fresh network made for the target: what `adapt` trains and a stored target reloads into."""
        return self.context.new_network(target)
