"""The phases of a training run, each one loop: Adam, a dense quasi-Newton method, L-BFGS;
and the keeper that saves a quasi-Newton phase's state as it goes and restores it (see `train`)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable

import torch

from .interrupts import check_stop

if TYPE_CHECKING:
    from .train import History, TrainingState
    from .training_loss import TrainingLoss


class StateKeeper:
    """Saves and restores what a quasi-Newton phase needs to go on where it stopped."""

    def __init__(self, state: TrainingState, parameters: list[torch.nn.Parameter], loss_fn: TrainingLoss,
                 history: History,
                 elapsed: Callable[[], float]) -> None:
        self.state, self.parameters, self.loss_fn, self.history, self.elapsed = (
            state, parameters, loss_fn, history, elapsed)

    def due(self, done: int) -> bool:
        return done % self.state.every == 0

    def save(self, step: int, done: int, optimizer: dict) -> None:
        loss_state = self.loss_fn.state_dict()
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



def run_adam(objective, parameters, budget, record, bar, eval_every, reweight, reweight_every):
    """Adam; the loss's weights (if any) renewed and balanced every `reweight_every` steps."""
    optimizer = torch.optim.Adam(parameters, lr=budget.adam_lr)
    for step in range(1, budget.adam_steps + 1):
        check_stop()
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


def run_dense(optimizer, iterations, record, bar, eval_every, step, resample, every,
               reweight, reweight_every, keeper=None, saved=None):
    """`iterations` of a dense quasi-Newton `optimizer`; RAD every `every` iterations and causal
    weights renewed every `reweight_every` (balance weights stay frozen) keep H. With a
    `keeper`, the state is saved every so many iterations; from `saved`, it goes on."""
    for done in range((saved["done"] if saved else 0) + 1, iterations + 1):
        check_stop()
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


def run_lbfgs(objective, parameters, iterations, record, bar, eval_every, step, resample, every,
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
        check_stop()
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
