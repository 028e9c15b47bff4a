"""``"lm"``: Levenberg-Marquardt steps on a loss written as a sum of squared rows
(`least_squares.LeastSquares`), for trainings of a few hundred to a few thousand weights.

A step solves (J^T J + lambda m I) p = -J^T r with m the mean of diag(J^T J) (Levenberg's
damping, scaled to the problem) and keeps p if it lowers the loss: lambda is then divided by 3,
otherwise multiplied by 4 and the step solved again. Measured on PAC-Net's calibration of
Burgers members (benchmarks/pac_gauss_newton.py), it reaches 3e-4 and 2e-4 in a quarter of
SSBroyden's seconds, but not 1e-4 sooner. It has the interface `phases.run_dense` drives (`step`, `refresh`,
`stalled`, `state_dict`).
"""

from __future__ import annotations

import torch

from .least_squares import LeastSquares
from .optim import assign_flat

#: Lambda's start, and the range it stays in (past the top no step lowers the loss: stalled).
INITIAL_DAMPING, SMALLEST_DAMPING, LARGEST_DAMPING = 1e-3, 1e-15, 1e8
DAMPING_DOWN, DAMPING_UP = 3.0, 4.0


class LevenbergMarquardt:
    """Damped Gauss-Newton steps over `problem`'s trained parameters."""

    method = "lm"
    inverse_hessian = None  # no quasi-Newton matrix to hand on

    def __init__(self, problem: LeastSquares, state: dict | None = None) -> None:
        self.problem = problem
        self.parameters = problem.parameters
        self.damping = float(state["damping"]) if state else INITIAL_DAMPING
        self.stalled = False
        self.loss = self.refresh()

    def state_dict(self) -> dict:
        return {"damping": self.damping}

    def refresh(self) -> float:
        """The loss now (after the points or weights of the loss changed)."""
        self.loss = float(self.problem.rows().square().sum())
        return self.loss

    def step(self) -> float:
        """One accepted step, or none (stalled); the loss after it."""
        rows, jacobian = self.problem.rows_and_jacobian()
        current = float(rows.square().sum())
        normal, gradient = jacobian.T @ jacobian, jacobian.T @ rows
        scale = float(normal.diagonal().mean()) or 1.0
        start = self._flat()
        identity = torch.eye(len(gradient), dtype=normal.dtype, device=normal.device)
        while self.damping < LARGEST_DAMPING:
            step, info = torch.linalg.solve_ex(normal + (self.damping * scale) * identity, -gradient)
            if info == 0 and torch.isfinite(step).all():
                self._assign(start + step)
                trial = float(self.problem.rows().square().sum())
                if trial < current:
                    self.damping = max(self.damping / DAMPING_DOWN, SMALLEST_DAMPING)
                    self.loss = trial
                    return trial
            self._assign(start)
            self.damping *= DAMPING_UP
        self.stalled = True
        self.loss = current
        return current

    def _flat(self) -> torch.Tensor:
        return torch.cat([p.detach().flatten() for p in self.parameters])

    def _assign(self, values: torch.Tensor) -> None:
        assign_flat(self.parameters, values)
