"""Warm starts from the nearest member: a method with `warm_start="nearest"` starts each target
from the member (the source or a target trained before it) nearest in coefficients, and takes
the targets nearest first, so that each starts from a neighbour. `"auto"` does so among the
members its process holds: in one process that is `"nearest"`; a target sent to a worker
(which holds only the source) starts from the source, so targets may train in parallel.
`"continuation"` (for the methods that train every weight) goes on as numerical continuation
in the coefficients does: the start is predicted from the two nearest members (`secant_step`),
and the quasi-Newton matrix is the one the nearest member's training ended with."""

from __future__ import annotations

import math
from typing import Callable, Sequence

from equations import Equation
from equations.errors import InputError

#: "zero": every target starts from the source (no change to it); "nearest", "auto": see the module.
WARM_STARTS = ("auto", "zero", "nearest")
#: The warm starts of the methods that train every weight: these and "continuation".
CONTINUATION_STARTS = (*WARM_STARTS, "continuation")
WARM_START_HELP = ("start each target from the source (zero), or from the nearest member trained before it, "
                   "nearest targets first (nearest; auto: the same, except that targets sent to workers start "
                   "from the source)")
CONTINUATION_HELP = (WARM_START_HELP + "; continuation (finetune, l2sp): from the two nearest members' line "
                     "and the nearest member's quasi-Newton matrix")
#: How far past the nearest member a secant start may reach, in units of the two members' spacing.
SECANT_REACH = 1.0


def check_warm_start(warm_start: str, allowed: tuple[str, ...] = WARM_STARTS) -> None:
    if warm_start in allowed:
        return
    if warm_start in CONTINUATION_STARTS:
        raise InputError(f"warm start {warm_start!r} is for the methods that train every weight (finetune, l2sp)")
    raise InputError(f"unknown warm start {warm_start!r}; use one of {', '.join(allowed)}")


def coefficient_distance(a: Equation, b: Equation, reference: Equation) -> float:
    """Euclidean distance between two family members' coefficients, each coefficient
    divided by the reference's magnitude of it (by 1 where that is 0)."""
    return math.sqrt(sum(
        ((a.coefficients[name] - b.coefficients[name]) / (abs(value) or 1.0)) ** 2
        for name, value in reference.coefficients.items()
    ))


def _nearness(target: Equation, reference: Equation) -> Callable[[Equation], tuple]:
    """The sort key of members by distance to `target`; among equals `reference` (the source)
    first, then by coefficient values, so that no choice depends on the members' order (a
    resumed run takes up its trained targets in the order the job lists them)."""
    return lambda member: (coefficient_distance(target, member, reference),
                           member.coefficients != reference.coefficients,
                           [member.coefficients[name] for name in reference.coefficients])


def nearest_member(target: Equation, known: Sequence[Equation], reference: Equation) -> Equation:
    """The member of `known` nearest to `target` (see `_nearness` for equals)."""
    return min(known, key=_nearness(target, reference))


def two_nearest(target: Equation, known: Sequence[Equation], reference: Equation) -> tuple[Equation, Equation]:
    """The members of `known` (two or more) nearest and next nearest to `target`."""
    ranked = sorted(known, key=_nearness(target, reference))
    return ranked[0], ranked[1]


def secant_step(target: Equation, nearest: Equation, other: Equation, reference: Equation) -> float:
    """t of the secant start w(nearest) + t (w(nearest) - w(other)): `target` projected on
    the line through the two members' coefficients (scaled as in `coefficient_distance`),
    held within `SECANT_REACH` spacings of the nearest."""
    def scaled(member: Equation, name: str) -> float:
        return member.coefficients[name] / (abs(reference.coefficients[name]) or 1.0)

    names = list(reference.coefficients)
    spacing = [scaled(nearest, n) - scaled(other, n) for n in names]
    offset = [scaled(target, n) - scaled(nearest, n) for n in names]
    length = sum(d * d for d in spacing)
    if length == 0.0:
        return 0.0
    t = sum(o * d for o, d in zip(offset, spacing)) / length
    return max(-SECANT_REACH, min(SECANT_REACH, t))


def nearest_first(targets: Sequence[Equation], known: Sequence[Equation], reference: Equation) -> list[Equation]:
    """`targets` in the order that trains each next to its nearest member: at every step the
    target nearest to any of `known` and the targets ordered before it (ties keep the order given)."""
    known, waiting, order = list(known), list(targets), []
    while waiting:
        following = min(waiting, key=lambda target: coefficient_distance(
            target, nearest_member(target, known, reference), reference))
        waiting.remove(following)
        known.append(following)
        order.append(following)
    return order


class NearestStart:
    """What a `warm_start` option means for a transfer method: mixed in before `TransferMethod`
    by a method whose options have `warm_start` and which lists the targets it has trained (or
    taken up from a store), in order, in `self.calibrated`."""

    @property
    def targets_independent(self) -> bool:
        """True for "zero", and for "auto", whose targets in other processes start from the source."""
        return self.options.warm_start in ("zero", "auto")

    def known_members(self) -> list[Equation]:
        """The source and every target trained (or taken up) so far."""
        return [self.context.source, *self.calibrated]

    def training_order(self, targets: list[Equation]) -> list[Equation]:
        if self.options.warm_start == "zero":
            return list(targets)
        return nearest_first(targets, self.known_members(), self.context.source)

    def within_reach(self, target: Equation) -> bool:
        """True where a warm start begins `target` at a member no farther from it than the
        farthest calibrated member lies from the source: a step the family has already taken."""
        if self.options.warm_start == "zero" or not self.calibrated:
            return False
        source = self.context.source
        reach = max(coefficient_distance(member, source, source) for member in self.calibrated)
        start = nearest_member(target, self.known_members(), source)
        return coefficient_distance(target, start, source) <= reach

    def nearest_start(self, target: Equation) -> Equation | None:
        """The trained target `target` starts from, or None for the source (also on a tie)."""
        if self.options.warm_start == "zero":
            return None
        source = self.context.source
        nearest = nearest_member(target, self.known_members(), source)
        return None if nearest is source else nearest
