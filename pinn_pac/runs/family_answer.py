"""Any coefficient of a trained family answered without a training run: a reduced basis.

The answer at a new member is a combination of functions the trained members give, put
through the new member's own posing (u = g + d N: its exact conditions hold for any
combination), weighed to minimise the new member's physics loss on 4,000 collocation points
(Levenberg-Marquardt; the idea of GPT-PINN, Chen & Koohy 2024, over a family's PINNs). First
the members' networks themselves, N = sum a_i N_i, from the secant of the two nearest; then,
from there, the last hidden features of the `FEATURED_MEMBERS` nearest (each of their last
layers chosen anew, the others whole) and the features of the hidden layer before the last of
the `DEEP_FEATURED_MEMBERS` nearest: measured, the last features take a diffusion family's
worst answer from 1e-3 to 1e-4 where four members' solutions alone cannot follow three decaying
modes, and the deeper ones to 4e-5 (benchmarks/family_answer.py). The combination and its
minimisation live in `reduced_basis`: a fraction of a second.

The error indicator needs no reference. An answer's error follows the root of its loss, the
residual, by a ratio that depends on the equation and on where in the family it is; the ratio is
learned there: each of the few members nearest to the new one is answered from the others and
compared with itself (leave one out), and the largest ratio times the new answer's root loss is
the estimate. Those ratios belong to the family, not to the new member: a transfer run learns
them once when it saves (`learn_indicator`, kept in its checkpoint), and an answer takes them
from there, so that it fits one reduced basis, its own. With fewer than three members (nothing to
leave out) it is the distance between the answer and the secant of the two nearest members. How
it tracks the true error is measured in benchmarks/family_answer.py.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from equations import Equation, coefficient_key
from equations.errors import InputError

from ..solver.posing import Posing
from ..transfer.nearest import coefficient_distance, secant_step, two_nearest
from .assemble import physics_loss
from .config import Settings
from .reduced_basis import AffineFields, CombinedNetwork, MemberBasis, NetworkFields, levenberg_marquardt

#: Interior collocation points of the answer's loss (drawn as the run draws its own).
ANSWER_POINTS = 4000
#: The members nearest a new one whose last hidden features join the basis (the others join
#: whole): more add unknowns that fit the residual's points rather than the solution.
FEATURED_MEMBERS = 4
#: The members nearest a new one whose features of the hidden layer before the last join too.
DEEP_FEATURED_MEMBERS = 2
#: Where a checkpoint keeps what the indicator learned of its family (`learn_indicator`).
FAMILY_INDICATOR = "family_indicator"
#: Members near a new one that the indicator answers from the others, to learn how the error
#: follows the residual there.
CHECKED_MEMBERS = 2


@dataclass
class FamilyAnswer:
    """A new member answered from the family: its network, how it was weighed, how good."""

    equation: Equation
    network: CombinedNetwork
    members: list[Equation]
    #: The reduced basis's loss, and the start's (the two nearest members' secant).
    loss: float
    start_loss: float
    #: Estimated relative L2 error, with no reference (see the module).
    indicator: float
    seconds: float

def check_within(equation: Equation, members: list[Equation]) -> None:
    """Refuse a coefficient outside the members' range (each coefficient between its least and
    greatest value among the members): the family answers inside what it was trained on."""
    for name, value in equation.coefficients.items():
        values = [m.coefficients[name] for m in members]
        low, high = min(values), max(values)
        if not low <= value <= high:
            held = f"{low:.6g}" if low == high else f"{low:.6g} to {high:.6g}"
            raise InputError(f"{name}={value:.6g} is outside the family's members ({name} {held}); "
                             f"train a member there: pinn-pac transfer --from RUN --targets {name}={value:.6g}")


@dataclass
class _Fit:
    """The reduced basis fitted at one member: its weights, losses and solution at its points."""

    network: CombinedNetwork
    loss: float
    start_loss: float
    #: The answer and the secant start at `interior`, the fit's collocation points.
    solution: torch.Tensor
    secant: torch.Tensor
    interior: torch.Tensor


def _fit(equation: Equation, members: list[tuple[Equation, nn.Module]], settings: Settings, points: int,
         kept: NetworkFields) -> _Fit:
    """The combination that minimises `equation`'s physics loss: first of `members`' networks,
    from the secant of the two nearest members; then, from there, of their last hidden features
    (every member's last layer chosen anew at once), which is the answer (see the module).
    `kept` holds (and is given) the members' own fields at the loss's points."""
    known = [m for m, _ in members]
    eager = replace(settings, derivative_method="forward", causal=0.0, balance=False, rad_every=0)  # fixed points
    loss = physics_loss(equation, eager, n_interior=points)
    affine = AffineFields(loss, [MemberBasis(network, layers=0) for _, network in members], kept)
    nearest, other = two_nearest(equation, known, known[0])
    t = secant_step(equation, nearest, other, known[0])
    start = affine.values.new_zeros(len(members))
    start[known.index(nearest)], start[known.index(other)] = 1 + t, -t
    weights = levenberg_marquardt(affine, start)

    nearest_first = _nearest_first(equation, known)
    bases = [MemberBasis(network, layers=_feature_layers(nearest_first.index(k)))
             for k, (_, network) in enumerate(members)]
    featured = AffineFields(loss, bases, kept)
    mapped = torch.cat([basis.weights_of(a) for basis, a in zip(bases, weights)])
    feature_weights = levenberg_marquardt(featured, mapped)
    parts = feature_weights.detach().split([len(basis.functions) for basis in bases])
    answer = CombinedNetwork([basis.network_of(w) for basis, w in zip(bases, parts)], weights.new_ones(len(bases)))
    return _Fit(answer, float(featured.rows(feature_weights).square().sum()),
                float(affine.rows(start).square().sum()), featured.solution(feature_weights),
                affine.solution(start), loss.points.interior)


def _feature_layers(rank: int) -> int:
    """How many of its last hidden layers give features for the member `rank`-th nearest."""
    return 2 if rank < DEEP_FEATURED_MEMBERS else 1 if rank < FEATURED_MEMBERS else 0


def _nearest_first(equation: Equation, known: list[Equation]) -> list[int]:
    """The indices of `known` (the source first) from the nearest to `equation` in coefficients."""
    return sorted(range(len(known)), key=lambda k: coefficient_distance(equation, known[k], known[0]))


def _relative_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(b).clamp_min(1e-300))


def _member_ratio(k: int, members: list[tuple[Equation, nn.Module]], settings: Settings, points: int,
                  kept: NetworkFields) -> float | None:
    """How the error of member `k` answered from the others follows the root of that answer's
    loss (None where it lies outside the others' range: they cannot answer it)."""
    others = members[:k] + members[k + 1:]
    member, network = members[k]
    try:
        check_within(member, [m for m, _ in others])
    except InputError:
        return None
    fit = _fit(member, others, settings, points, kept)
    with torch.no_grad():
        itself = Posing(member, settings.posing).predict(network, fit.interior)
    return _relative_distance(fit.solution, itself) / max(math.sqrt(fit.loss), 1e-300)


def learn_indicator(members: list[tuple[Equation, nn.Module]], settings: Settings,
                    points: int = ANSWER_POINTS) -> dict[str, Any] | None:
    """What the error indicator learns of a family once (see the module): each member's ratio
    of error to root loss, answered from the others, beside the members and points it holds for
    (a checkpoint keeps it; `answer_from_family` takes it where they are the same). None for
    fewer than three members: none can be answered from the others."""
    if len(members) < 3:
        return None
    kept = NetworkFields()
    return {"members": [coefficient_key(m) for m, _ in members], "points": points,
            "ratios": [_member_ratio(k, members, settings, points, kept) for k in range(len(members))]}


def _error_per_residual(equation: Equation, members: list[tuple[Equation, nn.Module]], settings: Settings,
                        points: int, kept: NetworkFields, learned: dict[str, Any] | None) -> float | None:
    """How the error of a reduced-basis answer follows the root of its loss near `equation`:
    the largest ratio over the `CHECKED_MEMBERS` members nearest to it that lie inside the
    others' range (None where none does), taken from `learned` where it was learned of these
    members on as many points."""
    known = [m for m, _ in members]
    same = (learned is not None and learned.get("points") == points
            and learned.get("members") == [coefficient_key(m) for m in known])
    ratios = []
    for k in _nearest_first(equation, known):
        ratio = learned["ratios"][k] if same else _member_ratio(k, members, settings, points, kept)
        if ratio is not None:
            ratios.append(ratio)
        if len(ratios) == CHECKED_MEMBERS:
            break
    return max(ratios) if ratios else None


def family_network(equation: Equation, members: list[tuple[Equation, nn.Module]], settings: Settings,
                   kept: NetworkFields | None = None, points: int = ANSWER_POINTS) -> CombinedNetwork:
    """The reduced-basis answer's network alone (no error indicator); `kept` carries the
    members' own fields from one call to the next (a search over the family)."""
    check_within(equation, [m for m, _ in members])
    return _fit(equation, members, settings, points, kept or NetworkFields()).network


def answer_from_family(equation: Equation, members: list[tuple[Equation, nn.Module]], settings: Settings,
                       points: int = ANSWER_POINTS, kept: NetworkFields | None = None,
                       learned: dict[str, Any] | None = None) -> FamilyAnswer:
    """`equation` (a new member of the family) answered by the reduced basis of `members`
    (each a trained member and its network, two or more, the source first), trained with
    `settings`; its indicator as the module says, from `learned` (`learn_indicator`'s) where it
    holds for these members. `kept` carries the members' own fields from one answer to the next."""
    if len(members) < 2:
        raise InputError("a family answer needs two or more trained members")
    known = [m for m, _ in members]
    check_within(equation, known)
    began = time.perf_counter()
    kept = kept or NetworkFields()
    fit = _fit(equation, members, settings, points, kept)
    ratio = _error_per_residual(equation, members, settings, points, kept, learned)
    indicator = _relative_distance(fit.solution, fit.secant) if ratio is None else ratio * math.sqrt(fit.loss)
    return FamilyAnswer(equation, fit.network, known,
                        loss=fit.loss, start_loss=fit.start_loss, indicator=indicator,
                        seconds=time.perf_counter() - began)
