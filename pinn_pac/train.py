"""The optimisation loop: Adam, then L-BFGS with a strong-Wolfe line search, in one call.

It records loss and reference-error history, shows a progress bar, stops early at a target
error or loss or at a wall-clock cap, and raises `TrainingDiverged` on a non-finite loss.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import torch
from tqdm.auto import tqdm

from equations import Equation

from .derivatives import Derivative, compute_fields, parse_derivatives
from .evaluate import Evaluator
from .sampling import ConditionPoints, TrainingPoints


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


@dataclass
class Budget:
    """How long one training phase may run."""

    adam_steps: int = 1000
    lbfgs_iterations: int = 1000
    adam_lr: float = 1e-3
    max_seconds: float | None = None
    target_error: float | None = None
    target_loss: float | None = None

    def __post_init__(self) -> None:
        if self.adam_steps < 0 or self.lbfgs_iterations < 0:
            raise ValueError("adam_steps and lbfgs_iterations must be >= 0")
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

    def as_dict(self) -> dict[str, list]:
        return {"step": self.step, "seconds": self.seconds, "loss": self.loss, "rel_l2": self.rel_l2}


@dataclass
class TrainResult:
    history: History
    seconds: float
    steps: int
    stopped_because: str


class PhysicsLoss:
    """Mean squared residual plus the mean squared mismatch of each condition."""

    def __init__(
        self,
        equation: Equation,
        points: TrainingPoints,
        derivative_method: str = "autograd",
    ) -> None:
        self.equation = equation
        self.points = points
        self.derivatives = parse_derivatives(equation.derivatives, equation.inputs, equation.outputs)
        self.derivative_method = derivative_method
        self.condition_derivatives = [
            parse_derivatives(
                tuple(f for f in c.condition.fields if f not in equation.outputs),
                equation.inputs, equation.outputs,
            )
            for c in points.conditions
        ]

    def _fields(self, network, points, derivatives) -> dict[str, torch.Tensor]:
        return compute_fields(
            network, points, derivatives, self.equation.outputs, self.derivative_method,
            self.equation.inputs,
        )

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

    def __call__(self, network: torch.nn.Module) -> torch.Tensor:
        fields = self._fields(network, self.points.interior, self.derivatives)
        loss = self.equation.residual(fields).square().mean()
        for condition, derivatives in zip(self.points.conditions, self.condition_derivatives):
            loss = loss + self.condition_mismatch(network, condition, derivatives).square().mean()
        return loss


class StackedPhysicsLoss:
    """The sum of several family members' physics losses, each on its own points, computed
    with one network call per point set: a stacked network's rows k*n to (k+1)*n belong to
    member k (see `pac.StackedAdaptedNetwork`). Every member needs the same point counts."""

    def __init__(self, losses: list[PhysicsLoss]) -> None:
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
            loss.equation.residual({name: chunks[k] for name, chunks in parts.items()}).square().mean()
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
    """Minimise loss_fn(network) (+ penalty()) over `parameters`: Adam, then L-BFGS.

    The reference error is recorded every `eval_every` steps (when an evaluator is given)
    and is what `budget.target_error` is checked against.
    """
    parameters = list(parameters)
    history = History()
    start = time.perf_counter()
    total = budget.adam_steps + budget.lbfgs_iterations
    bar = tqdm(total=total, desc=label, disable=not progress, leave=False, mininterval=1.0)

    def objective() -> torch.Tensor:
        loss = loss_fn(network)
        return loss + penalty() if penalty is not None else loss

    def record(step: int, loss: float) -> str | None:
        """Log a history point; say why to stop, or None to go on."""
        if not math.isfinite(loss):
            raise TrainingDiverged(
                f"{label}: the loss became {loss} at step {step}; "
                "try a smaller learning rate, float64 or a smaller coefficient step"
            )
        elapsed = time.perf_counter() - start
        error = evaluator(network).rel_l2 if evaluator is not None else math.nan
        history.step.append(step)
        history.seconds.append(elapsed)
        history.loss.append(loss)
        history.rel_l2.append(error)
        bar.set_postfix(loss=f"{loss:.2e}", rel_l2=f"{error:.2e}", refresh=False)
        if budget.target_error is not None and error <= budget.target_error:
            return "target error reached"
        if budget.target_loss is not None and loss <= budget.target_loss:
            return "target loss reached"
        if budget.max_seconds is not None and elapsed >= budget.max_seconds:
            return "time limit reached"
        return None

    step = 0
    stopped = record(0, float(objective().detach()))
    try:
        if budget.adam_steps and stopped is None and parameters:
            stopped, step = _run_adam(objective, parameters, budget, record, bar, eval_every)
        if budget.lbfgs_iterations and stopped is None and parameters:
            stopped, step = _run_lbfgs(objective, parameters, budget, record, bar, eval_every, step)
    finally:
        bar.close()
    return TrainResult(history, time.perf_counter() - start, step, stopped or "budget used")


def _run_adam(objective, parameters, budget, record, bar, eval_every):
    optimizer = torch.optim.Adam(parameters, lr=budget.adam_lr)
    for step in range(1, budget.adam_steps + 1):
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


def _new_lbfgs(parameters, chunk):
    # Tolerances at zero: in float32 torch's defaults stop L-BFGS long before the budget.
    # A stall (no decrease over a chunk of iterations) is handled by the caller instead.
    return torch.optim.LBFGS(
        parameters, lr=1.0, max_iter=chunk, max_eval=4 * chunk, history_size=50,
        tolerance_grad=0.0, tolerance_change=0.0, line_search_fn="strong_wolfe",
    )


def _run_lbfgs(objective, parameters, budget, record, bar, eval_every, step):
    """L-BFGS in chunks of `eval_every` iterations. On a stall (a chunk that does not lower
    the loss) the curvature history is dropped and L-BFGS restarts; a second stall in a
    row ends the phase."""
    optimizer = _new_lbfgs(parameters, eval_every)

    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss = objective()
        loss.backward()
        return loss

    done, best, restarted = 0, math.inf, False
    while done < budget.lbfgs_iterations:
        before = optimizer.state[parameters[0]].get("n_iter", 0)
        optimizer.param_groups[0]["max_iter"] = min(eval_every, budget.lbfgs_iterations - done)
        optimizer.step(closure)
        advanced = optimizer.state[parameters[0]]["n_iter"] - before
        done += advanced
        bar.update(advanced)
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
