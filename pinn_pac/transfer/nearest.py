"""Warm starts from the nearest member: a method with `warm_start="nearest"` starts each target
from the member (the source or a target trained before it) nearest in coefficients, and takes
the targets nearest first, so that each starts from a neighbour."""

from __future__ import annotations

import math
from typing import Sequence

from equations import Equation

#: "zero": every target starts from the source (no change to it); "nearest": see the module.
WARM_STARTS = ("zero", "nearest")
WARM_START_HELP = ("start each target from the source, or from the nearest member trained before it, "
                   "nearest targets first")


def check_warm_start(warm_start: str) -> None:
    if warm_start not in WARM_STARTS:
        raise ValueError(f"unknown warm start {warm_start!r}; use one of {', '.join(WARM_STARTS)}")


def coefficient_distance(a: Equation, b: Equation, reference: Equation) -> float:
    """Euclidean distance between two family members' coefficients, each coefficient
    divided by the reference's magnitude of it (by 1 where that is 0)."""
    return math.sqrt(sum(
        ((a.coefficients[name] - b.coefficients[name]) / (abs(value) or 1.0)) ** 2
        for name, value in reference.coefficients.items()
    ))


def nearest_member(target: Equation, known: Sequence[Equation], reference: Equation) -> Equation:
    """The member of `known` nearest to `target` (the first of equals)."""
    return min(known, key=lambda member: coefficient_distance(target, member, reference))


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
        return self.options.warm_start == "zero"

    def training_order(self, targets: list[Equation]) -> list[Equation]:
        if self.options.warm_start == "zero":
            return list(targets)
        return nearest_first(targets, [self.context.source, *self.calibrated], self.context.source)

    def nearest_start(self, target: Equation) -> Equation | None:
        """The trained target `target` starts from, or None for the source (also on a tie)."""
        if self.options.warm_start == "zero":
            return None
        source = self.context.source
        nearest = nearest_member(target, [source, *self.calibrated], source)
        return None if nearest is source else nearest
