"""The Equation interface: coefficients, domain, conditions, residual and reference.

An equation is data plus physics. It knows its domain (a box, or a region: a shape from
`geometry` times intervals), its initial and boundary conditions, the residual of its
differential operator and a reference solution computed with scipy. It knows nothing of
networks, optimisers or masks.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, ClassVar, Mapping

import numpy as np
import torch
from .errors import InputError

if TYPE_CHECKING:
    from .geometry import Shape


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


BOUNDARY_KINDS = ("dirichlet", "neumann", "robin")


@dataclass(frozen=True)
class BoundaryCondition:
    """A condition on a region's boundary (see `Region`), on the pieces named `on`: every piece
    where empty; a name picks the piece of that name or every piece under it ("plate" picks
    "plate.left" and "plate.top"), and `where` (a function of (N, n_inputs) numpy points giving
    (N,) bools) narrows it further. With n the outward unit normal of the region's shape:

    * "dirichlet": each of `fields` equals its column of value(points);
    * "neumann": d field / dn equals it;
    * "robin": d field / dn + alpha * field equals it.

    `value` maps (N, n_inputs) points to an (N, len(fields)) tensor; `fields` name outputs.
    """

    name: str
    value: Callable[[torch.Tensor], torch.Tensor]
    on: tuple[str, ...] = ()
    kind: str = "dirichlet"
    alpha: float = 0.0
    fields: tuple[str, ...] = ("u",)
    where: Callable[[np.ndarray], np.ndarray] | None = None

    def __post_init__(self) -> None:
        if self.kind not in BOUNDARY_KINDS:
            raise InputError(f"{self.name}: kind must be one of {', '.join(BOUNDARY_KINDS)}, got {self.kind!r}")
        if not math.isfinite(self.alpha):
            raise InputError(f"{self.name}: alpha must be finite, got {self.alpha}")


Condition = DirichletCondition | PeriodicCondition | BoundaryCondition


@dataclass(frozen=True)
class Region:
    """A domain other than a box: `shape` (see `geometry`) over the inputs `over`, times an
    interval for each other input, e.g. Region(Rectangle(...) - Disk(...), ("x", "y"),
    {"t": (0.0, 1.0)})."""

    shape: Shape
    over: tuple[str, ...]
    intervals: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    def bounds(self) -> dict[str, tuple[float, float]]:
        """The bounding box: a (low, high) per input, the shape's inputs first."""
        lower, upper = self.shape.bounds()
        box = {name: (float(low), float(high)) for name, low, high in zip(self.over, lower, upper)}
        return {**box, **{name: (float(low), float(high)) for name, (low, high) in self.intervals.items()}}

    def pieces_named(self, on: tuple[str, ...], condition: str) -> tuple[str, ...]:
        """The shape's boundary pieces a condition `on` those names holds on (all for none): a
        name picks its piece, or every piece under it ("plate" picks "plate.left"). A name that
        picks nothing is refused in one line, naming the pieces there are."""
        names = [piece.name for piece in self.shape.pieces()]
        if not on:
            return tuple(names)
        chosen = []
        for wanted in on:
            found = [name for name in names if name == wanted or name.startswith(wanted + ".")]
            if not found:
                raise InputError(f"{condition}: the region has no boundary piece {wanted!r}; its pieces are "
                                 f"{', '.join(names)}")
            chosen += found
        return tuple(dict.fromkeys(chosen))

    def measures(self, pieces: tuple[str, ...]) -> tuple[float, float]:
        """The region's volume and the boundary measure of `pieces`, each times the intervals'
        lengths (over space and time: a hole's rim over [0, T] is a surface of 2 pi r T)."""
        lengths = math.prod(high - low for low, high in self.intervals.values())
        return self.shape.volume() * lengths, self.shape.boundary_measure(pieces) * lengths

    def contains(self, points: np.ndarray, inputs: tuple[str, ...]) -> np.ndarray:
        """(N,) bools: which of the (N, len(inputs)) points lie in the region (boundary included)."""
        inside = self.shape.contains(points[:, [inputs.index(name) for name in self.over]])
        for name, (low, high) in self.intervals.items():
            column = points[:, inputs.index(name)]
            inside &= (column >= low) & (column <= high)
        return inside
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
    def domain(self) -> dict[str, tuple[float, float]]:
        """Lower and upper bound of every input, in the order of `inputs`: a family on a box
        gives them; one on a region (see `region`) has its bounding box here."""
        region = self.region()
        if region is None:
            raise InputError(f"{self.name} declares neither a domain (a bound per input) nor a region")
        bounds = region.bounds()
        return {name: bounds[name] for name in self.inputs if name in bounds}

    def region(self) -> Region | None:
        """The domain where it is not a box: a shape over some inputs times intervals over the
        others (None: the box `domain`)."""
        return None

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
        A family may declare none: it still trains, and its errors are unavailable. A family
        on a region may give NaN at grid points outside it, or declare `reference_at` instead."""
        raise InputError(f"{self.name} declares no reference solution")

    def reference_at(self, points: np.ndarray) -> np.ndarray:
        """Reference solution at (N, n_inputs) points, (N,) or (N, n_outputs): an alternative
        to `reference` for a solution known as a function of points (analytic, or a
        finite-element solution interpolated)."""
        raise InputError(f"{self.name} declares no reference solution")

    def reference_values(self) -> tuple[np.ndarray, np.ndarray]:
        """The reference as values at points: (N, n_inputs) points in the domain and their (N,)
        or (N, n_outputs) values, e.g. a finite-element solution read from a file. Errors are
        then relative L2 over these points (not the standard grid), and the solution figure is
        drawn over them (triangulated)."""
        raise InputError(f"{self.name} declares no reference solution")

    @property
    def has_reference(self) -> bool:
        return self.reference_by is not None

    @property
    def reference_by(self) -> str | None:
        """How the family gives its reference: "points" (`reference_at`), "values"
        (`reference_values`), "grid" (`reference`) or None."""
        family = type(self)
        if family.reference_at is not Equation.reference_at:
            return "points"
        if family.reference_values is not Equation.reference_values:
            return "values"
        return "grid" if family.reference is not Equation.reference else None

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
