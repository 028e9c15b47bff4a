"""The physics: parameterized equation families with residuals and scipy references.

The built-in families are `FAMILIES`. A user's family comes from a file or module
("path/to/file.py:ClassName", "package.module:ClassName"), `register(cls)`, or an installed
package's entry point in the group "pinn_pac.equations" (see `registry`).
"""

from __future__ import annotations

from .base import (
    BoundaryCondition, Coefficient, CoefficientError, Condition, DirichletCondition, Equation, ExactForm,
    PeriodicCondition, Region, coefficient_key,
)
from .geometry import Ball, Box, Disk, GeometryError, Interval, Polygon, Rectangle
from .allen_cahn import AllenCahn
from .burgers import Burgers
from .convection import Convection
from .diffusion import Diffusion
from .helmholtz import Helmholtz
from .odes import LotkaVolterra, Oscillator, VanDerPol
from .reaction import Reaction, ReactionDiffusion
from .registry import (
    ENTRY_POINT_GROUP, EquationSource, UnknownEquationError, family, plugins, register, resolve, set_builtins,
    source_of,
)

FAMILIES: dict[str, type[Equation]] = {
    cls.name: cls
    for cls in (
        Burgers, Diffusion, Convection, Reaction, ReactionDiffusion, AllenCahn, Helmholtz,
        Oscillator, VanDerPol, LotkaVolterra,
    )
}


set_builtins(FAMILIES)


def create(spec: str, **coefficients: float) -> Equation:
    """An equation of the family `spec` names (see `registry`) with the given coefficients
    (defaults for the rest)."""
    return family(spec)(**coefficients)


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
    "BoundaryCondition",
    "Ball",
    "Box",
    "Disk",
    "GeometryError",
    "Interval",
    "Polygon",
    "Rectangle",
    "Region",
    "Coefficient",
    "CoefficientError",
    "Condition",
    "DirichletCondition",
    "PeriodicCondition",
    "Equation",
    "ExactForm",
    "ENTRY_POINT_GROUP",
    "EquationSource",
    "UnknownEquationError",
    "plugins",
    "register",
    "resolve",
    "source_of",
    "coefficient_key",
    "create",
    "family",
]
