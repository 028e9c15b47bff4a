"""`finetune`: every weight, warm-started from the source, from the nearest member, or by
continuation from the two nearest (see `nearest`)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable

import torch

from equations import Equation, coefficient_key

from .base import Adapted, TransferMethod, count, option
from .nearest import CONTINUATION_HELP, CONTINUATION_STARTS, NearestStart, check_warm_start, secant_step, two_nearest
from ..solver.model import MLP, TanhNetwork
from ..solver.train import train


@dataclass(frozen=True)
class FineTuneOptions:
    warm_start: str = option("zero", CONTINUATION_HELP, CONTINUATION_STARTS)

    def __post_init__(self) -> None:
        check_warm_start(self.warm_start, CONTINUATION_STARTS)


class FineTune(NearestStart, TransferMethod):
    """Every weight trained for each target, from a copy of the source's network or, with
    `warm_start="nearest"`, of the nearest member's (see `nearest`).

    `warm_start="continuation"` starts from the secant through the two nearest members'
    weights, with the quasi-Newton matrix the nearest member's training ended with (the
    identity where that is the source: the source's own matrix, from a far more converged
    solve, made the first Burgers target 3x slower). Each target's matrix is stored with it in
    the run's store (not in its checkpoint), so that targets added later, or after a resume,
    start as they would have in one run.
    """

    name, keeps_source = "finetune", False
    Options = FineTuneOptions
    store_only = ("curvature",)

    @property
    def continuing(self) -> bool:
        """True for continuation: secant starts and the nearest member's quasi-Newton matrix."""
        return self.options.warm_start == "continuation"

    def prepare(self, context, budget, evaluator=None, **train_options) -> None:
        super().prepare(context, budget, evaluator)
        self.calibrated: list[Equation] = []
        self.networks: dict[str, MLP] = {}
        self.curvatures: dict[str, torch.Tensor] = {}

    def load_prepared(self, context, state) -> None:
        super().load_prepared(context, state)
        self.calibrated, self.networks, self.curvatures = [], {}, {}

    def adapt(self, target, budget, evaluator=None, loss=None, **train_options) -> Adapted:
        network = copy.deepcopy(self._start(target)).requires_grad_(True)
        result = train(network, self._loss(target, loss), network.parameters(), budget, evaluator,
                       penalty=self._penalty(network), curvature=self._start_curvature(target), **train_options)
        self._keep(target, network, result.curvature if self.continuing else None)
        size = count(network.parameters())
        return Adapted(network, network, size, size, result)

    def target_state(self, key: str, adapted: Adapted) -> dict[str, Any]:
        state = super().target_state(key, adapted)
        if key in self.curvatures:
            state["curvature"] = self.curvatures[key].cpu()
        return state

    def load_target(self, target: Equation, state: dict[str, Any]) -> TanhNetwork:
        network = super().load_target(target, state)
        self._keep(target, network, state.get("curvature"))
        return network

    def _keep(self, target: Equation, network: MLP, curvature: torch.Tensor | None) -> None:
        self.calibrated.append(target)
        self.networks[coefficient_key(target)] = network
        if curvature is not None:
            self.curvatures[coefficient_key(target)] = curvature

    def _start_curvature(self, target: Equation) -> torch.Tensor | None:
        """The quasi-Newton matrix a continuation starts from: the nearest member's, if kept."""
        if not self.continuing:
            return None
        nearest = self.nearest_start(target)
        return None if nearest is None else self.curvatures.get(coefficient_key(nearest))

    def _start(self, target: Equation) -> MLP:
        """The network a target starts from: the source's, the nearest member's, or the secant
        through the two nearest members' weights."""
        if self.continuing and self.calibrated:
            nearest, other = two_nearest(target, self.known_members(), self.context.source)
            t = secant_step(target, nearest, other, self.context.source)
            start = copy.deepcopy(self._network(nearest))
            with torch.no_grad():
                for weight, there in zip(start.parameters(), self._network(other).parameters()):
                    weight.add_(weight - there, alpha=t)
            return start
        nearest = self.nearest_start(target)
        return self.context.network if nearest is None else self._network(nearest)

    def _network(self, member: Equation) -> MLP:
        """A trained member's network (the source's included)."""
        if member is self.context.source:
            return self.context.network
        return self.networks[coefficient_key(member)]

    def _penalty(self, network: MLP) -> Callable[[], torch.Tensor] | None:
        return None
