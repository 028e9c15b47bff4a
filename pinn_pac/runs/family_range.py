"""A trained family over its whole range: coefficients spread between the members, each
answered from the family (`family_answer`) and measured against its reference, beside the
members' own errors; `pinn-pac evaluate RUN --family` draws it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from equations.errors import InputError

from .assemble import evaluator_for
from .coefficients import varying_coefficients
from .family_answer import FAMILY_INDICATOR, answer_from_family
from .plots import coefficient_axes, save_figure
from .reduced_basis import NetworkFields
from .reload import LoadedRun, saved_settings

#: Coefficients answered between the members' least and greatest value.
RANGE_ANSWERS = 24


@dataclass
class RangePoint:
    """One coefficient's answer (or member): relative L2 against the reference (None without
    one), the indicator's estimate (None for a member) and the answer's seconds."""

    coefficient: float
    rel_l2: float | None
    indicator: float | None
    seconds: float


def varying_coefficient(loaded: LoadedRun) -> str:
    """The one coefficient the run's members differ in; a run without one is refused."""
    members = [equation for _, equation, _, _ in loaded.models]
    varying = varying_coefficients(members)
    if len(members) < 3 or len(varying) != 1:
        raise InputError(f"--family needs a transfer run of three or more members that differ in one coefficient; "
                         f"this one has {len(members)} members differing in {len(varying)}")
    return varying[0]


def spread(low: float, high: float, count: int) -> list[float]:
    """`count` values strictly between low and high: evenly in the logarithm where the range
    spans a factor of 10 or more of positive values, else evenly."""
    if low > 0 and high / low >= 10 * (1 - 1e-9):
        return list(np.geomspace(low, high, count + 2)[1:-1])
    return list(np.linspace(low, high, count + 2)[1:-1])


def family_range(loaded: LoadedRun, count: int = RANGE_ANSWERS) -> tuple[str, list[RangePoint], list[RangePoint]]:
    """The varying coefficient's name, the members measured, and `count` answers between them."""
    name = varying_coefficient(loaded)
    settings = saved_settings(loaded.metadata)
    members = [(equation, network) for _, equation, network, _ in loaded.models]
    measured = []
    for equation, network in members:
        measured.append(RangePoint(equation.coefficients[name], evaluator_for(equation, settings)(network).rel_l2,
                                   None, 0.0))
    values = [m.coefficients[name] for m, _ in members]
    answers, kept = [], NetworkFields()
    for value in spread(min(values), max(values), count):
        equation = members[0][0].with_coefficients(**{name: float(value)})
        answer = answer_from_family(equation, members, settings, kept=kept,
                                    learned=loaded.metadata.get(FAMILY_INDICATOR))
        evaluator = evaluator_for(equation, settings)
        error = evaluator(answer.network).rel_l2 if evaluator.reference is not None else None
        answers.append(RangePoint(float(value), error, answer.indicator, answer.seconds))
    return name, sorted(measured, key=lambda p: p.coefficient), answers


def plot_family_range(name: str, members: list[RangePoint], answers: list[RangePoint], path: Path) -> None:
    """The members' errors (dots), the answers' errors and their estimates (lines) against the
    coefficient, and each answer's seconds."""
    figure = Figure(figsize=(12, 4))
    error_ax, seconds_ax = figure.subplots(1, 2)
    x = [p.coefficient for p in answers]
    if any(p.rel_l2 is not None for p in answers):
        error_ax.plot(x, [math.nan if p.rel_l2 is None else p.rel_l2 for p in answers], "-", label="family answer")
    error_ax.plot(x, [p.indicator for p in answers], "--", label="its estimate (no reference)")
    error_ax.plot([p.coefficient for p in members], [math.nan if p.rel_l2 is None else p.rel_l2 for p in members],
                  "o", ms=5, color="black", label="trained member")
    seconds_ax.plot(x, [p.seconds for p in answers], "o-", ms=3, label="family answer")
    coefficient_axes((error_ax, seconds_ax), name, [p.coefficient for p in members])
    error_ax.set_yscale("log")
    error_ax.set(ylabel="relative L2 error", title="the family over its range")
    seconds_ax.set(ylabel="seconds", title="each answer's seconds")
    save_figure(figure, path)
