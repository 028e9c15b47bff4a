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
from typing import Callable, Iterable, Sequence

import torch
from tqdm.auto import tqdm

from equations.errors import InputError

from .callbacks import Callback
from .evaluate import Evaluator
from .least_squares import LeastSquares
from .levenberg import LevenbergMarquardt
from .optim import DENSE_METHODS, OPTIMIZERS, DenseQuasiNewton, dense_bytes, dense_fits
from .phases import StateKeeper, run_adam, run_dense, run_lbfgs
from .training_loss import TrainingLoss, as_training_loss


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


@dataclass
class Budget:
    """How long one training phase may run, and with which quasi-Newton method; `finish` lm
    steps (Levenberg-Marquardt) go on from where that method ends."""

    adam_steps: int = 1000
    iterations: int = 1000
    optimizer: str = "ssbroyden"
    adam_lr: float = 1e-3
    max_seconds: float | None = None
    target_error: float | None = None
    target_loss: float | None = None
    finish: int = 0

    def __post_init__(self) -> None:
        if self.adam_steps < 0 or self.iterations < 0 or self.finish < 0:
            raise InputError("adam_steps, iterations and finish steps must be >= 0")
        if self.optimizer not in OPTIMIZERS:
            raise InputError(f"unknown optimizer {self.optimizer!r}; use one of {', '.join(OPTIMIZERS)}")
        if not self.adam_lr > 0:
            raise InputError("adam_lr must be > 0")
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise InputError(f"a time cap must be > 0 seconds, got {self.max_seconds}")
        for name, value in (("target error", self.target_error), ("target loss", self.target_loss)):
            if value is not None and not value > 0:
                raise InputError(f"a {name} must be > 0, got {value}")

    @property
    def uses_lm(self) -> bool:
        """Whether the phase takes lm steps (its method, or its finish)."""
        return self.optimizer == "lm" or self.finish > 0


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
    #: Values the loss reports beside its terms at every recorded step (identify: each unknown).
    tracked: dict[str, list[float]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, list | str | dict]:
        return {"step": self.step, "seconds": self.seconds, "loss": self.loss, "rel_l2": self.rel_l2,
                "optimizer": self.optimizer, **({"terms": self.terms} if self.terms else {}),
                **({"tracked": self.tracked} if self.tracked else {})}


@dataclass
class TrainResult:
    history: History
    seconds: float
    steps: int
    stopped_because: str
    #: The inverse-Hessian approximation a dense quasi-Newton phase ended with (else None).
    curvature: torch.Tensor | None = None


class TrainingState:
    """Where a phase keeps its training state: `save(state)` every `every` quasi-Newton
    iterations, `load()` when the phase starts (None where nothing was kept). The run layer
    gives it a file (see `runs.store`)."""

    def __init__(self, every: int) -> None:
        if every < 1:
            raise InputError(f"training state needs every >= 1 iterations, got {every}")
        self.every = every

    def load(self) -> dict | None:
        raise NotImplementedError

    def save(self, state: dict) -> None:
        raise NotImplementedError


def train(
    network: torch.nn.Module,
    loss_fn: TrainingLoss | Callable[[torch.nn.Module], torch.Tensor],
    parameters: Iterable[torch.nn.Parameter],
    budget: Budget,
    evaluator: Evaluator | None = None,
    penalty: Callable[[], torch.Tensor] | None = None,
    eval_every: int = 25,
    progress: bool = True,
    label: str = "train",
    state: TrainingState | None = None,
    curvature: torch.Tensor | None = None,
    callbacks: Sequence[Callback] = (),
) -> TrainResult:
    """Minimise loss_fn(network) (+ penalty()) over `parameters`: Adam, then the quasi-Newton
    phase `budget.optimizer` (L-BFGS, with a one-line notice, where a dense matrix would not fit;
    "lm": Levenberg-Marquardt on the physics loss's rows, see `levenberg`), then `budget.finish`
    lm steps where that phase used its budget.

    The reference error is recorded every `eval_every` steps (when an evaluator is given)
    and is what `budget.target_error` is checked against. The loss is a `TrainingLoss` (a plain
    function of the network is taken as one): with `resample_every` > 0 (a `PhysicsLoss` with
    RAD) its points are redrawn every that many quasi-Newton iterations; with `reweight_every`
    > 0 its term weights are renewed every that many steps (see `PhysicsLoss.reweight`); its
    `term_values` and `tracked_values` are recorded in the history.

    With a `state`, the quasi-Newton phase saves everything it needs to go on (parameters,
    optimizer, the loss's points and random stream, history) every `state.every` iterations,
    and a phase that finds a saved state goes on from it, to the bits an uninterrupted phase
    ends with (Adam is not kept: a phase stopped during Adam starts over).

    A dense quasi-Newton phase starts its matrix from `curvature` where one is given (the
    `TrainResult.curvature` of a neighbouring problem), and from the identity otherwise.
    Each of `callbacks` is told when the phase starts (or goes on) and of every record as it
    is made (see `callbacks`).
    """
    parameters = list(parameters)
    loss_fn = as_training_loss(loss_fn)
    history = History()
    start = time.perf_counter()
    total = budget.adam_steps + budget.iterations + budget.finish
    saved = state.load() if state is not None else None
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
        terms, tracked = term_values(network), tracked_values()
        for name, value in terms.items():
            history.terms.setdefault(name, []).append(value)
        for name, value in tracked.items():
            history.tracked.setdefault(name, []).append(value)
        for callback in callbacks:
            callback.on_record(label, {"step": step, "seconds": elapsed, "loss": loss, "rel_l2": error,
                                       **terms, **tracked})
        bar.set_postfix(loss=f"{loss:.2e}", rel_l2=f"{error:.2e}", refresh=False)
        if budget.target_error is not None and error <= budget.target_error:
            return "target error reached"
        if budget.target_loss is not None and loss <= budget.target_loss:
            return "target loss reached"
        if budget.max_seconds is not None and elapsed >= budget.max_seconds:
            return "time limit reached"
        return None

    def starting_loss() -> float:
        """The loss at step 0; from the lm rows where the phase is lm steps alone, so that a
        short lm calibration builds no compiled pass (seconds of compiling) for this one value."""
        if budget.optimizer == "lm" and not budget.adam_steps and budget.iterations and parameters:
            return float(LeastSquares(loss_fn, network, parameters, penalty).rows().square().sum())
        return float(objective().detach())

    term_values, tracked_values = loss_fn.term_values, loss_fn.tracked_values
    every = loss_fn.resample_every
    resample = (lambda: loss_fn.resample(network)) if every else None
    reweight_every = loss_fn.reweight_every

    def reweight(balance: bool) -> bool:
        return loss_fn.reweight(network, balance, parameters)

    keeper = None
    if state is not None:
        keeper = StateKeeper(state, parameters, loss_fn, history, lambda: time.perf_counter() - start)
    step, stopped, ended = 0, None, None
    if saved is not None:
        step = keeper.restore(saved)
        start -= saved["seconds"]
        bar.update(step + saved["done"])
    for callback in callbacks:
        callback.on_start(label, history.step[-1] if history.step else -1)
    if saved is None:
        if reweight_every:
            reweight(True)
        stopped = record(0, starting_loss())
    try:
        if saved is None and budget.adam_steps and stopped is None and parameters:
            stopped, step = run_adam(objective, parameters, budget, record, bar, eval_every,
                                      reweight if reweight_every else None, reweight_every)
        if budget.iterations and stopped is None and parameters:
            history.optimizer = _quasi_newton_method(budget.optimizer, parameters, label)
            reweight_only = (lambda: reweight(False)) if reweight_every else None
            if history.optimizer in DENSE_METHODS:
                optimizer = DenseQuasiNewton(parameters, objective, history.optimizer,
                                             state=saved and saved["optimizer"], inverse_hessian=curvature)
                stopped, step = run_dense(optimizer, budget.iterations, record, bar, eval_every, step, resample,
                                           every, reweight_only, reweight_every, keeper, saved)
                ended = optimizer.inverse_hessian
            elif history.optimizer == "lm":
                optimizer = LevenbergMarquardt(LeastSquares(loss_fn, network, parameters, penalty),
                                               state=saved and saved["optimizer"])
                stopped, step = run_dense(optimizer, budget.iterations, record, bar, eval_every, step, resample,
                                           every, reweight_only, reweight_every, keeper, saved)
            else:
                stopped, step = run_lbfgs(objective, parameters, budget.iterations, record, bar, eval_every, step,
                                           resample, every, reweight_only, reweight_every, keeper, saved)
        if budget.finish and stopped is None and parameters:
            # Not kept: a run stopped here goes on from the phase's last kept state, to the same bits.
            finisher = LevenbergMarquardt(LeastSquares(loss_fn, network, parameters, penalty))
            stopped, step = run_dense(finisher, budget.finish, record, bar, eval_every, step, None, 0, None, 0)
    finally:
        bar.close()
    return TrainResult(history, time.perf_counter() - start, step, stopped or "budget used", ended)


def _quasi_newton_method(requested: str, parameters: list[torch.nn.Parameter], label: str) -> str:
    """`requested`, or L-BFGS where its dense matrix would not fit (said in one line)."""
    n = sum(p.numel() for p in parameters)
    if requested in DENSE_METHODS and not dense_fits(n):
        print(f"pinn-pac: {label}: {n} parameters need {dense_bytes(n) / 2**30:.1f} GiB for a dense method; "
              f"using L-BFGS instead of {requested}", file=sys.stderr)
        return "lbfgs"
    return requested
