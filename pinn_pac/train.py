"""The optimisation loop: Adam, then a quasi-Newton phase, in one call.

The quasi-Newton phase is a dense self-scaled Broyden (the default), SSBFGS or BFGS with a
strong-Wolfe line search, or L-BFGS (see `optim`). The loop records loss and reference-error
history, shows a progress bar, redraws the interior points by RAD every so many quasi-Newton
iterations when the loss asks for it, stops early at a target error or loss or at a
wall-clock cap, and raises `TrainingDiverged` on a non-finite loss.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np
import torch
from tqdm.auto import tqdm

from equations import Equation

from .derivatives import Derivative, parse_derivatives
from .evaluate import Evaluator
from .optim import DENSE_METHODS, OPTIMIZERS, DenseQuasiNewton, dense_fits
from .posing import Posing
from .sampling import ConditionPoints, TrainingPoints, rad_choice, uniform_interior
from .weighting import REWEIGHT_EVERY, balanced_weights, causal_weights, slab_means, time_slabs


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


@dataclass
class Budget:
    """How long one training phase may run, and with which quasi-Newton method."""

    adam_steps: int = 1000
    iterations: int = 1000
    optimizer: str = "ssbroyden"
    adam_lr: float = 1e-3
    max_seconds: float | None = None
    target_error: float | None = None
    target_loss: float | None = None

    def __post_init__(self) -> None:
        if self.adam_steps < 0 or self.iterations < 0:
            raise ValueError("adam_steps and iterations must be >= 0")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; use one of {', '.join(OPTIMIZERS)}")
        if not self.adam_lr > 0:
            raise ValueError("adam_lr must be > 0")
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise ValueError(f"a time cap must be > 0 seconds, got {self.max_seconds}")


@dataclass
class History:
    """Loss and reference error against optimizer step and wall seconds."""

    step: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    rel_l2: list[float] = field(default_factory=list)
    #: The quasi-Newton method that ran ("" when that phase did not run).
    optimizer: str = ""
    #: Each loss term (unweighted) at every recorded step, where the loss has several.
    terms: dict[str, list[float]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, list | str | dict]:
        return {"step": self.step, "seconds": self.seconds, "loss": self.loss, "rel_l2": self.rel_l2,
                "optimizer": self.optimizer, **({"terms": self.terms} if self.terms else {})}


@dataclass
class TrainResult:
    history: History
    seconds: float
    steps: int
    stopped_because: str


def check_rad(every: int, candidates: int, points: int) -> None:
    """Refuse a RAD schedule that cannot run: a negative period, or fewer candidates than the
    points it must choose."""
    if every < 0 or (every and candidates < points):
        raise ValueError(f"RAD needs every >= 0 and at least as many candidates ({candidates}) "
                         f"as interior points ({points}), got every {every}")


class PhysicsLoss:
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
        self.posing = Posing(equation, conditions)
        soft = {c.name for c in self.posing.soft_conditions()}
        self.points = TrainingPoints(points.interior, [c for c in points.conditions if c.condition.name in soft])
        self.derivatives = parse_derivatives(equation.derivatives, equation.inputs, equation.outputs)
        self.derivative_method = derivative_method
        self.condition_derivatives = [
            parse_derivatives(
                tuple(f for f in c.condition.fields if f not in equation.outputs),
                equation.inputs, equation.outputs,
            )
            for c in self.points.conditions
        ]
        self.resample_every, self.candidates = resample_every, candidates
        self._rng = np.random.default_rng([seed, 1])  # a stream apart from the initial points'
        self.weights = {name: 1.0 for name in ["residual", *(c.condition.name for c in self.points.conditions)]}
        self.balance = balance and len(self.weights) > 1
        self.causal = causal
        self._slab_weights: torch.Tensor | None = None
        self._slabs = self._time_slabs() if causal else None
        #: How often (in steps) the training loop calls `reweight`; 0: never.
        self.reweight_every = REWEIGHT_EVERY if self.balance or causal else 0

    def _fields(self, network, points, derivatives, method: str | None = None) -> dict[str, torch.Tensor]:
        return self.posing.fields(network, points, derivatives, method or self.derivative_method)

    def condition_mismatch(
        self, network: torch.nn.Module, condition: ConditionPoints, derivatives: list[Derivative],
    ) -> torch.Tensor:
        """The condition's fields minus what they must equal, one row per condition point."""
        names = condition.condition.fields
        here = self._fields(network, condition.points, derivatives)
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

    def _squared_residual(self, network: torch.nn.Module) -> torch.Tensor:
        fields = self._fields(network, self.points.interior, self.derivatives)
        return (self.equation.residual(fields) * self.equation.residual_scale).square()

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

    def reweight(self, network: torch.nn.Module, balance: bool) -> bool:
        """Renew the causal weights at the network's present residual and, with `balance`
        (during Adam), the terms' weights from their gradient norms; say if any changed."""
        changed = False
        if self.causal:
            means = self._slab_means(self._squared_residual(network).detach())
            self._slab_weights, changed = causal_weights(means, self.causal), True
        trainable = [p for p in network.parameters() if p.requires_grad]
        if balance and self.balance and trainable:
            self.weights, changed = balanced_weights(self.terms(network), trainable, self.weights), True
        return changed

    def __call__(self, network: torch.nn.Module) -> torch.Tensor:
        return sum(self.weights[name] * value for name, value in self.terms(network).items())


def check_causal(causal: float, equation: Equation | None = None) -> None:
    """Refuse a negative causal epsilon, or causal weighting of an `equation` without a time
    input."""
    if not (math.isfinite(causal) and causal >= 0):
        raise ValueError(f"the causal epsilon must be >= 0, got {causal}")
    if causal and equation is not None and "t" not in equation.inputs:
        raise ValueError(f"causal weighting needs a time input t; {equation.name} has inputs "
                         f"{', '.join(equation.inputs)}")


class StackedPhysicsLoss:
    """The sum of several family members' physics losses, each on its own points, computed
    with one network call per point set: a stacked network's rows k*n to (k+1)*n belong to
    member k (see `pac.StackedAdaptedNetwork`). Every member needs the same point counts."""

    def __init__(self, losses: list[PhysicsLoss]) -> None:
        if any(loss.reweight_every for loss in losses):
            raise ValueError("stacked losses take no term weighting (balance or causal)")
        self.losses = losses
        self.interior = torch.cat([loss.points.interior for loss in losses])
        self.conditions = [
            ConditionPoints(
                group[0].condition, torch.cat([c.points for c in group]),
                values=None if group[0].values is None else torch.cat([c.values for c in group]),
                partner=None if group[0].partner is None else torch.cat([c.partner for c in group]),
            )
            for group in zip(*(loss.points.conditions for loss in losses))
        ]

    def __call__(self, network: torch.nn.Module) -> torch.Tensor:
        first, count = self.losses[0], len(self.losses)
        parts = {name: value.chunk(count) for name, value in
                 first._fields(network, self.interior, first.derivatives).items()}
        total = sum(
            (loss.equation.residual({name: chunks[k] for name, chunks in parts.items()})
             * loss.equation.residual_scale).square().mean()
            for k, loss in enumerate(self.losses)
        )
        for condition, derivatives in zip(self.conditions, first.condition_derivatives):
            mismatch = first.condition_mismatch(network, condition, derivatives)
            total = total + mismatch.square().view(count, -1).mean(dim=1).sum()
        return total


def train(
    network: torch.nn.Module,
    loss_fn: Callable[[torch.nn.Module], torch.Tensor],
    parameters: Iterable[torch.nn.Parameter],
    budget: Budget,
    evaluator: Evaluator | None = None,
    penalty: Callable[[], torch.Tensor] | None = None,
    eval_every: int = 25,
    progress: bool = True,
    label: str = "train",
) -> TrainResult:
    """Minimise loss_fn(network) (+ penalty()) over `parameters`: Adam, then the quasi-Newton
    phase `budget.optimizer` (L-BFGS, with a one-line notice, where a dense matrix would not fit).

    The reference error is recorded every `eval_every` steps (when an evaluator is given)
    and is what `budget.target_error` is checked against. A loss with `resample_every` > 0
    (a `PhysicsLoss` with RAD) has its points redrawn every that many quasi-Newton iterations;
    one with `reweight_every` > 0 has its term weights renewed every that many steps (see
    `PhysicsLoss.reweight`). A loss with `term_values` has each term recorded in the history.
    """
    parameters = list(parameters)
    history = History()
    start = time.perf_counter()
    total = budget.adam_steps + budget.iterations
    bar = tqdm(total=total, desc=label, disable=not progress, leave=False, mininterval=1.0)

    def objective() -> torch.Tensor:
        loss = loss_fn(network)
        return loss + penalty() if penalty is not None else loss

    def record(step: int, loss: float) -> str | None:
        """Log a history point; say why to stop, or None to go on."""
        if not math.isfinite(loss):
            raise TrainingDiverged(
                f"{label}: the loss became {loss} at step {step}; "
                "try float64 or a smaller coefficient step"
            )
        elapsed = time.perf_counter() - start
        error = evaluator(network).rel_l2 if evaluator is not None else math.nan
        history.step.append(step)
        history.seconds.append(elapsed)
        history.loss.append(loss)
        history.rel_l2.append(error)
        for name, value in term_values(network).items():
            history.terms.setdefault(name, []).append(value)
        bar.set_postfix(loss=f"{loss:.2e}", rel_l2=f"{error:.2e}", refresh=False)
        if budget.target_error is not None and error <= budget.target_error:
            return "target error reached"
        if budget.target_loss is not None and loss <= budget.target_loss:
            return "target loss reached"
        if budget.max_seconds is not None and elapsed >= budget.max_seconds:
            return "time limit reached"
        return None

    term_values = getattr(loss_fn, "term_values", lambda _: {})
    every = getattr(loss_fn, "resample_every", 0)
    resample = (lambda: loss_fn.resample(network)) if every else None
    reweight_every = getattr(loss_fn, "reweight_every", 0)

    def reweight(balance: bool) -> bool:
        return loss_fn.reweight(network, balance)

    step = 0
    if reweight_every:
        reweight(True)
    stopped = record(0, float(objective().detach()))
    try:
        if budget.adam_steps and stopped is None and parameters:
            stopped, step = _run_adam(objective, parameters, budget, record, bar, eval_every,
                                      reweight if reweight_every else None, reweight_every)
        if budget.iterations and stopped is None and parameters:
            history.optimizer = _quasi_newton_method(budget.optimizer, parameters, label)
            run = _run_dense if history.optimizer in DENSE_METHODS else _run_lbfgs
            stopped, step = run(objective, parameters, budget.iterations, history.optimizer, record, bar,
                                eval_every, step, resample, every,
                                (lambda: reweight(False)) if reweight_every else None, reweight_every)
    finally:
        bar.close()
    return TrainResult(history, time.perf_counter() - start, step, stopped or "budget used")


def _quasi_newton_method(requested: str, parameters: list[torch.nn.Parameter], label: str) -> str:
    """`requested`, or L-BFGS where its dense matrix would not fit (said in one line)."""
    n = sum(p.numel() for p in parameters)
    if requested in DENSE_METHODS and not dense_fits(n):
        print(f"pinn-pac: {label}: {n} parameters need a {8 * n * n / 2**30:.1f} GiB dense matrix; "
              f"using L-BFGS instead of {requested}", file=sys.stderr)
        return "lbfgs"
    return requested


def _run_adam(objective, parameters, budget, record, bar, eval_every, reweight, reweight_every):
    """Adam; the loss's weights (if any) renewed and balanced every `reweight_every` steps."""
    optimizer = torch.optim.Adam(parameters, lr=budget.adam_lr)
    for step in range(1, budget.adam_steps + 1):
        if reweight is not None and step % reweight_every == 0:
            reweight(True)
        optimizer.zero_grad(set_to_none=True)
        loss = objective()
        loss.backward()
        optimizer.step()
        bar.update()
        if step % eval_every == 0 or step == budget.adam_steps:
            stopped = record(step, float(objective().detach()))
            if stopped:
                return stopped, step
        elif not math.isfinite(float(loss.detach())):
            record(step, float(loss.detach()))
    return None, budget.adam_steps


def _run_dense(objective, parameters, iterations, method, record, bar, eval_every, step, resample, every,
               reweight, reweight_every):
    """`iterations` of a dense quasi-Newton method; RAD every `every` iterations and causal
    weights renewed every `reweight_every` (balance weights stay frozen) keep H."""
    optimizer = DenseQuasiNewton(parameters, objective, method)
    for done in range(1, iterations + 1):
        loss = optimizer.step()
        bar.update()
        if optimizer.stalled:
            return record(step + done, loss) or f"{method} stalled", step + done
        redraw = resample is not None and done % every == 0 and done < iterations
        if redraw:
            resample()
        renewed = reweight is not None and done % reweight_every == 0 and done < iterations and reweight()
        if redraw or renewed:
            loss = optimizer.refresh()
        if done % eval_every == 0 or done == iterations:
            stopped = record(step + done, loss)
            if stopped:
                return stopped, step + done
    return None, step + iterations


def _new_lbfgs(parameters, chunk):
    # Tolerances at zero: in float32 torch's defaults stop L-BFGS long before the budget.
    # A stall (no decrease over a chunk of iterations) is handled by the caller instead.
    return torch.optim.LBFGS(
        parameters, lr=1.0, max_iter=chunk, max_eval=4 * chunk, history_size=50,
        tolerance_grad=0.0, tolerance_change=0.0, line_search_fn="strong_wolfe",
    )


def _run_lbfgs(objective, parameters, iterations, method, record, bar, eval_every, step, resample, every,
               reweight, reweight_every):
    """L-BFGS in chunks of `eval_every` iterations. On a stall (a chunk that does not lower
    the loss) the curvature history is dropped and L-BFGS restarts; a second stall in a
    row ends the phase. After a RAD redraw the history is dropped too, and causal weights
    are renewed there (only there: L-BFGS keeps no history across a changed objective)."""
    optimizer = _new_lbfgs(parameters, eval_every)

    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss = objective()
        loss.backward()
        return loss

    done, best, restarted, redrawn = 0, math.inf, False, 0
    while done < iterations:
        before = optimizer.state[parameters[0]].get("n_iter", 0)
        optimizer.param_groups[0]["max_iter"] = min(eval_every, iterations - done,
                                                     (redrawn + 1) * every - done if every else iterations)
        optimizer.step(closure)
        advanced = optimizer.state[parameters[0]]["n_iter"] - before
        done += advanced
        bar.update(advanced)
        if resample is not None and done >= (redrawn + 1) * every and done < iterations:
            resample()
            if reweight is not None:
                reweight()
            redrawn, best = done // every, math.inf
            optimizer = _new_lbfgs(parameters, eval_every)
        loss = float(objective().detach())
        stopped = record(step + done, loss)
        if stopped:
            return stopped, step + done
        if loss < best:
            best, restarted = loss, False
        elif restarted:
            return "L-BFGS stalled", step + done
        else:
            optimizer, restarted = _new_lbfgs(parameters, eval_every), True
    return None, step + done
