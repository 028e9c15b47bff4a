"""Collocation, initial and boundary points drawn with scipy's quasi-Monte Carlo samplers.

On a box every input is drawn by the sampler; on a region (`Equation.region`) the shape's
inputs come from the shape's own samplers (scrambled Sobol with rejection inside it, and
uniform by length or area on its boundary pieces) and the interval inputs from the sampler.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import qmc

from equations import BoundaryCondition, Condition, DirichletCondition, Equation
from equations.base import Region
from equations.errors import InputError

SAMPLERS = ("sobol", "lhs")


@dataclass
class ConditionPoints:
    """Points on a condition's faces or boundary pieces, and what the fields must equal there:
    fixed `values` (Dirichlet, or a boundary condition's right side) or the fields at the
    matching `partner` points (periodic); `normals` (outward, unit, one row per point, zero in
    the interval inputs) on a region's boundary."""

    condition: Condition
    points: torch.Tensor
    values: torch.Tensor | None = None
    partner: torch.Tensor | None = None
    normals: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> "ConditionPoints":
        """These points (and values, partners or normals) on `device`."""
        moved = (None if t is None else t.to(device)
                 for t in (self.points, self.values, self.partner, self.normals))
        return ConditionPoints(self.condition, *moved)


@dataclass
class TrainingPoints:
    interior: torch.Tensor
    conditions: list[ConditionPoints]

    def to(self, device: torch.device | str) -> "TrainingPoints":
        """These points on `device`."""
        return TrainingPoints(self.interior.to(device), [c.to(device) for c in self.conditions])


def domain_box(equation: Equation) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds of the equation's inputs, in the order of `inputs`."""
    lower = np.array([equation.domain[name][0] for name in equation.inputs], dtype=float)
    upper = np.array([equation.domain[name][1] for name in equation.inputs], dtype=float)
    return lower, upper


def _unit_samples(dim: int, n: int, sampler: str, rng: np.random.Generator) -> np.ndarray:
    if sampler == "sobol":
        engine = qmc.Sobol(dim, scramble=True, seed=rng)
    elif sampler == "lhs":
        engine = qmc.LatinHypercube(dim, seed=rng)
    else:
        raise InputError(f"unknown sampler {sampler!r}; use one of {SAMPLERS}")
    with warnings.catch_warnings():
        # Sobol prefers powers of two; any n is still a well-spread scrambled set.
        warnings.simplefilter("ignore", UserWarning)
        return engine.random(n)


def sample_points(
    equation: Equation,
    n_interior: int,
    n_condition: int,
    seed: int,
    dtype: torch.dtype = torch.float64,
    sampler: str = "sobol",
    device: torch.device | str = "cpu",
) -> TrainingPoints:
    """Interior points in the domain and `n_condition` points per condition (a region's
    boundary condition: at least that, see `boundary_count`), on `device`.

    The same seed gives the same points, on any device. Condition points are spread evenly
    over the condition's faces (for example both ends of the x interval).
    """
    if n_interior < 1 or n_condition < 1:
        raise InputError("n_interior and n_condition must be positive")
    rng = np.random.default_rng(seed)
    lower, upper = domain_box(equation)
    dim = len(equation.inputs)
    region = equation.region()
    interior = _in_domain(equation, region, n_interior, sampler, rng)

    conditions = []
    with torch.device("cpu"):  # made on the CPU and moved: the same values on every device
        for condition in equation.conditions():
            if isinstance(condition, BoundaryCondition):
                count = boundary_count(equation, region, condition, n_interior, n_condition)
                points, normals = boundary_points(equation, region, condition, count, sampler, rng)
                tensor = torch.tensor(points, dtype=dtype)
                conditions.append(ConditionPoints(condition, tensor, values=condition.value(tensor).detach(),
                                                  normals=torch.tensor(normals, dtype=dtype)))
                continue
            if region is not None and condition.on in region.over:
                raise InputError(f"{condition.name}: {condition.on} is a coordinate of the region's shape; state "
                                 "conditions on its boundary pieces (BoundaryCondition)")
            axis = equation.inputs.index(condition.on)
            if dim == 1:  # an ODE: a condition is a value at one instant
                if not isinstance(condition, DirichletCondition):
                    raise InputError(f"{condition.name}: a periodic condition needs a second input")
                points = np.zeros((len(condition.at), 1))  # the instants are filled in below
            else:
                points = _in_domain(equation, region, n_condition, sampler, rng)
            if isinstance(condition, DirichletCondition):
                points[:, axis] = np.resize(np.array(condition.at, dtype=float), len(points))
                tensor = torch.tensor(points, dtype=dtype)
                conditions.append(ConditionPoints(condition, tensor, values=condition.value(tensor).detach()))
            else:
                partner = points.copy()
                points[:, axis], partner[:, axis] = lower[axis], upper[axis]
                conditions.append(ConditionPoints(
                    condition, torch.tensor(points, dtype=dtype), partner=torch.tensor(partner, dtype=dtype)
                ))
        on_cpu = TrainingPoints(torch.tensor(interior, dtype=dtype), conditions)
    return on_cpu.to(device)


def _in_domain(equation: Equation, region: Region | None, n: int, sampler: str,
               rng: np.random.Generator) -> np.ndarray:
    """`n` well-spread points in the domain: the box's, or the region's shape times its intervals."""
    lower, upper = domain_box(equation)
    if region is None:
        return lower + (upper - lower) * _unit_samples(len(lower), n, sampler, rng)
    points = np.empty((n, len(equation.inputs)))
    points[:, _columns(equation, region.over)] = region.shape.sample_interior(n, rng)
    _fill_intervals(points, equation, region, sampler, rng)
    return points


def boundary_count(equation: Equation, region: Region | None, condition: BoundaryCondition, n_interior: int,
                   n_condition: int) -> int:
    """Points for a boundary condition: `n_condition`, or more where that many would lie
    sparser on its pieces than the interior points lie inside (a hole's rim over time is a
    surface of the space-time region): the interior's spacing h = (volume / n_interior)^(1/d)
    over the pieces' measure A gives A / h^(d-1), at most `n_interior` (in many dimensions a
    sphere would ask for more points than the ball holds)."""
    if region is None:
        return n_condition  # refused by `boundary_points`
    volume, measure = region.measures(region.pieces_named(condition.on, condition.name))
    dim = len(equation.inputs)
    at_interior_spacing = measure * (n_interior / volume) ** ((dim - 1) / dim)
    return max(n_condition, min(n_interior, math.ceil(at_interior_spacing)))


def boundary_points(equation: Equation, region: Region | None, condition: BoundaryCondition, n: int, sampler: str,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`n` points on the condition's boundary pieces (where its `where` holds), uniform by
    length or area, times the intervals; and the outward normals there."""
    if region is None:
        raise InputError(f"{condition.name}: a boundary condition needs a region (Equation.region); "
                         "on a box, state conditions on faces (DirichletCondition)")
    pieces = region.pieces_named(condition.on, condition.name)
    columns = _columns(equation, region.over)
    kept_points, kept_normals, count = [], [], 0
    for _ in range(_WHERE_TRIES):
        drawn, normals, _ = region.shape.sample_boundary(n, rng, pieces)
        points = np.empty((n, len(equation.inputs)))
        points[:, columns] = drawn
        _fill_intervals(points, equation, region, sampler, rng)
        keep = np.ones(n, dtype=bool) if condition.where is None else np.asarray(condition.where(points), dtype=bool)
        kept_points.append(points[keep])
        kept_normals.append(normals[keep])
        count += int(keep.sum())
        if count >= n:
            break
    if count == 0:
        raise InputError(f"{condition.name}: its `where` holds at none of {_WHERE_TRIES * n} points of its "
                         f"boundary pieces ({', '.join(pieces)})")
    points = np.concatenate(kept_points)
    full = np.zeros_like(points)
    full[:, columns] = np.concatenate(kept_normals)
    take = np.resize(np.arange(len(points)), n)  # too few where `where` is narrow: some repeat
    return points[take], full[take]


_WHERE_TRIES = 20


def _columns(equation: Equation, names: tuple[str, ...]) -> list[int]:
    return [equation.inputs.index(name) for name in names]


def _fill_intervals(points: np.ndarray, equation: Equation, region: Region, sampler: str,
                    rng: np.random.Generator) -> None:
    """Fill the region's interval inputs of `points` with well-spread values."""
    if not region.intervals:
        return
    names = tuple(region.intervals)
    low = np.array([region.intervals[name][0] for name in names], dtype=float)
    high = np.array([region.intervals[name][1] for name in names], dtype=float)
    points[:, _columns(equation, names)] = low + (high - low) * _unit_samples(len(names), len(points), sampler, rng)


def uniform_interior(equation: Equation, n: int, rng: np.random.Generator, dtype: torch.dtype,
                     device: torch.device | str = "cpu") -> torch.Tensor:
    """`n` uniformly random points in the domain (the box, or the region by rejection from its
    bounding box), on `device`."""
    lower, upper = domain_box(equation)
    region = equation.region()
    if region is None:
        return torch.tensor(lower + (upper - lower) * rng.random((n, len(equation.inputs))), dtype=dtype,
                            device=device)
    chosen, count = [], 0
    while count < n:
        points = lower + (upper - lower) * rng.random((max(n, 1024), len(equation.inputs)))
        points = points[region.contains(points, equation.inputs)]
        chosen.append(points)
        count += len(points)
    return torch.tensor(np.concatenate(chosen)[:n], dtype=dtype, device=device)


def rad_choice(residual: torch.Tensor, n: int, rng: np.random.Generator, k: float = 1.0, c: float = 1.0) -> np.ndarray:
    """Indices of `n` of the candidates, drawn without replacement with probability
    p ~ |r|^k / mean(|r|^k) + c: residual-based adaptive distribution (RAD; Wu, Zhu, Tan,
    Kartha, Lu 2023, CMAME 403). `residual` holds one row per candidate."""
    weight = residual.detach().abs().sum(dim=1).double().cpu().numpy() ** k
    mean = weight.mean()
    p = (weight / mean if mean > 0 and np.isfinite(mean) else np.zeros_like(weight)) + c
    return rng.choice(len(p), size=n, replace=False, p=p / p.sum())
