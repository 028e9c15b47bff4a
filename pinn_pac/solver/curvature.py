"""Approximate standard errors of identified coefficients from the Gauss-Newton curvature.

The identification loss is a sum of squares L = sum r_i^2 over rows r: the data mismatches,
scaled as the misfit scales them, then the residual at the collocation points (a subset of
CURVATURE_POINTS) and each soft condition's mismatch, scaled as their loss terms are. With J
the rows' Jacobian in every trained parameter (network and unknowns' raw parameters), the Gauss-Newton curvature of L is
2 J^T J. Reading L / (2 tau^2) as a negative log-likelihood, with tau^2 the data rows' mean
square at the optimum (the noise the fit leaves), the raw unknowns' covariance is tau^2 times
the unknowns' block of (J^T J)^-1, found as the inverse of J_c^T (I - P) J_c, where P
projects onto the columns of the network's part J_n (the network's directions the rows do not
see drop out). This is an approximation: it is local, treats the physics as data of the same
weight, ignores that the network could fit some of the noise, and leaves causal weights out.
"""

from __future__ import annotations

import torch
from torch.func import functional_call, jvp, vmap

from .observations import IdentificationLoss

#: Collocation points whose residual rows enter (a strided subset of the loss's, each row
#: weighted so their mean stands for the loss's mean): the Jacobian costs one forward pass
#: per parameter over these points.
CURVATURE_POINTS = 2000
#: Singular values of J_n below this share of the largest are taken as zero.
RANK_TOLERANCE = 1e-10
#: Largest Jacobian computed (bytes of float64): beyond it no standard error is given.
MAX_JACOBIAN_BYTES = 2 * 2**30


class _Rows(torch.nn.Module):
    """The least-squares rows of an identification loss, as a function of the parameters of
    `network` and `loss.unknowns` (so that `torch.func` can differentiate them)."""

    def __init__(self, loss: IdentificationLoss, network: torch.nn.Module) -> None:
        super().__init__()
        self.loss, self.network, self.unknowns = loss, network, loss.unknowns
        interior = loss.physics.points.interior
        self.interior = interior[:: -(-len(interior) // CURVATURE_POINTS)]

    def forward(self) -> torch.Tensor:
        loss, physics = self.loss, self.loss.physics
        mismatch = loss.mismatch(self.network)
        data = mismatch * (loss.data_weight / (mismatch.shape[1] * len(mismatch) * loss.scale)).sqrt()
        residual = physics.scaled_residual(self.network, self.interior, "forward")
        rows = [data.flatten(), residual.flatten() * (physics.weights["residual"] / residual.numel()) ** 0.5]
        for condition, derivatives in zip(physics.points.conditions, physics.condition_derivatives):
            soft = physics.condition_mismatch(self.network, condition, derivatives)
            rows.append(soft.flatten() * (physics.weights[condition.condition.name] / soft.numel()) ** 0.5)
        return torch.cat(rows)


def _jacobian(rows_module: _Rows, params: dict[str, torch.Tensor]) -> torch.Tensor:
    """d rows / d parameters (rows x parameters, in the order of `params`), by forward mode:
    one Jacobian-vector product per parameter, 16 at a time (measured faster than more)."""
    shapes = [(name, p.shape, p.numel()) for name, p in params.items()]
    flat = torch.cat([p.reshape(-1) for p in params.values()])

    def rows_of(vector: torch.Tensor) -> torch.Tensor:
        pieces, offset = {}, 0
        for name, shape, numel in shapes:
            pieces[name] = vector[offset : offset + numel].reshape(shape)
            offset += numel
        return functional_call(rows_module, pieces, ())

    directions = torch.eye(len(flat), dtype=flat.dtype, device=flat.device)
    columns = vmap(lambda v: jvp(rows_of, (flat,), (v,))[1], chunk_size=16)(directions)
    return columns.T


def _reverse_jacobian(rows_module: _Rows, chunk: int = 32) -> torch.Tensor:
    """d rows / d parameters by reverse mode, `chunk` rows per batched backward pass: for rows
    whose derivatives nested autograd takes, which torch.func's transforms cannot enter."""
    parameters = list(rows_module.parameters())
    with torch.enable_grad():
        rows = rows_module()
        identity = torch.eye(len(rows), dtype=rows.dtype, device=rows.device)
        blocks = []
        for start in range(0, len(rows), chunk):
            directions = identity[start : start + chunk]
            gradients = torch.autograd.grad(rows, parameters, grad_outputs=directions, retain_graph=True,
                                            is_grads_batched=True, allow_unused=True)
            blocks.append(torch.cat([
                (torch.zeros(len(directions), p.numel(), dtype=rows.dtype, device=rows.device) if g is None
                 else g.reshape(len(directions), -1)) for p, g in zip(parameters, gradients)], dim=1))
    return torch.cat(blocks).detach()


def data_rows_mean_square(loss: IdentificationLoss, network: torch.nn.Module) -> float:
    """tau^2: the mean square of the data rows (mismatches scaled as the misfit scales them)."""
    with torch.no_grad():
        misfit = float(loss.misfit(network))
    return loss.data_weight * misfit / (len(loss.observations.values) * len(loss.observations))


def standard_errors(loss: IdentificationLoss, network: torch.nn.Module) -> dict[str, float] | str:
    """Each unknown's approximate standard error at the present parameters, or the reason
    none can be given (a Jacobian too large, a network the forward-mode path cannot take,
    an unknown the rows do not see)."""
    rows_module = _Rows(loss, network)
    params = {name: p.detach() for name, p in rows_module.named_parameters()}
    with torch.enable_grad():  # the exact form's derivatives are taken (and cached) here, outside the transform
        count = len(rows_module().detach())
    size = sum(p.numel() for p in params.values())
    if 8 * count * size > MAX_JACOBIAN_BYTES:
        return f"the Jacobian ({count:,} rows x {size:,} parameters) is larger than {MAX_JACOBIAN_BYTES / 2**30:.0f} GiB"
    try:
        jacobian = _jacobian(rows_module, params)
    except RuntimeError:  # derivatives only nested autograd takes (order 3-4, Fourier features)
        jacobian = _reverse_jacobian(rows_module)
    # The network's parameters come first, then one scalar per unknown (their order in `_Rows`).
    n_unknowns = len(loss.unknowns.names)
    network_part, unknown_part = jacobian[:, : size - n_unknowns], jacobian[:, size - n_unknowns :]
    left, singular, _ = torch.linalg.svd(network_part, full_matrices=False)
    basis = left[:, singular > RANK_TOLERANCE * singular[0]]
    unexplained = unknown_part - basis @ (basis.T @ unknown_part)
    curvature = unexplained.T @ unexplained
    eigenvalues = torch.linalg.eigvalsh(curvature)
    if not eigenvalues[0] > RANK_TOLERANCE * eigenvalues[-1].clamp_min(0):
        return "the rows do not determine every unknown apart from the network (singular curvature)"
    covariance = data_rows_mean_square(loss, network) * torch.linalg.inv(curvature)
    unknowns = loss.unknowns
    return {name: abs(unknowns.derivative(name)) * float(covariance[k, k]) ** 0.5
            for k, name in enumerate(unknowns.names)}
