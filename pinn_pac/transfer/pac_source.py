"""PAC-Net's source side: Prune the trained source network and Allocate its kept weights.

* `prune` keeps the largest-magnitude weights of a trained source network and frees the rest.
* `allocate` retrains the kept weights (and biases) on the source with freed weights at 0.

The freed weights are then calibrated per target in `pac_network.PACNetwork`.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from equations.errors import InputError

from ..solver.evaluate import Evaluator
from ..solver.model import MLP, Layers, TanhNetwork
from ..solver.train import Budget, TrainResult, train

PRUNE_SCOPES = ("global", "layer", "output")


def _keep_largest(magnitudes: torch.Tensor, ratio: float) -> torch.Tensor:
    """True on all but the `ratio` fraction of smallest entries (ties broken by position)."""
    n_free = round(ratio * magnitudes.numel())
    keep = torch.ones(magnitudes.numel(), dtype=torch.bool, device=magnitudes.device)
    keep[torch.argsort(magnitudes.flatten(), stable=True)[:n_free]] = False
    return keep.view_as(magnitudes)


def prune(network: MLP, ratio: float, scope: str = "output") -> list[torch.Tensor]:
    """Boolean masks over the weight matrices, True where a weight is kept for the source.

    `ratio` is the fraction of weights freed for targets. With scope "global" one magnitude
    threshold spans all layers; with "layer" each matrix frees `ratio` of its own weights;
    with "output" the global threshold holds for the hidden layers and the output layer frees
    `ratio` of its own (a global threshold may free none of it, and a target then cannot
    re-weight the source's features).
    """
    if not 0.0 < ratio < 1.0:
        raise InputError(f"prune ratio must be in (0, 1), got {ratio}")
    weights = [w.detach().abs() for w in network.weights]
    if scope == "layer":
        return [_keep_largest(w, ratio) for w in weights]
    if scope not in PRUNE_SCOPES:
        raise InputError(f"unknown prune scope {scope!r}; use one of {PRUNE_SCOPES}")
    keep = _keep_largest(torch.cat([w.flatten() for w in weights]), ratio)
    masks = [part.view_as(w) for part, w in zip(keep.split([w.numel() for w in weights]), weights)]
    if scope == "output":
        masks[-1] = _keep_largest(weights[-1], ratio)
    return masks


class MaskedNetwork(TanhNetwork):
    """A view of `base` in which the freed weights are held at exactly zero."""

    def __init__(self, base: MLP, kept: list[torch.Tensor]) -> None:
        super().__init__(base.input_center, base.input_scale, base.periodic, base.frequencies)
        self.base = base
        self.kept = kept

    def affine_layers(self) -> Layers:
        return [(w * m, b) for w, m, b in zip(self.base.weights, self.kept, self.base.biases)]


def allocate(
    network: MLP,
    kept: list[torch.Tensor],
    loss_fn: Callable[[nn.Module], torch.Tensor],
    budget: Budget,
    evaluator: Evaluator | None = None,
    **train_options,
) -> TrainResult:
    """Retrain the kept weights and the biases of `network` with the freed weights at 0.

    On return the freed entries of `network`'s weight matrices are exactly zero.
    """
    _zero_freed(network, kept)
    result = train(
        MaskedNetwork(network, kept), loss_fn, network.parameters(), budget, evaluator,
        **train_options,
    )
    _zero_freed(network, kept)
    return result


def _zero_freed(network: MLP, kept: list[torch.Tensor]) -> None:
    with torch.no_grad():
        for weight, mask in zip(network.weights, kept):
            weight.mul_(mask)
