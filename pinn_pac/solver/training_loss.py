"""What the training loop asks of a loss: its value, and (where a loss has them) its terms and
tracked values for the history, RAD redraws of its points, renewed term weights, and its state
for a kept phase. The base class does nothing extra, so a plain function of the network is a
loss (`as_training_loss`); `PhysicsLoss` and the losses built from it override what they have."""

from __future__ import annotations

from typing import Callable

import torch


class TrainingLoss:
    """A loss as the training loop (`train`) uses it."""

    #: Redraw the points (`resample`) every this many quasi-Newton iterations; 0: never.
    resample_every: int = 0
    #: Renew the term weights (`reweight`) every this many steps; 0: never.
    reweight_every: int = 0

    def __call__(self, network: torch.nn.Module) -> torch.Tensor:
        raise NotImplementedError

    def term_values(self, network: torch.nn.Module) -> dict[str, float]:
        """Each loss term, unweighted, for the history; none for a loss of one term."""
        return {}

    def tracked_values(self) -> dict[str, float]:
        """Values recorded beside the terms (identify: each unknown)."""
        return {}

    def resample(self, network: torch.nn.Module) -> None:
        """Redraw the points (RAD)."""

    def reweight(self, network: torch.nn.Module, balance: bool, parameters: list[torch.nn.Parameter]) -> bool:
        """Renew the term weights (balanced where `balance`); whether any changed."""
        return False

    def state_dict(self) -> dict | None:
        """What a kept phase needs of the loss to go on (its points, random stream, weights)."""
        return None

    def load_state_dict(self, state: dict) -> None:
        """Take up what `state_dict` gave."""


class FunctionLoss(TrainingLoss):
    """A function of the network as a loss, with nothing else."""

    def __init__(self, function: Callable[[torch.nn.Module], torch.Tensor]) -> None:
        self.function = function

    def __call__(self, network: torch.nn.Module) -> torch.Tensor:
        return self.function(network)


def as_training_loss(loss: TrainingLoss | Callable[[torch.nn.Module], torch.Tensor]) -> TrainingLoss:
    """`loss` itself, or a plain function of the network as a `FunctionLoss`."""
    return loss if isinstance(loss, TrainingLoss) else FunctionLoss(loss)
