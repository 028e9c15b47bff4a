"""Levenberg-Marquardt, for a phase that trains few weights (PAC-Net's freed weights, a LoRA
adapter, a last layer): the loss as least-squares rows (`TrainingLoss.rows`), their Jacobian in
the trained weights by forward mode (one Jacobian-vector product per weight, batched; see
`curvature.forward_jacobian`), and a damped Gauss-Newton step (J^T J + lambda diag(J^T J)) d =
-J^T r, accepted where it lowers the loss (lambda / 3), retried with lambda x 2 where not."""

from __future__ import annotations

import math

import torch
from torch import nn

from equations.errors import InputError

from .curvature import forward_jacobian
from .interrupts import check_stop
from .training_loss import TrainingLoss

#: The damping a phase starts from, relative to the largest diagonal entry of J^T J.
START_DAMPING = 1e-3
#: Damping past which no step lowers the loss: the phase has stalled.
MAX_DAMPING = 1e12


class _Rows(nn.Module):
    """The loss's rows as a module holding the network, so that `torch.func` can swap the
    trained weights in."""

    def __init__(self, loss: TrainingLoss, network: nn.Module) -> None:
        super().__init__()
        self.loss, self.network = loss, network

    def forward(self) -> torch.Tensor:
        return self.loss.rows(self.network)


class LevenbergMarquardt:
    """Levenberg-Marquardt steps on `parameters` (each a weight of `network`) for `loss`."""

    def __init__(self, network: nn.Module, loss: TrainingLoss, parameters: list[nn.Parameter],
                 state: dict | None = None) -> None:
        self.rows_module = _Rows(loss, network)
        names = {id(p): name for name, p in self.rows_module.named_parameters(remove_duplicate=False)}
        if any(id(p) not in names for p in parameters):
            raise InputError("lm: every trained weight must be a parameter of the network it trains")
        self.names = [names[id(p)] for p in parameters]
        self.parameters = parameters
        self.damping = state["damping"] if state else None
        self.stalled = False
        with torch.enable_grad():  # an exact form's derivatives are taken (and cached) outside the transform
            self.cost = self._cost()

    def _cost(self) -> float:
        return float(self.rows_module().detach().square().sum())

    def step(self) -> float:
        """One accepted step (or, where none lowers the loss, `stalled`); the loss after it."""
        values = {name: p.detach() for name, p in zip(self.names, self.parameters)}
        jacobian = forward_jacobian(self.rows_module, values)
        with torch.no_grad():
            rows = self.rows_module()
        normal = jacobian.T @ jacobian
        gradient = jacobian.T @ rows
        scale = normal.diagonal().clamp_min(torch.finfo(normal.dtype).tiny)
        if self.damping is None:
            self.damping = START_DAMPING * float(scale.max())
        before = [p.detach().clone() for p in self.parameters]
        while True:
            check_stop()
            delta = torch.linalg.solve(normal + self.damping * torch.diag(scale), -gradient)
            self._set(before, delta)
            cost = self._cost()
            if math.isfinite(cost) and cost < self.cost:
                self.cost, self.damping = cost, self.damping / 3
                return cost
            self.damping *= 2
            if self.damping > MAX_DAMPING * float(scale.max()):
                self._set(before, torch.zeros_like(delta))
                self.stalled = True
                return self.cost

    def _set(self, start: list[torch.Tensor], delta: torch.Tensor) -> None:
        offset = 0
        with torch.no_grad():
            for parameter, value in zip(self.parameters, start):
                parameter.copy_(value + delta[offset: offset + value.numel()].view_as(value))
                offset += value.numel()

    def state_dict(self) -> dict:
        return {"damping": self.damping}
