"""Relative L2 and max error of a network against an equation's reference on a grid (on a
region, the grid's points inside it; the values outside are NaN, so figures leave them blank),
or at the reference's own points where a family gives it as values there (`reference_values`)."""

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
    """Holds an equation's reference on a grid (the standard grid unless one is given), from its
    `reference` on the grid or its `reference_at` the grid's points; for a family on a region,
    at the grid's points inside it (NaN outside, and errors over the points inside). A family
    that gives its reference as values at its own points (`reference_values`) is measured
    there (`grid` None, `points` those points) unless a grid is given.

    `conditions` must be what the network was trained with: with "exact" its output is put
    through the equation's exact form (see `posing`). For an equation without a reference
    (`reference` is None) every error is NaN: unavailable. A reference zero everywhere on the
    grid has no relative error and is refused (InputError), before any training.
    """

    def __init__(self, equation: Equation, grid: dict[str, np.ndarray] | None = None,
                 conditions: str = "exact") -> None:
        self.equation = equation
        self.posing = Posing(equation, conditions)
        outputs = (len(equation.outputs),) if len(equation.outputs) > 1 else ()
        values = None
        if grid is None and equation.reference_by == "values":  # the family's own points
            #: The grid (None where the errors are taken at the reference's own points).
            self.grid: dict[str, np.ndarray] | None = None
            self.points, values = reference_values(equation)
            self.shape: tuple[int, ...] = (len(self.points),)
        else:
            self.grid = dict(grid) if grid is not None else equation.standard_grid()
            self.shape = tuple(np.asarray(self.grid[name]).size for name in equation.inputs)
            self.points = grid_points(equation, self.grid)
        #: Which points (flattened) lie in the domain: all on a box, and all of a reference's own.
        self.inside = in_region(equation, self.points) if values is None else np.ones(len(self.points), bool)
        if not self.inside.any():
            raise InputError(f"no point of the grid lies in the region of {equation.describe()}")
        self.output_shape = self.shape + outputs
        if values is not None:
            self.reference = values.reshape(self.output_shape)
        else:
            self.reference = reference_on_grid(equation, self.grid, self.inside) if equation.has_reference else None
        self.scale = _norm(self._in_domain(self.reference)) if self.reference is not None else math.nan
        if self.scale == 0.0:
            raise InputError(f"the reference of {equation.describe()} is zero everywhere on the grid, so its "
                             "relative L2 error is undefined; choose a member whose solution is not zero")

    @property
    def _mask(self) -> np.ndarray:
        """`inside` shaped like the reference (repeated over the outputs)."""
        mask = self.inside.reshape(self.shape)
        return np.broadcast_to(mask[..., None], self.output_shape) if len(self.output_shape) > len(self.shape) \
            else mask

    def _in_domain(self, values: np.ndarray) -> np.ndarray:
        """`values` at the grid points in the domain (all of them, as they are, on a box)."""
        return values if self.inside.all() else values[self._mask]

    def predict(self, network: torch.nn.Module) -> np.ndarray:
        """The network's output on the grid (computed where the network lives), shaped like
        the reference (one column per output where there are several); NaN outside a region."""
        with torch.no_grad():
            points = torch.tensor(self.points[self.inside], **network_placement(network))
            inside = self.posing.predict(network, points).double().cpu().numpy()
        values = np.full((len(self.points), inside.shape[1]), np.nan)
        values[self.inside] = inside
        return values.reshape(self.output_shape)

    def __call__(self, network: torch.nn.Module) -> Metrics:
        return self.metrics(self.predict(network) if self.reference is not None else None)

    def metrics(self, prediction: np.ndarray | None) -> Metrics:
        """The errors of a prediction on the grid (from `predict`); NaN without a reference."""
        if self.reference is None:
            return Metrics(rel_l2=math.nan, max_abs_err=math.nan)
        error = self._in_domain(prediction - self.reference)
        return Metrics(rel_l2=_norm(error) / self.scale, max_abs_err=float(np.abs(error).max()))


def grid_points(equation: Equation, grid: dict[str, np.ndarray]) -> np.ndarray:
    """The tensor-product grid's points, (N, n_inputs), in the order `reference` indexes them."""
    mesh = np.meshgrid(*(np.asarray(grid[name], dtype=np.float64) for name in equation.inputs), indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1)


def reference_values(equation: Equation) -> tuple[np.ndarray, np.ndarray]:
    """The family's `reference_values`, checked: (N, n_inputs) finite points, all in the domain,
    and their finite values, (N, n_outputs); anything else is refused in one line."""
    name = f"{equation.name}.reference_values"
    try:
        points, values = equation.reference_values()
        points, values = np.asarray(points, dtype=np.float64), np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InputError(f"{name}: must return (points, values), arrays of numbers ({error})") from None
    count, outputs = len(points), len(equation.outputs)
    if points.ndim != 2 or points.shape[1] != len(equation.inputs) or count == 0:
        raise InputError(f"{name}: points must be (N, {len(equation.inputs)}) for inputs "
                         f"{', '.join(equation.inputs)}, N >= 1; got shape {points.shape}")
    if values.shape not in ((count, outputs),) + (((count,),) if outputs == 1 else ()):
        raise InputError(f"{name}: values must be ({count}, {outputs})" + (f" or ({count},)" if outputs == 1 else "")
                         + f" for {count} points; got shape {values.shape}")
    if not (np.isfinite(points).all() and np.isfinite(values).all()):
        raise InputError(f"{name}: points and values must be finite numbers (no NaN or inf)")
    outside = ~_near_domain(equation, points)
    if outside.any():
        at = ", ".join(f"{n}={v:.6g}" for n, v in zip(equation.inputs, points[np.argmax(outside)]))
        raise InputError(f"{name}: {int(outside.sum())} of {count} points lie outside the domain (first: {at})")
    return points, values.reshape(count, outputs)


#: How far outside a region's boundary a reference's point may lie, relative to the shape's size:
#: a mesh's nodes on a curved boundary (a quadratic element's mid-edge node on a hole's chord).
NEAR_BOUNDARY = 1e-3


def near_region(equation: Equation, points: np.ndarray) -> np.ndarray:
    """(N,) bools: the points a model speaks for: all of them on a box; on a region, those in
    its box (to rounding) and inside its shape or within `NEAR_BOUNDARY` of its size outside,
    where a reference's own points may lie (predict gives values there, identify reads data)."""
    if equation.region() is None:
        return np.ones(len(points), dtype=bool)
    return _near_domain(equation, points)


def _near_domain(equation: Equation, points: np.ndarray) -> np.ndarray:
    """(N,) bools: in the domain's box (to rounding) and, on a region, inside its shape or
    within `NEAR_BOUNDARY` of its size outside."""
    lower, upper = (np.array([equation.domain[n][k] for n in equation.inputs]) for k in (0, 1))
    slack = 1e-9 * np.maximum(1.0, upper - lower)
    near = np.all((points >= lower - slack) & (points <= upper + slack), axis=1)
    return near & in_region(equation, points, NEAR_BOUNDARY)


def in_region(equation: Equation, points: np.ndarray, near: float = 0.0) -> np.ndarray:
    """(N,) bools: which points, within rounding of the domain's box, lie in its region once
    taken onto the box; with `near` > 0 also those at most `near` times the shape's size outside
    it. All of them on a box."""
    region = equation.region()
    if region is None:
        return np.ones(len(points), dtype=bool)
    lower, upper = (np.array([equation.domain[n][k] for n in equation.inputs]) for k in (0, 1))
    inside = region.contains(np.clip(points, lower, upper), equation.inputs)
    if near > 0:
        shape, columns = region.shape, [equation.inputs.index(name) for name in region.over]
        signed = shape.signed(torch.as_tensor(points[:, columns], dtype=torch.float64))[:, 0].numpy()
        inside |= signed > -near * shape.size()
    return inside


def reference_on_grid(equation: Equation, grid: dict[str, np.ndarray], inside: np.ndarray | None = None) -> np.ndarray:
    """The equation's reference on the grid (from `reference` or `reference_at`), NaN at the
    points outside its region; indexed in the order of `inputs`, one last axis per output
    where there are several. A family whose reference is values at its own points
    (`reference_values`) has none on a grid: refused in one line."""
    if equation.reference_by == "values":
        raise InputError(f"{equation.name} gives its reference as values at its own points (reference_values), "
                         "not on a grid")
    points = grid_points(equation, grid)
    inside = in_region(equation, points) if inside is None else inside
    shape = tuple(len(grid[name]) for name in equation.inputs)
    shape += (len(equation.outputs),) if len(equation.outputs) > 1 else ()
    if equation.reference_by == "points":
        values = np.full((len(points), len(equation.outputs)), np.nan)
        values[inside] = np.asarray(equation.reference_at(points[inside]), dtype=np.float64).reshape(
            int(inside.sum()), -1)
        reference = values.reshape(shape)
    else:
        reference = np.array(equation.reference(grid), dtype=np.float64)
    if inside.all():
        return reference
    mask = inside.reshape(shape[: len(equation.inputs)])
    return np.where(mask[..., None] if len(shape) > len(equation.inputs) else mask, reference, np.nan)


def _norm(values: np.ndarray) -> float:
    """The 2-norm by numpy's pairwise sum: the same bits on any number of threads (BLAS's
    dot, which np.linalg.norm uses, splits its sum by thread count)."""
    return math.sqrt(float(np.sum(np.square(values))))
