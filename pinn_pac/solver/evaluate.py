"""Relative L2 and max error of a network against an equation's reference on a grid."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from equations import Equation
from equations.errors import InputError

from .posing import Posing


def network_placement(network: torch.nn.Module) -> dict[str, torch.dtype | torch.device]:
    """The dtype and device a network computes in (those of its buffers; float64 on the CPU
    without any), as keyword arguments for making tensors."""
    buffer = next(iter(network.buffers()), None)
    if buffer is None:
        return {"dtype": torch.float64, "device": torch.device("cpu")}
    return {"dtype": buffer.dtype, "device": buffer.device}


@dataclass(frozen=True)
class Metrics:
    rel_l2: float
    max_abs_err: float


class Evaluator:
    """Holds an equation's reference on a grid (the standard grid unless one is given).

    `conditions` must be what the network was trained with: with "exact" its output is put
    through the equation's exact form (see `posing`). For an equation without a reference
    (`reference` is None) every error is NaN: unavailable. A reference zero everywhere on the
    grid has no relative error and is refused (InputError), before any training.
    """

    def __init__(self, equation: Equation, grid: dict[str, np.ndarray] | None = None,
                 conditions: str = "exact") -> None:
        self.equation = equation
        self.posing = Posing(equation, conditions)
        self.grid = dict(grid) if grid is not None else equation.standard_grid()
        axes = [np.asarray(self.grid[name], dtype=np.float64) for name in equation.inputs]
        self.shape = tuple(axis.size for axis in axes)
        mesh = np.meshgrid(*axes, indexing="ij")
        self.points = np.stack([m.ravel() for m in mesh], axis=1)
        self.reference = (np.asarray(equation.reference(self.grid), dtype=np.float64)
                          if equation.has_reference else None)
        self.output_shape = self.shape + ((len(equation.outputs),) if len(equation.outputs) > 1 else ())
        self.scale = _norm(self.reference) if self.reference is not None else math.nan
        if self.scale == 0.0:
            raise InputError(f"the reference of {equation.describe()} is zero everywhere on the grid, so its "
                             "relative L2 error is undefined; choose a member whose solution is not zero")

    def predict(self, network: torch.nn.Module) -> np.ndarray:
        """The network's output on the grid (computed where the network lives), shaped like
        the reference (one column per output where there are several)."""
        with torch.no_grad():
            points = torch.tensor(self.points, **network_placement(network))
            values = self.posing.predict(network, points).double().cpu().numpy()
        return values.reshape(self.output_shape)

    def __call__(self, network: torch.nn.Module) -> Metrics:
        return self.metrics(self.predict(network) if self.reference is not None else None)

    def metrics(self, prediction: np.ndarray | None) -> Metrics:
        """The errors of a prediction on the grid (from `predict`); NaN without a reference."""
        if self.reference is None:
            return Metrics(rel_l2=math.nan, max_abs_err=math.nan)
        error = prediction - self.reference
        return Metrics(rel_l2=_norm(error) / self.scale, max_abs_err=float(np.abs(error).max()))


def _norm(values: np.ndarray) -> float:
    """The 2-norm by numpy's pairwise sum: the same bits on any number of threads (BLAS's
    dot, which np.linalg.norm uses, splits its sum by thread count)."""
    return math.sqrt(float(np.sum(np.square(values))))
