"""The physics: parameterized equation families with residuals and scipy references.

Register a new family by adding its class to `FAMILIES`.
"""

from __future__ import annotations

from .base import (
    Coefficient, CoefficientError, Condition, DirichletCondition, Equation, ExactForm, PeriodicCondition,
    coefficient_key,
)
from .allen_cahn import AllenCahn
from .burgers import Burgers
from .convection import Convection
from .diffusion import Diffusion
from .helmholtz import Helmholtz
from .odes import LotkaVolterra, Oscillator, VanDerPol
from .reaction import Reaction, ReactionDiffusion

FAMILIES: dict[str, type[Equation]] = {
    cls.name: cls
    for cls in (
        Burgers, Diffusion, Convection, Reaction, ReactionDiffusion, AllenCahn, Helmholtz,
        Oscillator, VanDerPol, LotkaVolterra,
    )
}


class UnknownEquationError(ValueError):
    """No equation family has the requested name."""


def family(name: str) -> type[Equation]:
    """The equation class registered under `name` (underscores read as hyphens)."""
    key = name.strip().lower().replace("_", "-")
    if key not in FAMILIES:
        raise UnknownEquationError(
            f"unknown equation {name!r}; available: {', '.join(sorted(FAMILIES))}"
        )
    return FAMILIES[key]


def create(name: str, **coefficients: float) -> Equation:
    """An equation of family `name` with the given coefficients (defaults for the rest)."""
    return family(name)(**coefficients)


__all__ = [
    "FAMILIES",
    "AllenCahn",
    "Burgers",
    "Convection",
    "Diffusion",
    "Helmholtz",
    "LotkaVolterra",
    "Oscillator",
    "Reaction",
    "ReactionDiffusion",
    "VanDerPol",
    "Coefficient",
    "CoefficientError",
    "Condition",
    "DirichletCondition",
    "PeriodicCondition",
    "Equation",
    "ExactForm",
    "UnknownEquationError",
    "coefficient_key",
    "create",
    "family",
]
