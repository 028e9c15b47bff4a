"""Unknown coefficients as trainable parameters, for inverse problems.

Each unknown is a raw parameter z of order one mapped into the coefficient's declared open
range: value = low + (high - low) sigmoid(z) on a bounded range, low + (start - low) e^z on
one bounded below (so a viscosity stays positive and moves by factors), its mirror on one
bounded above, start + scale z on the whole line. z starts where the value is the starting
guess. An equation reads the unknowns live: `with_unknowns` gives a copy whose coefficients
return the present values as tensors, so the residual is differentiable in them.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Iterator

import numpy as np
import torch
from torch import nn

from equations import BoundaryCondition, Coefficient, DirichletCondition, Equation
from equations.errors import InputError

from .sampling import uniform_interior


class UnknownError(InputError):
    """An unknown that is not a coefficient of the family, or one that cannot be identified."""


def check_unknowns(equation: Equation, names: list[str]) -> None:
    """Refuse no unknowns, repeated ones, or a name that is not a coefficient of `equation`."""
    coefficients = [spec.name for spec in equation.coefficient_specs]
    if not names:
        raise UnknownError(f"name at least one unknown; {equation.name}'s coefficients are {', '.join(coefficients)}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise UnknownError(f"unknown {', '.join(repeated)} given twice")
    foreign = [n for n in names if n not in coefficients]
    if foreign:
        raise UnknownError(f"{', '.join(foreign)}: not a coefficient of {equation.name}; "
                           f"its coefficients are {', '.join(coefficients)}")


class Unknowns(nn.Module):
    """The unknown coefficients of `equation` (named in `names`), starting at its values."""

    def __init__(self, equation: Equation, names: list[str], dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        check_unknowns(equation, names)
        specs = {spec.name: spec for spec in equation.coefficient_specs}
        self.names = list(names)
        self.specs: dict[str, Coefficient] = {name: specs[name] for name in names}
        self.start = {name: float(equation.coefficients[name]) for name in names}
        self.raw = nn.ParameterList(
            nn.Parameter(torch.tensor(self._raw_of(name, self.start[name]), dtype=dtype)) for name in names)

    def _raw_of(self, name: str, value: float) -> float:
        spec, start = self.specs[name], self.start[name]
        low, high = spec.low, spec.high
        if math.isfinite(low) and math.isfinite(high):
            share = (value - low) / (high - low)
            return math.log(share / (1 - share))
        if math.isfinite(low):
            return math.log((value - low) / (start - low))
        if math.isfinite(high):
            return math.log((high - value) / (high - start))
        return (value - start) / max(abs(start), 1.0)

    def value(self, name: str) -> torch.Tensor:
        """The unknown's present value, a 0-dim tensor that carries gradients to its raw parameter."""
        return _mapped(self.raw[self.names.index(name)], self.specs[name], self.start[name])

    def values(self) -> dict[str, float]:
        """Every unknown's present value, as numbers, strictly inside its range: one whose map
        has reached a bound (sigmoid 1 in float64 at z ~ 37, in float32 at ~ 17) is held at
        the nearest number inside (see `at_bound`)."""
        return {name: _inside(float(self.value(name).detach()), self.specs[name]) for name in self.names}

    def at_bound(self) -> list[str]:
        """The unknowns whose mapped value has reached a bound of their range."""
        return [name for name in self.names
                if not self.specs[name].low < float(self.value(name).detach()) < self.specs[name].high]

    def derivative(self, name: str) -> float:
        """d value / d raw at the present value: how a raw standard error becomes the value's."""
        z = self.raw[self.names.index(name)].detach().clone().requires_grad_(True)
        with torch.enable_grad():
            (gradient,) = torch.autograd.grad(_mapped(z, self.specs[name], self.start[name]), z)
        return float(gradient)

    def set_values(self, values: Mapping[str, float]) -> None:
        """Move the unknowns to `values` (inside their ranges)."""
        with torch.no_grad():
            for name, value in values.items():
                self.raw[self.names.index(name)].fill_(self._raw_of(name, self.specs[name].validate(value)))


def _mapped(z: torch.Tensor, spec: Coefficient, start: float) -> torch.Tensor:
    low, high = spec.low, spec.high
    if math.isfinite(low) and math.isfinite(high):
        return low + (high - low) * torch.sigmoid(z)
    if math.isfinite(low):
        return low + (start - low) * torch.exp(z)
    if math.isfinite(high):
        return high - (high - start) * torch.exp(z)
    return start + max(abs(start), 1.0) * z


def _inside(value: float, spec: Coefficient) -> float:
    """`value` held strictly inside `spec`'s open range."""
    return min(max(value, math.nextafter(spec.low, math.inf)), math.nextafter(spec.high, -math.inf))


class LiveCoefficients(Mapping):
    """An equation's coefficients with the unknowns' present values (tensors) in place of theirs."""

    def __init__(self, known: Mapping[str, float], unknowns: Unknowns) -> None:
        self.known, self.unknowns = dict(known), unknowns

    def __getitem__(self, name: str) -> float | torch.Tensor:
        return self.unknowns.value(name) if name in self.unknowns.names else self.known[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.known)

    def __len__(self) -> int:
        return len(self.known)


def with_unknowns(equation: Equation, unknowns: Unknowns) -> Equation:
    """A copy of `equation` whose residual reads the unknowns' present values."""
    live = copy.copy(equation)
    live.coefficients = LiveCoefficients(equation.coefficients, unknowns)
    return live


def check_residual_only(equation: Equation, names: list[str]) -> None:
    """Refuse an unknown that `equation`'s conditions or exact form depend on: identification
    reads the unknowns through the residual only (conditions are sampled at the start)."""
    points = uniform_interior(equation, 64, np.random.default_rng(0), torch.float64, "cpu")
    specs = {spec.name: spec for spec in equation.coefficient_specs}
    for name in names:
        spec, value = specs[name], equation.coefficients[name]
        moved = value * 1.1 if value else 0.1
        if not spec.low < moved < spec.high:
            moved = (value + (spec.high if math.isfinite(spec.high) else spec.low)) / 2
        other = equation.with_coefficients(**{name: moved})
        for before, after in zip(_fixed_parts(equation, points), _fixed_parts(other, points)):
            if not torch.equal(before[1], after[1]):
                raise UnknownError(f"{equation.name}'s {before[0]} depends on {name}; identify reads "
                                   "unknowns through the residual only, so it cannot be unknown")


def _fixed_parts(equation: Equation, points: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    """What training takes from an equation once: its conditions' values, region and exact form at `points`."""
    parts = [(f"condition {c.name!r}", c.value(points)) for c in equation.conditions()
             if isinstance(c, (DirichletCondition, BoundaryCondition))]
    region = equation.region()
    if region is not None:
        columns = [equation.inputs.index(name) for name in region.over]
        parts.append(("region", region.shape.signed(points[:, columns])))
    form = equation.exact_form()
    if form is not None:
        parts += [("exact form", form.offset(points)), ("exact form", form.factor(points))]
    return parts
