"""A run's equation family: resolved from what the user typed and checked before any work,
or rebuilt from what the run recorded (a built-in by name, a user's file or module by its
path and the sha256 of its source)."""

from __future__ import annotations

from typing import Any

import equations
from equations import Equation, EquationSource

from ..solver.equation_check import check_equation_class

#: The sources that are pinn-pac's own, trusted without the check.
_OWN = (equations.registry.BUILTIN,)


def checked_family(spec: str) -> tuple[type[Equation], EquationSource]:
    """The class `spec` names and its source; a user's class is checked first (see
    `solver.equation_check`)."""
    cls, source = equations.resolve(spec)
    if source.kind not in _OWN:
        check_equation_class(cls, spec)
    return cls, source


def recorded_family(record: dict[str, Any], relocate: str | None = None, allow_changed: bool = False) -> type[Equation]:
    """The family a run's metadata or job names: by its "equation_source" (read from
    `relocate`, file.py:Class, where the file moved; its sha256 checked unless
    `allow_changed`), or for runs saved before sources were recorded, by its name."""
    stored = record.get("equation_source")
    if stored is None:
        return equations.family(relocate or record["equation"])
    source = EquationSource.from_record(stored)
    if relocate is not None:
        source = source.relocated(relocate)
    cls = source.load(allow_changed)
    if source.kind not in _OWN:
        check_equation_class(cls, source.spec)
    return cls


def source_record(equation: Equation) -> dict[str, Any]:
    """What a run records of where `equation`'s family came from."""
    return equations.source_of(type(equation)).as_record()
