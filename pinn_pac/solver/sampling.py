"""Collocation, initial and boundary points drawn with scipy's quasi-Monte Carlo samplers."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import qmc

from equations import Condition, DirichletCondition, Equation
from equations.errors import InputError

SAMPLERS = ("sobol", "lhs")


@dataclass
class ConditionPoints:
    """Points on a condition's faces, and what the fields must equal there: fixed
    `values` (Dirichlet) or the fields at the matching `partner` points (periodic)."""

    condition: Condition
    points: torch.Tensor
    values: torch.Tensor | None = None
    partner: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> "ConditionPoints":
        """These points (and values or partners) on `device`."""
        moved = (None if t is None else t.to(device) for t in (self.points, self.values, self.partner))
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
    """Interior points in the domain box and `n_condition` points per condition, on `device`.

    The same seed gives the same points, on any device. Condition points are spread evenly
    over the condition's faces (for example both ends of the x interval).
    """
    if n_interior < 1 or n_condition < 1:
        raise InputError("n_interior and n_condition must be positive")
    rng = np.random.default_rng(seed)
    lower, upper = domain_box(equation)
    dim = len(equation.inputs)
    interior = lower + (upper - lower) * _unit_samples(dim, n_interior, sampler, rng)

    conditions = []
    with torch.device("cpu"):  # made on the CPU and moved: the same values on every device
        for condition in equation.conditions():
            axis = equation.inputs.index(condition.on)
            if dim == 1:  # an ODE: a condition is a value at one instant
                if not isinstance(condition, DirichletCondition):
                    raise InputError(f"{condition.name}: a periodic condition needs a second input")
                points = np.zeros((len(condition.at), 1))  # the instants are filled in below
            else:
                points = lower + (upper - lower) * _unit_samples(dim, n_condition, sampler, rng)
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


def uniform_interior(equation: Equation, n: int, rng: np.random.Generator, dtype: torch.dtype,
                     device: torch.device | str = "cpu") -> torch.Tensor:
    """`n` uniformly random points in the domain box, on `device`."""
    lower, upper = domain_box(equation)
    return torch.tensor(lower + (upper - lower) * rng.random((n, len(equation.inputs))), dtype=dtype, device=device)


def rad_choice(residual: torch.Tensor, n: int, rng: np.random.Generator, k: float = 1.0, c: float = 1.0) -> np.ndarray:
    """Indices of `n` of the candidates, drawn without replacement with probability
    p ~ |r|^k / mean(|r|^k) + c: residual-based adaptive distribution (RAD; Wu, Zhu, Tan,
    Kartha, Lu 2023, CMAME 403). `residual` holds one row per candidate."""
    weight = residual.detach().abs().sum(dim=1).double().cpu().numpy() ** k
    mean = weight.mean()
    p = (weight / mean if mean > 0 and np.isfinite(mean) else np.zeros_like(weight)) + c
    return rng.choice(len(p), size=n, replace=False, p=p / p.sum())
