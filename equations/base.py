"""The Equation interface: coefficients, domain, conditions, residual and reference.

An equation is data plus physics. It knows its domain box, its initial and boundary
conditions, the residual of its differential operator and a reference solution computed
with scipy. It knows nothing of networks, optimisers or masks.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Callable, ClassVar, Mapping

import numpy as np
import torch
from .errors import InputError


class CoefficientError(InputError):
    """A coefficient is unknown, missing or outside its valid range."""


@dataclass(frozen=True)
class Coefficient:
    """A named coefficient of an equation family with its default and valid open range."""

    name: str
    default: float
    low: float
    high: float
    description: str

    def validate(self, value: float) -> float:
        value = float(value)
        if not math.isfinite(value) or not (self.low < value < self.high):
            raise CoefficientError(
                f"{self.name}={value:g} is outside the valid range "
                f"({self.low:g}, {self.high:g}) for {self.description}"
            )
        return value


@dataclass(frozen=True)
class DirichletCondition:
    """`fields` = value(points) on the faces where input `on` equals one of `at`.

    `fields` name outputs or derivatives ("u", "u_t"); `value` maps (N, n_inputs) points
    to an (N, len(fields)) tensor.
    """

    name: str
    on: str
    at: tuple[float, ...]
    value: Callable[[torch.Tensor], torch.Tensor]
    fields: tuple[str, ...] = ("u",)


@dataclass(frozen=True)
class PeriodicCondition:
    """`fields` agree on the two faces where input `on` is at its lower and upper bound."""

    name: str
    on: str
    fields: tuple[str, ...] = ("u",)


Condition = DirichletCondition | PeriodicCondition
Grid = Mapping[str, np.ndarray]


@dataclass(frozen=True)
class ExactForm:
    """A form of the solution that meets some conditions by construction:
    u = offset(points) + factor(points) * N(points) for any function N (the network).

    `offset` meets the imposed conditions' values and `factor` vanishes where they are
    imposed; both map (N, n_inputs) points to (N, n_outputs) (or (N, 1), broadcast) and
    must be smooth torch functions, since derivatives of u are taken through them.
    `imposes` names the conditions that hold exactly and so leave the loss. `periodic`
    names the inputs in which N itself must be periodic (over the domain's length), for a
    form that imposes a periodic condition: the learner then gives the network a periodic
    embedding of those inputs, and offset and factor must be periodic in them too.
    """

    offset: Callable[[torch.Tensor], torch.Tensor]
    factor: Callable[[torch.Tensor], torch.Tensor]
    imposes: tuple[str, ...]
    periodic: tuple[str, ...] = ()


class Equation(ABC):
    """A member of a parameterized family of differential equations.

    Subclasses set the class attributes and implement `residual`, `conditions` and
    `reference`. Points are (N, len(inputs)) tensors whose columns follow `inputs`.
    """

    name: ClassVar[str]
    #: One line: the equation, its domain and its conditions.
    summary: ClassVar[str]
    inputs: ClassVar[tuple[str, ...]]
    outputs: ClassVar[tuple[str, ...]] = ("u",)
    coefficient_specs: ClassVar[tuple[Coefficient, ...]]
    #: The derivatives the residual needs, named like "u_x", "u_t", "u_xx".
    derivatives: ClassVar[tuple[str, ...]]
    #: Targets that `pinn-pac transfer` calibrates when none are given.
    example_targets: ClassVar[str]

    def __init__(self, **coefficients: float) -> None:
        specs = {spec.name: spec for spec in self.coefficient_specs}
        unknown = sorted(set(coefficients) - set(specs))
        if unknown:
            raise CoefficientError(
                f"{self.name} has no coefficient {', '.join(unknown)}; "
                f"its coefficients are: {', '.join(specs)}"
            )
        self.coefficients: dict[str, float] = {
            name: spec.validate(coefficients.get(name, spec.default))
            for name, spec in specs.items()
        }

    @property
    @abstractmethod
    def domain(self) -> dict[str, tuple[float, float]]:
        """Lower and upper bound of every input, in the order of `inputs`."""

    @abstractmethod
    def conditions(self) -> list[Condition]:
        """Initial and boundary conditions."""

    @abstractmethod
    def residual(self, fields: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Residual of the differential operator.

        `fields` holds the inputs by name ("x", "t"), the outputs ("u") and the
        derivatives listed in `derivatives`, each as an (N, 1) tensor.
        """

    @abstractmethod
    def standard_grid(self) -> dict[str, np.ndarray]:
        """The grid on which errors are reported, one axis per input."""

    def reference(self, grid: Grid) -> np.ndarray:
        """Reference solution on the tensor-product grid, indexed in the order of `inputs`.
        A family may declare none: it still trains, and its errors are unavailable."""
        raise InputError(f"{self.name} declares no reference solution")

    @property
    def has_reference(self) -> bool:
        return type(self).reference is not Equation.reference

    @property
    def residual_scale(self) -> float:
        """A constant the residual is multiplied by in the loss, where its terms are orders
        of magnitude larger than the solution (1 unless a family says otherwise)."""
        return 1.0

    def exact_form(self) -> ExactForm | None:
        """The solution's form with conditions built in, where the family declares one."""
        return None

    def describe(self) -> str:
        """The equation and its coefficients, e.g. 'burgers(nu=0.00318)'."""
        values = ", ".join(f"{k}={v:.6g}" for k, v in self.coefficients.items())
        return f"{self.name}({values})"

    def same_family(self, other: "Equation") -> bool:
        return type(self) is type(other)

    def with_coefficients(self, **changes: float) -> "Equation":
        """A member of the same family with some coefficients changed."""
        return type(self)(**{**self.coefficients, **changes})


def coefficient_key(equation: Equation) -> str:
    """The one key of a coefficient set, in runs, checkpoints and adapters: "nu=0.0063662"."""
    return ",".join(f"{name}={value:.6g}" for name, value in equation.coefficients.items())
