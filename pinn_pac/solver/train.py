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

import torch
from tqdm.auto import tqdm

from .evaluate import Evaluator
from .optim import DENSE_METHODS, OPTIMIZERS, DenseQuasiNewton, dense_bytes, dense_fits


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


_stop_requested = False


def request_stop(requested: bool = True) -> None:
    """Ask every training loop in this process to stop (KeyboardInterrupt) at its next step,
    or withdraw the request. A signal handler raises KeyboardInterrupt itself as well; this is
    for when that lands in a finalizer, where Python reports and drops it."""
    global _stop_requested
    _stop_requested = requested


def _check_stop() -> None:
    if _stop_requested:
        raise KeyboardInterrupt


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
        for name, value in (("target error", self.target_error), ("target loss", self.target_loss)):
            if value is not None and not value > 0:
                raise ValueError(f"a {name} must be > 0, got {value}")


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
            raise ValueError(f"training state needs every >= 1 iterations, got {every}")
        self.every = every

    def load(self) -> dict | None:
        raise NotImplementedError

    def save(self, state: dict) -> None:
        raise NotImplementedError


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
    state: TrainingState | None = None,
    curvature: torch.Tensor | None = None,
) -> TrainResult:
    """Minimise loss_fn(network) (+ penalty()) over `parameters`: Adam, then the quasi-Newton
    phase `budget.optimizer` (L-BFGS, with a one-line notice, where a dense matrix would not fit).

    The reference error is recorded every `eval_every` steps (when an evaluator is given)
    and is what `budget.target_error` is checked against. A loss with `resample_every` > 0
    (a `PhysicsLoss` with RAD) has its points redrawn every that many quasi-Newton iterations;
    one with `reweight_every` > 0 has its term weights renewed every that many steps (see
    `PhysicsLoss.reweight`). A loss with `term_values` has each term recorded in the history,
    one with `tracked_values` each of those values.

    With a `state`, the quasi-Newton phase saves everything it needs to go on (parameters,
    optimizer, the loss's points and random stream, history) every `state.every` iterations,
    and a phase that finds a saved state goes on from it, to the bits an uninterrupted phase
    ends with (Adam is not kept: a phase stopped during Adam starts over).

    A dense quasi-Newton phase starts its matrix from `curvature` where one is given (the
    `TrainResult.curvature` of a neighbouring problem), and from the identity otherwise.
    """
    parameters = list(parameters)
    history = History()
    start = time.perf_counter()
    total = budget.adam_steps + budget.iterations
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
        for name, value in term_values(network).items():
            history.terms.setdefault(name, []).append(value)
        for name, value in tracked_values().items():
            history.tracked.setdefault(name, []).append(value)
        bar.set_postfix(loss=f"{loss:.2e}", rel_l2=f"{error:.2e}", refresh=False)
        if budget.target_error is not None and error <= budget.target_error:
            return "target error reached"
        if budget.target_loss is not None and loss <= budget.target_loss:
            return "target loss reached"
        if budget.max_seconds is not None and elapsed >= budget.max_seconds:
            return "time limit reached"
        return None

    term_values = getattr(loss_fn, "term_values", lambda _: {})
    tracked_values = getattr(loss_fn, "tracked_values", dict)
    every = getattr(loss_fn, "resample_every", 0)
    resample = (lambda: loss_fn.resample(network)) if every else None
    reweight_every = getattr(loss_fn, "reweight_every", 0)

    def reweight(balance: bool) -> bool:
        return loss_fn.reweight(network, balance, parameters)

    keeper = None
    if state is not None:
        keeper = _StateKeeper(state, parameters, loss_fn, history, lambda: time.perf_counter() - start)
    step, stopped, ended = 0, None, None
    if saved is not None:
        step = keeper.restore(saved)
        start -= saved["seconds"]
        bar.update(step + saved["done"])
    else:
        if reweight_every:
            reweight(True)
        stopped = record(0, float(objective().detach()))
    try:
        if saved is None and budget.adam_steps and stopped is None and parameters:
            stopped, step = _run_adam(objective, parameters, budget, record, bar, eval_every,
                                      reweight if reweight_every else None, reweight_every)
        if budget.iterations and stopped is None and parameters:
            history.optimizer = _quasi_newton_method(budget.optimizer, parameters, label)
            reweight_only = (lambda: reweight(False)) if reweight_every else None
            if history.optimizer in DENSE_METHODS:
                optimizer = DenseQuasiNewton(parameters, objective, history.optimizer,
                                             state=saved and saved["optimizer"], inverse_hessian=curvature)
                stopped, step = _run_dense(optimizer, budget.iterations, record, bar, eval_every, step, resample,
                                           every, reweight_only, reweight_every, keeper, saved)
                ended = optimizer.inverse_hessian
            else:
                stopped, step = _run_lbfgs(objective, parameters, budget.iterations, record, bar, eval_every, step,
                                           resample, every, reweight_only, reweight_every, keeper, saved)
    finally:
        bar.close()
    return TrainResult(history, time.perf_counter() - start, step, stopped or "budget used", ended)


class _StateKeeper:
    """Saves and restores what a quasi-Newton phase needs to go on where it stopped."""

    def __init__(self, state: TrainingState, parameters: list[torch.nn.Parameter], loss_fn, history: History,
                 elapsed: Callable[[], float]) -> None:
        self.state, self.parameters, self.loss_fn, self.history, self.elapsed = (
            state, parameters, loss_fn, history, elapsed)

    def due(self, done: int) -> bool:
        return done % self.state.every == 0

    def save(self, step: int, done: int, optimizer: dict) -> None:
        loss_state = self.loss_fn.state_dict() if hasattr(self.loss_fn, "state_dict") else None
        self.state.save({
            "step": step, "done": done, "seconds": self.elapsed(), "optimizer": optimizer,
            "parameters": [p.detach().clone() for p in self.parameters], "loss": loss_state,
            "history": self.history.as_dict(),
        })

    def restore(self, saved: dict) -> int:
        """Put the parameters, the loss and the history back; the Adam steps before the phase."""
        with torch.no_grad():
            for parameter, value in zip(self.parameters, saved["parameters"], strict=True):
                parameter.copy_(value)
        if saved["loss"] is not None:
            self.loss_fn.load_state_dict(saved["loss"])
        for name, value in saved["history"].items():
            setattr(self.history, name, value)
        return saved["step"]


def _quasi_newton_method(requested: str, parameters: list[torch.nn.Parameter], label: str) -> str:
    """`requested`, or L-BFGS where its dense matrix would not fit (said in one line)."""
    n = sum(p.numel() for p in parameters)
    if requested in DENSE_METHODS and not dense_fits(n):
        print(f"pinn-pac: {label}: {n} parameters need {dense_bytes(n) / 2**30:.1f} GiB for a dense method; "
              f"using L-BFGS instead of {requested}", file=sys.stderr)
        return "lbfgs"
    return requested


def _run_adam(objective, parameters, budget, record, bar, eval_every, reweight, reweight_every):
    """Adam; the loss's weights (if any) renewed and balanced every `reweight_every` steps."""
    optimizer = torch.optim.Adam(parameters, lr=budget.adam_lr)
    for step in range(1, budget.adam_steps + 1):
        _check_stop()
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


def _run_dense(optimizer, iterations, record, bar, eval_every, step, resample, every,
               reweight, reweight_every, keeper=None, saved=None):
    """`iterations` of a dense quasi-Newton `optimizer`; RAD every `every` iterations and causal
    weights renewed every `reweight_every` (balance weights stay frozen) keep H. With a
    `keeper`, the state is saved every so many iterations; from `saved`, it goes on."""
    for done in range((saved["done"] if saved else 0) + 1, iterations + 1):
        _check_stop()
        loss = optimizer.step()
        bar.update()
        if optimizer.stalled:
            return record(step + done, loss) or f"{optimizer.method} stalled", step + done
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
        if keeper is not None and keeper.due(done) and done < iterations:
            keeper.save(step, done, optimizer.state_dict())
    return None, step + iterations


def _new_lbfgs(parameters, chunk):
    # Tolerances at zero: in float32 torch's defaults stop L-BFGS long before the budget.
    # A stall (no decrease over a chunk of iterations) is handled by the caller instead.
    return torch.optim.LBFGS(
        parameters, lr=1.0, max_iter=chunk, max_eval=4 * chunk, history_size=50,
        tolerance_grad=0.0, tolerance_change=0.0, line_search_fn="strong_wolfe",
    )


def _run_lbfgs(objective, parameters, iterations, record, bar, eval_every, step, resample, every,
               reweight, reweight_every, keeper=None, saved=None):
    """L-BFGS in chunks of `eval_every` iterations. On a stall (a chunk that does not lower
    the loss) the curvature history is dropped and L-BFGS restarts; a second stall in a
    row ends the phase. After a RAD redraw the history is dropped too, and causal weights
    are renewed there (only there: L-BFGS keeps no history across a changed objective).
    With a `keeper`, the state is saved at the first chunk end past every so many
    iterations; from `saved`, it goes on."""
    optimizer = _new_lbfgs(parameters, eval_every)

    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss = objective()
        loss.backward()
        return loss

    done, best, restarted, redrawn = 0, math.inf, False, 0
    if saved is not None:
        kept = saved["optimizer"]
        optimizer.load_state_dict(kept["lbfgs"])
        done, best, restarted, redrawn = saved["done"], kept["best"], kept["restarted"], kept["redrawn"]
    while done < iterations:
        _check_stop()
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
        if keeper is not None and done // keeper.state.every > (done - advanced) // keeper.state.every \
                and done < iterations:
            keeper.save(step, done, {"lbfgs": optimizer.state_dict(), "best": best, "restarted": restarted,
                                     "redrawn": redrawn})
    return None, step + done
