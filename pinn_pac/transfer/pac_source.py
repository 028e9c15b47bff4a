"""PAC-Net's source side: Prune the trained source network and Allocate its kept weights.

* `prune` keeps the largest-magnitude weights of a trained source network and frees the rest
  (or those with the largest given scores; or frees whole neurons).
* `allocate` retrains the kept weights (and biases) on the source with freed weights at 0.
* `calibration_start`: where a target's freed weights start.

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

PRUNE_SCOPES = ("global", "layer", "output", "neurons")


def _keep_largest(magnitudes: torch.Tensor, ratio: float) -> torch.Tensor:
    """True on all but the `ratio` fraction of smallest entries (ties broken by position)."""
    n_free = round(ratio * magnitudes.numel())
    keep = torch.ones(magnitudes.numel(), dtype=torch.bool, device=magnitudes.device)
    keep[torch.argsort(magnitudes.flatten(), stable=True)[:n_free]] = False
    return keep.view_as(magnitudes)


def prune(network: MLP, ratio: float, scope: str = "output",
          scores: list[torch.Tensor] | None = None) -> list[torch.Tensor]:
    """Boolean masks over the weight matrices, True where a weight is kept for the source.

    `ratio` is the fraction of weights freed for targets; those with the smallest `scores`
    (default: magnitudes) are freed. With scope "global" one threshold spans all layers; with
    "layer" each matrix frees `ratio` of its own weights; with "output" the global threshold
    holds for the hidden layers and the output layer frees `ratio` of its own (a global
    threshold may free none of it, and a target then cannot re-weight the source's features).
    With "neurons", whole hidden neurons are freed instead (`free_neurons`).
    """
    if not 0.0 < ratio < 1.0:
        raise InputError(f"prune ratio must be in (0, 1), got {ratio}")
    if scope == "neurons":
        return free_neurons(network, ratio)
    weights = [w.detach().abs() for w in network.weights] if scores is None else scores
    if scope == "layer":
        return [_keep_largest(w, ratio) for w in weights]
    if scope not in PRUNE_SCOPES:
        raise InputError(f"unknown prune scope {scope!r}; use one of {PRUNE_SCOPES}")
    keep = _keep_largest(torch.cat([w.flatten() for w in weights]), ratio)
    masks = [part.view_as(w) for part, w in zip(keep.split([w.numel() for w in weights]), weights)]
    if scope == "output":
        masks[-1] = _keep_largest(weights[-1], ratio)
    return masks


def free_neurons(network: MLP, ratio: float) -> list[torch.Tensor]:
    """Masks freeing whole hidden neurons (all their incoming and outgoing weights): the same
    number in each hidden layer, those with the smallest outgoing weights (2-norm), the fewest
    that free at least `ratio` of all weights. A target so gains features of its own."""
    weights = [w.detach() for w in network.weights]
    total = sum(w.numel() for w in weights)
    hidden = len(weights) - 1
    order = [torch.argsort(weights[layer + 1].norm(dim=0), stable=True) for layer in range(hidden)]
    for count in range(1, min(len(o) for o in order)):
        masks = [torch.ones_like(w, dtype=torch.bool) for w in weights]
        for layer, ranked in enumerate(order):
            masks[layer][ranked[:count], :] = False
            masks[layer + 1][:, ranked[:count]] = False
        if sum(int((~m).sum()) for m in masks) >= ratio * total:
            break
    return masks


def calibration_start(network: MLP, kept: list[torch.Tensor]) -> list[torch.Tensor]:
    """Start values of the freed weights of `network` (before Allocate zeroes them), per layer.

    A freed weight starts at 0, the allocated source's value, except the incoming weights of a
    neuron the source no longer uses (all its outgoing weights freed): those keep the value
    they were trained to, so that the neuron starts as a feature a target may weigh in (from 0
    its outgoing weights would have no gradient to leave it by).
    """
    weights = [w.detach() for w in network.weights]
    unused = [(~mask).all(dim=0) for mask in kept[1:]]  # per hidden layer: neurons with no outgoing weight
    start = []
    for layer, (weight, mask) in enumerate(zip(weights, kept)):
        inert = unused[layer][:, None].expand_as(weight) if layer < len(unused) else torch.zeros_like(mask)
        start.append(torch.where(inert, weight, torch.zeros_like(weight))[~mask])
    return start


class MaskedNetwork(TanhNetwork):
    """A view of `base` in which the freed weights are held at exactly zero."""

    def __init__(self, base: MLP, kept: list[torch.Tensor]) -> None:
        super().__init__(*base.input_map())
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
