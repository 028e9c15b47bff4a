"""Quasi-Newton phases over the flattened trainable parameters.

* ``"ssbroyden"`` (default), ``"ssbfgs"``, ``"bfgs"``: a dense inverse-Hessian approximation
  H (float64, 8 N^2 bytes for N parameters), the direction p = -H g and a strong-Wolfe line
  search. SSBroyden is the self-scaled Broyden update of Urban, Stefanou and Pons (2024,
  arXiv 2405.04230, eqs. 13-23) as used for PINNs by Kiyani et al. (2025, arXiv 2501.16371);
  SSBFGS is Al-Baali's self-scaled BFGS. Safeguards: the update is skipped when y.s <= 0
  and H is reset to the identity when p is not a descent direction.
* ``"lbfgs"``: torch's L-BFGS (history 50, strong Wolfe), for networks whose dense matrix
  would not fit `DENSE_MEMORY_LIMIT`.

``"lm"`` (Levenberg-Marquardt on the loss's rows) is no quasi-Newton method; it lives in
`levenberg`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from equations.errors import InputError

DENSE_METHODS = ("ssbroyden", "ssbfgs", "bfgs")
OPTIMIZERS = (*DENSE_METHODS, "lbfgs", "lm")
#: A phase's default budget given in quasi-Newton iterations is this many times its lm steps:
#: an lm step solves the Gauss-Newton system (PAC-Net's Burgers members: 120 lm steps ended
#: where SSBroyden's ~1,200 iterations did, in a third of the seconds; pac_gauss_newton.py).
ITERATIONS_PER_LM_STEP = 20
#: Most memory a dense method may take, in bytes (2 GiB: about 9,400 parameters).
DENSE_MEMORY_LIMIT = 2 * 1024**3
#: n x n float64 matrices alive at once: H, the one work matrix of its update (each outer
#: product, then H + H', in turn) and, in a resumed or continued phase, the matrix it started
#: from, which its caller keeps.
MATRICES_AT_PEAK = 3


def dense_bytes(n_parameters: int) -> int:
    """Peak memory of a dense quasi-Newton method over `n_parameters`, in bytes."""
    return MATRICES_AT_PEAK * 8 * n_parameters**2


def dense_fits(n_parameters: int, limit: int | None = None) -> bool:
    """Whether a dense method's peak memory fits `limit` bytes (`DENSE_MEMORY_LIMIT` by default)."""
    return dense_bytes(n_parameters) <= (DENSE_MEMORY_LIMIT if limit is None else limit)


def assign_flat(parameters: list[torch.nn.Parameter], values: torch.Tensor) -> None:
    """Copy the flat vector `values` into `parameters`, in order."""
    with torch.no_grad():
        offset = 0
        for p in parameters:
            p.copy_(values[offset : offset + p.numel()].view_as(p))
            offset += p.numel()


class DenseQuasiNewton:
    """A dense quasi-Newton method over `parameters`, minimising `objective()`.

    `step()` makes one iteration (direction, line search, update) and returns the new loss;
    `refresh()` re-evaluates loss and gradient in place (after the collocation points changed),
    keeping H. `stalled` turns True when not even a step along -g lowers the loss. H starts
    as the identity (its first step scaled), or as `inverse_hessian`, taken as it is: the
    matrix another minimisation ended with, for a neighbouring problem.
    """

    def __init__(self, parameters: list[torch.nn.Parameter], objective: Callable[[], torch.Tensor],
                 method: str = "ssbroyden", state: dict | None = None,
                 inverse_hessian: torch.Tensor | None = None) -> None:
        if method not in DENSE_METHODS:
            raise InputError(f"unknown dense quasi-Newton method {method!r}; use one of {', '.join(DENSE_METHODS)}")
        self.parameters, self.objective, self.method = parameters, objective, method
        self.n = sum(p.numel() for p in parameters)
        self._work: torch.Tensor | None = None  # the update's scratch matrix, made at its first use
        if state is not None:  # go on where `state_dict` was taken: no evaluation needed
            # Copies on the parameters' device: a saved state is loaded on the CPU.
            device = parameters[0].device
            self.inverse_hessian, self.x, self.gradient = (
                state[key].to(device, copy=True) for key in ("inverse_hessian", "x", "gradient"))
            self.fresh, self.stalled, self.loss = state["fresh"], state["stalled"], state["loss"]
            self._assign(self.x)
            return
        if inverse_hessian is None:
            self.reset()
        elif inverse_hessian.shape != (self.n, self.n):
            raise InputError(f"an inverse Hessian of shape {tuple(inverse_hessian.shape)} for {self.n} parameters")
        else:
            self.inverse_hessian, self.fresh = inverse_hessian.to(self.parameters[0].device, torch.float64).clone(), False
        self.stalled = False  # set when even a step along -g lowers nothing
        self.x = self._flat([p.detach() for p in parameters])
        self.loss, self.gradient = self._evaluate(self.x)

    def state_dict(self) -> dict:
        """Everything the next iteration depends on (H, x, the loss and gradient at x)."""
        return {"inverse_hessian": self.inverse_hessian, "x": self.x, "fresh": self.fresh, "stalled": self.stalled,
                "loss": self.loss, "gradient": self.gradient}

    def refresh(self) -> float:
        self.loss, self.gradient = self._evaluate(self.x)
        return self.loss

    def reset(self) -> None:
        """H back to the identity, its next step scaled."""
        self.inverse_hessian = None  # the old H freed before the new one is made
        self.inverse_hessian = torch.eye(self.n, dtype=torch.float64, device=self.parameters[0].device)
        self.fresh = True

    def step(self) -> float:
        """One iteration; the loss after it (unchanged when no step lowered it)."""
        g = self.gradient
        direction = -(self.inverse_hessian @ g)
        slope = float(direction @ g)
        if not slope < 0:
            self.reset()
            direction, slope = -g, -float(g @ g)
            if not slope < 0:
                return self.loss  # a stationary point
        first_step = min(1.0, 1.0 / float(g.abs().sum())) if self.fresh else 1.0
        search = strong_wolfe(lambda t: self._evaluate(self.x + t * direction), self.loss, g, direction,
                              first_step)
        if search.step == 0.0:  # no step lowered the loss: retry once from the identity
            self._assign(self.x)
            self.stalled = self.fresh
            self.reset()
            return self.loss
        s = search.step * direction
        y = search.gradient - g
        self.x = self.x + s
        self._assign(self.x)
        self._update(s, y, search.step, g)
        self.loss, self.gradient = search.loss, search.gradient
        return self.loss

    def _update(self, s: torch.Tensor, y: torch.Tensor, step: float, g: torch.Tensor) -> None:
        sy = float(s @ y)
        if not sy > 0:
            return  # curvature condition failed: keep H
        rho = 1.0 / sy
        hy = self.inverse_hessian @ y
        yhy = float(y @ hy)
        if not yhy > 0:
            self.reset()
            return
        if self.fresh:  # scale the identity to the curvature seen (Nocedal, Wright eq. 6.20)
            yy = float(y @ y)
            self.inverse_hessian.mul_(sy / yy)
            hy, yhy = hy * (sy / yy), yhy * sy / yy  # H was the identity: no second product
            self.fresh = False
        phi, tau = self._scaling(rho * yhy, -step * rho * float(s @ g))
        v = rho * s - hy / yhy
        # The same operations as on fresh tensors, in one reused work matrix: fresh n x n
        # tensors cost their page faults (at 1,341 weights, 14.6 ms an update against 4.7 ms).
        h, work = self.inverse_hessian, self._work_matrix()
        h.sub_(torch.outer(hy, hy, out=work), alpha=1.0 / yhy)
        h.add_(torch.outer(v, v, out=work), alpha=phi * yhy)
        h.div_(tau).add_(torch.outer(s, s, out=work), alpha=rho)
        torch.div(torch.add(h, h.T, out=work), 2, out=h)  # symmetric to round-off

    def _work_matrix(self) -> torch.Tensor:
        if self._work is None:
            self._work = torch.empty_like(self.inverse_hessian)
        return self._work

    def _scaling(self, h: float, b: float) -> tuple[float, float]:
        """(phi, tau) of the update H <- (H - Hy Hy'/yHy + phi yHy v v') / tau + rho s s'.

        h = rho y.H.y and b = s.B.s / s.y (B = H^-1). BFGS: phi = tau = 1.
        """
        if self.method == "bfgs":
            return 1.0, 1.0
        if self.method == "ssbfgs":
            return 1.0, min(1.0, 1.0 / b)
        a = max(b * h - 1.0, 0.0)  # >= 0 by Cauchy-Schwarz; clipped against round-off
        if a < 1e-12:
            theta = 0.0
        else:
            rho_minus = min(1.0, h * (1.0 - math.sqrt(a / (1.0 + a))))
            theta_minus, theta_plus = (rho_minus - 1.0) / a, 1.0 / rho_minus if rho_minus > 0 else math.inf
            theta = max(theta_minus, min(theta_plus, (1.0 - b) / b))
        sigma = 1.0 + theta * a
        sigma_tilde = abs(sigma) ** (1.0 / (1.0 - self.n)) if self.n > 1 else 1.0
        if theta <= 0:
            tau = min(min(1.0, 1.0 / b) * sigma_tilde, sigma)
        else:
            tau = min(1.0, 1.0 / b) * min(sigma_tilde, 1.0 / theta)
        phi = (1.0 - theta) / (1.0 + a * theta)
        return phi, tau

    def _flat(self, tensors) -> torch.Tensor:
        return torch.cat([t.reshape(-1) for t in tensors]).to(torch.float64)

    def _assign(self, x: torch.Tensor) -> None:
        assign_flat(self.parameters, x)

    def _evaluate(self, x: torch.Tensor) -> tuple[float, torch.Tensor]:
        self._assign(x)
        loss = self.objective()
        gradients = torch.autograd.grad(loss, self.parameters, allow_unused=True)
        flat = self._flat([torch.zeros_like(p) if g is None else g for p, g in zip(self.parameters, gradients)])
        return float(loss.detach()), flat


def default_steps(optimizer: str, iterations: int) -> int:
    """A phase's default step count for `optimizer`, from its default quasi-Newton iterations."""
    return max(1, iterations // ITERATIONS_PER_LM_STEP) if optimizer == "lm" else iterations


@dataclass
class LineSearchResult:
    step: float  # 0 when no point lowered the loss
    loss: float
    gradient: torch.Tensor


def strong_wolfe(
    evaluate: Callable[[float], tuple[float, torch.Tensor]],
    loss: float,
    gradient: torch.Tensor,
    direction: torch.Tensor,
    step: float = 1.0,
    c1: float = 1e-4,
    c2: float = 0.9,
    max_evaluations: int = 25,
) -> LineSearchResult:
    """A step along `direction` meeting the strong Wolfe conditions (Nocedal, Wright,
    Numerical Optimization, algorithms 3.5 and 3.6, with safeguarded cubic interpolation).

    `evaluate(t)` gives loss and gradient at x + t * direction. A non-finite loss counts as
    too large. If the evaluations run out, the lowest point found that met the sufficient
    decrease condition is returned; if none did, step 0.
    """
    slope0 = float(gradient @ direction)
    best = LineSearchResult(0.0, loss, gradient)
    previous = (0.0, loss, slope0)
    evaluations = 0

    def probe(t: float) -> tuple[float, float, torch.Tensor]:
        nonlocal best, evaluations
        evaluations += 1
        f, g = evaluate(t)
        f = f if math.isfinite(f) else math.inf
        if f <= loss + c1 * t * slope0 and f < best.loss:
            best = LineSearchResult(t, f, g)
        return f, float(g @ direction) if math.isfinite(f) else math.nan, g

    def zoom(low: tuple, high: tuple) -> LineSearchResult:
        while evaluations < max_evaluations and abs(high[0] - low[0]) > 1e-12 * max(1.0, abs(low[0])):
            t = _interpolate(low, high)
            f, slope, g = probe(t)
            if f > loss + c1 * t * slope0 or f >= low[1]:
                high = (t, f, slope)
            else:
                if abs(slope) <= -c2 * slope0:
                    return LineSearchResult(t, f, g)
                if slope * (high[0] - low[0]) >= 0:
                    high = low
                low = (t, f, slope)
        return best

    t = step
    while evaluations < max_evaluations:
        f, slope, g = probe(t)
        if f > loss + c1 * t * slope0 or (evaluations > 1 and f >= previous[1]):
            return zoom(previous, (t, f, slope))
        if abs(slope) <= -c2 * slope0:
            return LineSearchResult(t, f, g)
        if slope >= 0:
            return zoom((t, f, slope), previous)
        previous, t = (t, f, slope), 2.0 * t
    return best


def _interpolate(low: tuple, high: tuple) -> float:
    """The cubic's minimiser through both ends (value and slope), kept 10% inside the
    interval; the midpoint where the cubic has none or an end is not finite."""
    (a, fa, da), (b, fb, db) = low, high
    lo, hi = min(a, b), max(a, b)
    margin = 0.1 * (hi - lo)
    if all(math.isfinite(v) for v in (fa, fb, da, db)):
        d1 = da + db - 3 * (fa - fb) / (a - b)
        square = d1 * d1 - da * db
        if square >= 0:
            d2 = math.copysign(math.sqrt(square), b - a)
            denominator = db - da + 2 * d2
            if denominator != 0:
                t = b - (b - a) * (db + d2 - d1) / denominator
                if math.isfinite(t):
                    return min(max(t, lo + margin), hi - margin)
    return (lo + hi) / 2
