"""Weights of the physics loss's terms: balanced by gradient norms, and causal in time.

Both are recomputed only at chosen moments (every `REWEIGHT_EVERY` Adam steps and after each
RAD redraw) and held fixed in between, so the quasi-Newton phase minimises a fixed objective
between redraws, as its line search and curvature pairs assume.

* Gradient-norm balancing (Wang, Teng, Perdikaris 2021; the global form of Wang et al. 2023,
  "An expert's guide to training PINNs", eq. 4.2): term i gets
  lambda_i = (sum_j |grad L_j|) / |grad L_i|, smoothed as 0.9 lambda_old + 0.1 lambda_new.
* Causal weighting (Wang, Sankaran, Perdikaris 2022, eq. 12): the residual's time span is cut
  into `CAUSAL_SLABS` slabs, and slab i's mean squared residual L_i is weighted by
  exp(-epsilon sum_{k<i} L_k), so later times count only once earlier ones are solved.
"""

from __future__ import annotations

import math

import torch

REWEIGHT_EVERY = 100
CAUSAL_SLABS = 32
SMOOTHING = 0.9


def balanced_weights(
    terms: dict[str, torch.Tensor], parameters: list[torch.nn.Parameter], previous: dict[str, float],
) -> dict[str, float]:
    """New smoothed weights of `terms` from the norms of their gradients."""
    norms = {}
    for name, value in terms.items():
        gradients = torch.autograd.grad(value, parameters, retain_graph=True, allow_unused=True)
        norms[name] = math.sqrt(sum(float(g.square().sum()) for g in gradients if g is not None))
    total = sum(norms.values())
    return {
        name: SMOOTHING * previous[name] + (1 - SMOOTHING) * (total / norm if norm > 0 else previous[name])
        for name, norm in norms.items()
    }


def time_slabs(times: torch.Tensor, start: float, end: float) -> torch.Tensor:
    """The slab index (0 .. CAUSAL_SLABS - 1) of each time, as a long (N,) tensor."""
    fraction = (times.reshape(-1) - start) / (end - start)
    return (fraction * CAUSAL_SLABS).long().clamp_(0, CAUSAL_SLABS - 1)


def slab_means(squared: torch.Tensor, slabs: torch.Tensor) -> torch.Tensor:
    """The mean of `squared` (N,) over each slab's points (zero for an empty slab)."""
    sums = torch.zeros(CAUSAL_SLABS, dtype=squared.dtype, device=squared.device).index_add(0, slabs, squared)
    counts = torch.bincount(slabs, minlength=CAUSAL_SLABS).clamp(min=1)
    return sums / counts


def causal_weights(means: torch.Tensor, epsilon: float) -> torch.Tensor:
    """exp(-epsilon * the sum of the earlier slabs' losses), detached; the first slab gets 1."""
    earlier = torch.cumsum(means.detach(), 0) - means.detach()
    return torch.exp(-epsilon * earlier)
