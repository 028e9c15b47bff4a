"""The physics loss: the mean squared residual of an equation on collocation points, plus
each condition left soft, with RAD redraws and term weighting (balance, causal)."""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import torch

from equations import BoundaryCondition, Equation
from equations.errors import InputError

from .boundary import BoundaryTerm
from .derivatives import Derivative, parse_derivatives
from .posing import Posing
from .training_loss import TrainingLoss
from .sampling import ConditionPoints, TrainingPoints, rad_choice, uniform_interior
from .weighting import REWEIGHT_EVERY, balanced_weights, causal_weights, slab_means, time_slabs


def check_rad(every: int, candidates: int, points: int) -> None:
    """Refuse a RAD schedule that cannot run: a negative period, or fewer candidates than the
    points it must choose."""
    if every < 0 or (every and candidates < points):
        raise InputError(f"RAD needs every >= 0 and at least as many candidates ({candidates}) "
                         f"as interior points ({points}), got every {every}")


class PhysicsLoss(TrainingLoss):
    """Mean squared residual (times the equation's `residual_scale`) plus the mean squared
    mismatch of each condition left soft, each term times its weight.

    With conditions "exact" (and a family that declares an exact form) u is posed so that
    the imposed conditions hold by construction and leave the loss (see `posing`). With
    `resample_every` > 0 the training loop redraws the interior points by RAD every that
    many quasi-Newton iterations, from `candidates` uniform points (seeded by `seed`).
    `balance` weights the terms by their gradient norms during Adam (then frozen); `causal`
    > 0 weights the residual causally in time with that epsilon (see `weighting`).
    """

    def __init__(
        self,
        equation: Equation,
        points: TrainingPoints,
        derivative_method: str = "autograd",
        conditions: str = "exact",
        resample_every: int = 0,
        candidates: int = 50_000,
        seed: int = 0,
        balance: bool = False,
        causal: float = 0.0,
    ) -> None:
        check_rad(resample_every, candidates, len(points.interior))
        check_causal(causal, equation)
        self.equation = equation
        #: The equation's residual scale, taken once (an unknown coefficient must not move it).
        scale = equation.residual_scale
        self.residual_scale = float(scale.detach() if isinstance(scale, torch.Tensor) else scale)
        self.posing = Posing(equation, conditions)
        soft = {c.name for c in self.posing.soft_conditions()}
        self.points = TrainingPoints(points.interior, [c for c in points.conditions if c.condition.name in soft])
        self.derivatives = parse_derivatives(equation.derivatives, equation.inputs, equation.outputs)
        self.derivative_method = derivative_method
        #: Each boundary condition's term, by name (read from the region once).
        self.boundary_terms = {c.condition.name: BoundaryTerm(c.condition, equation) for c in self.points.conditions
                               if isinstance(c.condition, BoundaryCondition)}
        self.condition_derivatives = [
            self.boundary_terms[c.condition.name].derivatives if c.condition.name in self.boundary_terms
            else parse_derivatives(tuple(f for f in c.condition.fields if f not in equation.outputs),
                                   equation.inputs, equation.outputs)
            for c in self.points.conditions
        ]
        self.resample_every, self.candidates = resample_every, candidates
        self._rng = np.random.default_rng([seed, 1])  # a stream apart from the initial points'
        self.weights = {name: 1.0 for name in ["residual", *(c.condition.name for c in self.points.conditions)]}
        self.balance = balance and len(self.weights) > 1
        self.causal = causal
        self._slab_weights: torch.Tensor | None = None
        self._slabs = self._time_slabs() if causal else None
        self._recorder = None
        #: How often (in steps) the training loop calls `reweight`; 0: never.
        self.reweight_every = REWEIGHT_EVERY if self.balance or causal else 0

    def _fields(self, network, points, derivatives, method: str | None = None) -> dict[str, torch.Tensor]:
        if self._recorder is not None:
            return self._recorder.posed_fields(self.posing, network, points, derivatives)
        return self.posing.fields(network, points, derivatives, method or self.derivative_method)

    @contextmanager
    def recording(self, recorder) -> Iterator[None]:
        """Within: every field comes through `recorder`'s forward pass (a
        `least_squares.StreamRecorder`, which keeps each layer's streams for the Jacobian)."""
        self._recorder = recorder
        try:
            yield
        finally:
            self._recorder = None

    def condition_mismatch(
        self, network: torch.nn.Module, condition: ConditionPoints, derivatives: list[Derivative],
    ) -> torch.Tensor:
        """The condition's fields minus what they must equal, one row per condition point."""
        names = condition.condition.fields
        here = self._fields(network, condition.points, derivatives)
        if condition.normals is not None:
            return self.boundary_terms[condition.condition.name].left_side(here, condition.normals) - condition.values
        value = torch.cat([here[n] for n in names], dim=1)
        if condition.partner is None:
            return value - condition.values
        there = self._fields(network, condition.partner, derivatives)
        return value - torch.cat([there[n] for n in names], dim=1)

    def resample(self, network: torch.nn.Module) -> None:
        """Redraw the interior points by RAD from fresh uniform candidates."""
        dtype = self.points.interior.dtype
        candidates = uniform_interior(self.equation, self.candidates, self._rng, dtype, self.points.interior.device)
        # The eager forward-mode path: no compile for the candidates' point count.
        method = "forward" if self.derivative_method == "compiled" else self.derivative_method
        residual = torch.cat([
            self.equation.residual(self._fields(network, chunk, self.derivatives, method)).detach()
            for chunk in candidates.split(10_000)
        ])
        chosen = rad_choice(residual, len(self.points.interior), self._rng)
        self.points = TrainingPoints(candidates[torch.from_numpy(chosen)], self.points.conditions)
        if self.causal:
            self._slabs = self._time_slabs()

    def scaled_residual(self, network: torch.nn.Module, points: torch.Tensor | None = None,
                        method: str | None = None) -> torch.Tensor:
        """The residual times the residual scale at `points` (the interior points by default),
        one row per point, with the derivative `method` (this loss's by default)."""
        points = self.points.interior if points is None else points
        return self.equation.residual(self._fields(network, points, self.derivatives, method)) * self.residual_scale

    def _squared_residual(self, network: torch.nn.Module) -> torch.Tensor:
        return self.scaled_residual(network).square()

    def _time_slabs(self) -> torch.Tensor:
        """The causal time slab of each interior point (kept until the points change)."""
        column = self.equation.inputs.index("t")
        return time_slabs(self.points.interior[:, column], *self.equation.domain["t"])

    def _slab_means(self, squared: torch.Tensor) -> torch.Tensor:
        return slab_means(squared.mean(dim=1), self._slabs)

    def terms(self, network: torch.nn.Module) -> dict[str, torch.Tensor]:
        """Each term of the loss, unweighted: the residual (causally weighted when asked)
        and each soft condition's mean squared mismatch, by condition name."""
        squared = self._squared_residual(network)
        if self._slab_weights is None:
            residual = squared.mean()
        else:
            residual = (self._slab_weights * self._slab_means(squared)).mean()
        terms = {"residual": residual}
        for condition, derivatives in zip(self.points.conditions, self.condition_derivatives):
            terms[condition.condition.name] = self.condition_mismatch(network, condition, derivatives).square().mean()
        return terms

    def term_values(self, network: torch.nn.Module) -> dict[str, float]:
        """`terms` as numbers, for the history; empty when the residual is the only term."""
        if len(self.weights) == 1:
            return {}
        return {name: float(value.detach()) for name, value in self.terms(network).items()}

    def reweight(self, network: torch.nn.Module, balance: bool, parameters: list[torch.nn.Parameter]) -> bool:
        """Renew the causal weights at the network's present residual and, with `balance`
        (during Adam), the terms' weights from their gradient norms over the `parameters`
        being trained; say if any changed."""
        changed = False
        if self.causal:
            means = self._slab_means(self._squared_residual(network).detach())
            self._slab_weights, changed = causal_weights(means, self.causal), True
        if balance and self.balance and parameters:
            self.weights, changed = balanced_weights(self.terms(network), parameters, self.weights), True
        return changed

    def state_dict(self) -> dict:
        """What training changes in this loss (RAD's points and random stream, the weights),
        for a phase's training state."""
        return {"interior": self.points.interior, "rng": self._rng.bit_generator.state,
                "weights": dict(self.weights), "slab_weights": self._slab_weights}

    def load_state_dict(self, state: dict) -> None:
        self.points = TrainingPoints(state["interior"].to(self.points.interior.device), self.points.conditions)
        self._rng.bit_generator.state = state["rng"]
        self.weights = dict(state["weights"])
        slab_weights = state["slab_weights"]
        self._slab_weights = None if slab_weights is None else slab_weights.to(self.points.interior.device)
        if self.causal:
            self._slabs = self._time_slabs()

    def __call__(self, network: torch.nn.Module) -> torch.Tensor:
        return sum(self.weights[name] * value for name, value in self.terms(network).items())


def check_causal(causal: float, equation: Equation | None = None) -> None:
    """Refuse a negative causal epsilon, or causal weighting of an `equation` without a time
    input."""
    if not (math.isfinite(causal) and causal >= 0):
        raise InputError(f"the causal epsilon must be >= 0, got {causal}")
    if causal and equation is not None and "t" not in equation.inputs:
        raise InputError(f"causal weighting needs a time input t; {equation.name} has inputs "
                         f"{', '.join(equation.inputs)}")


class MeanPhysicsLoss(TrainingLoss):
    """The mean of several family members' physics losses, each on its own points and its own
    view of one network (the parametric network at each member's coefficient). RAD, term
    weighting and the term history act on every member as they would on one."""

    def __init__(self, members: list[tuple[PhysicsLoss, torch.nn.Module]]) -> None:
        self.members = members
        self.resample_every = members[0][0].resample_every
        self.reweight_every = max(loss.reweight_every for loss, _ in members)

    def __call__(self, _: torch.nn.Module) -> torch.Tensor:
        return sum(loss(network) for loss, network in self.members) / len(self.members)

    def resample(self, _: torch.nn.Module) -> None:
        for loss, network in self.members:
            loss.resample(network)

    def reweight(self, _: torch.nn.Module, balance: bool, parameters: list[torch.nn.Parameter]) -> bool:
        return any([loss.reweight(network, balance, parameters) for loss, network in self.members])

    def term_values(self, _: torch.nn.Module) -> dict[str, float]:
        """Each term's mean over the members."""
        values = [loss.term_values(network) for loss, network in self.members]
        return {name: sum(v[name] for v in values) / len(values) for name in values[0]}

    def state_dict(self) -> dict:
        return {"members": [loss.state_dict() for loss, _ in self.members]}

    def load_state_dict(self, state: dict) -> None:
        for (loss, _), member in zip(self.members, state["members"]):
            loss.load_state_dict(member)


class StackedPhysicsLoss(TrainingLoss):
    """The sum of several family members' physics losses, each on its own points, computed
    with one network call per point set: a stacked network's rows k*n to (k+1)*n belong to
    member k (see `pac.StackedAdaptedNetwork`). Every member needs the same point counts."""

    def __init__(self, losses: list[PhysicsLoss]) -> None:
        if any(loss.reweight_every for loss in losses):
            raise InputError("stacked losses take no term weighting (balance or causal)")
        counts = {(len(loss.points.interior), *(len(c.points) for c in loss.points.conditions)) for loss in losses}
        if len(counts) > 1:  # a region's boundary counts follow each member's shape
            raise InputError(f"stacked losses need the same point counts for every member, got {sorted(counts)}")
        self.losses = losses
        self.interior = torch.cat([loss.points.interior for loss in losses])
        self.conditions = [
            ConditionPoints(
                group[0].condition, torch.cat([c.points for c in group]),
                values=None if group[0].values is None else torch.cat([c.values for c in group]),
                partner=None if group[0].partner is None else torch.cat([c.partner for c in group]),
                normals=None if group[0].normals is None else torch.cat([c.normals for c in group]),
            )
            for group in zip(*(loss.points.conditions for loss in losses))
        ]

    def __call__(self, network: torch.nn.Module) -> torch.Tensor:
        first, count = self.losses[0], len(self.losses)
        parts = {name: value.chunk(count) for name, value in
                 first._fields(network, self.interior, first.derivatives).items()}
        total = sum(
            (loss.equation.residual({name: chunks[k] for name, chunks in parts.items()})
             * loss.residual_scale).square().mean()
            for k, loss in enumerate(self.losses)
        )
        for condition, derivatives in zip(self.conditions, first.condition_derivatives):
            mismatch = first.condition_mismatch(network, condition, derivatives)
            total = total + mismatch.square().view(count, -1).mean(dim=1).sum()
        return total
