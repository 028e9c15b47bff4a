"""`l2sp`: fine-tuning pulled towards the source weights (Li, Grandvalet, Davoine 2018)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from equations.errors import InputError

from .base import option
from .finetune import FineTune, FineTuneOptions
from ..solver.model import MLP


@dataclass(frozen=True)
class L2SPOptions(FineTuneOptions):
    alpha: float = option(1e-4, "l2sp: weight of ||theta - theta_source||^2")

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.alpha >= 0:
            raise InputError(f"the l2sp alpha must be >= 0, got {self.alpha}")


class L2SP(FineTune):
    """Fine-tuning pulled towards the source weights: alpha * ||theta - theta_source||^2."""

    name = "l2sp"
    Options = L2SPOptions

    def _penalty(self, network: MLP) -> Callable[[], torch.Tensor]:
        start = [p.detach().clone() for p in self.context.network.parameters()]
        parameters = list(network.parameters())

        def penalty() -> torch.Tensor:
            return self.options.alpha * sum((p - p0).square().sum() for p, p0 in zip(parameters, start))

        return penalty
