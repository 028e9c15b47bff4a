"""A start layer: the heat that flows in at once where boundary data disagree with the initial data.

Where a Neumann or Robin condition on a region's boundary asks at the first time t0 for what
the initial data do not give (u0 = 0 against du/dn + u = 5 on a hole: heat flowing in from the
first instant), the solution near that boundary grows like sqrt(t - t0) in a layer of width
sqrt(t - t0). A form u = u0 + (t - t0) N (the initial data built in) cannot carry it: it would
need dN/dn ~ 1 / (t - t0), the residual there rules the loss and every RAD redraw finds the
corner again (PINNacle's Heat2d-CG: stuck at 2e-2; benchmarks/README.md).

The half-space solution carries it. For u_t = kappa u_dd on d > 0 with data switched on at
t0, -u_d + alpha u = g at d = 0 (d the distance into the domain, so -u_d is du/dn):

    alpha > 0:  L = (g / alpha) [erfc(z) - exp(-z^2) erfcx(z + alpha sqrt(kappa tau))]
    alpha = 0:  L = 2 g sqrt(kappa tau) ierfc(z),  ierfc(z) = exp(-z^2) / sqrt(pi) - z erfc(z)

with tau = t - t0 and z = d / (2 sqrt(kappa tau)) (Carslaw & Jaeger, "Conduction of Heat in
Solids", 2.7 and 2.9; erfcx keeps the Robin form finite). It vanishes at t0, meets the data
exactly on a flat piece, and its own residual on a curved one is bounded (the curvature times
its slope). The built form's offset gains the sum of L over each disagreeing condition's
pieces (d: the signed distance to the surface each piece lies on, `Shape.surface_distances`;
a sphere's level, which the distance features use, made the layer too thin away from small
holes and the probe on Heat2d-CG stayed at 1.7e-2), with g the condition's data at
t0 minus alpha u0 there (u0's normal derivative, which counts in telling whether the data
disagree, is left to the network): the network then fits a remainder that starts smoothly. The layer is
built only where everything it assumes holds: one output, a time input, the initial data
built in, a residual u_t - kappa laplace(u) + (terms without u_t or u's second derivatives in
the region's coordinates) with a constant kappa > 0, and no Dirichlet data built on the
region (the layer would move them).
"""

from __future__ import annotations

import math
from typing import Callable, Collection

import numpy as np
import torch

from equations import BoundaryCondition, DirichletCondition, Equation
from equations.base import Region

from .derivative_names import derivative_name
from .sampling import boundary_points

Function = Callable[[torch.Tensor], torch.Tensor]
TIME = "t"
#: Data disagree with the initial data where their misfit at t0 exceeds this share of their size.
TOLERANCE = 1e-2
#: Points the misfit and the residual's coefficients are checked at.
_CHECK_POINTS = 256


class StartLayer:
    """The summed half-space layers of the `conditions` (names) that disagree with the initial
    data, as a function of (N, n_inputs) points giving (N, 1)."""

    def __init__(self, equation: Equation, region: Region, conditions: list[BoundaryCondition],
                 initial: DirichletCondition, kappa: float) -> None:
        distances = region.shape.surface_distances()
        seams = {piece.name for piece in region.shape.pieces() if piece.inside_other}
        self.columns = [equation.inputs.index(name) for name in region.over]
        self.time = equation.inputs.index(TIME)
        self.start = float(equation.domain[TIME][0])
        self.kappa = kappa
        self.conditions = tuple(c.name for c in conditions)
        self._parts = [(c, [distances[n] for n in region.pieces_named(c.on, c.name) if n not in seams])
                       for c in conditions]
        self._initial = initial
        #: Below this tau the layer is taken at it (its derivatives at t0 itself are not needed).
        self._least_tau = 1e-12 * (float(equation.domain[TIME][1]) - self.start)

    def __call__(self, points: torch.Tensor) -> torch.Tensor:
        at_start = points.clone()
        at_start[:, self.time] = self.start
        initial = self._initial.value(at_start)[:, :1]
        tau = (points[:, self.time : self.time + 1] - self.start).clamp_min(self._least_tau)
        spread = torch.sqrt(self.kappa * tau)
        inside = points[:, self.columns]
        total = torch.zeros_like(tau)
        for condition, distances in self._parts:
            strength = condition.value(at_start)[:, :1] - condition.alpha * initial
            for distance in distances:
                total = total + half_space(distance(inside), spread, strength, condition.alpha)
        return total

    def describe(self) -> str:
        return (f"start layer for {', '.join(self.conditions)} (their data disagree with the initial data; "
                f"diffusivity {self.kappa:.3g})")


def half_space(distance: torch.Tensor, spread: torch.Tensor, strength: torch.Tensor, alpha: float) -> torch.Tensor:
    """The layer at `distance` from the piece, `spread` = sqrt(kappa tau) (see the module)."""
    z = distance / (2 * spread)
    if alpha == 0:
        return 2 * strength * spread * (torch.exp(-z * z) / math.sqrt(math.pi) - z * torch.special.erfc(z))
    return strength / alpha * (torch.special.erfc(z) - torch.exp(-z * z) * torch.special.erfcx(z + alpha * spread))


def start_layer(equation: Equation, region: Region | None, soft: list[BoundaryCondition], built: Collection[str],
                region_data_built: bool) -> StartLayer | None:
    """The layer for `equation` on its `region` where the `soft` boundary conditions' data
    disagree with the initial data (a condition among those `built` in); None where they agree
    or the layer's assumptions fail (see the module)."""
    if (region is None or region_data_built or len(equation.outputs) != 1 or TIME not in equation.inputs
            or TIME in region.over):
        return None
    initial = _initial_condition(equation, built)
    if initial is None:
        return None
    candidates = [c for c in soft if c.kind in ("neumann", "robin") and c.where is None
                  and c.fields == equation.outputs and c.alpha >= 0]
    if not candidates:
        return None
    kappa = diffusivity(equation, region.over)
    if kappa is None:
        return None
    disagree = [c for c in candidates if _disagrees(equation, region, c, initial)]
    return StartLayer(equation, region, disagree, initial, kappa) if disagree else None


def _initial_condition(equation: Equation, built: Collection[str]) -> DirichletCondition | None:
    """The built condition giving the outputs' values at the first time, if any."""
    start = equation.domain[TIME][0]
    return next((c for c in equation.conditions() if isinstance(c, DirichletCondition) and c.name in built
                 and c.on == TIME and tuple(c.at) == (start,) and c.fields == equation.outputs), None)


def diffusivity(equation: Equation, over: tuple[str, ...]) -> float | None:
    """kappa where the residual is a (u_t - kappa sum_i u_ii) + (the rest), a and kappa > 0
    constant, i over the region's coordinates; None otherwise. Read off the residual by
    changing one field at a time at random field values (a linear residual in those fields
    changes by a fixed amount)."""
    names = [derivative_name(0, (equation.inputs.index(TIME),), equation.inputs, equation.outputs)]
    names += [derivative_name(0, (k, k), equation.inputs, equation.outputs)
              for k in (equation.inputs.index(name) for name in over)]
    if not set(names) <= set(equation.derivatives):
        return None
    rng = np.random.default_rng(0)
    keys = (*equation.outputs, *equation.derivatives, *equation.inputs)
    base = {key: torch.tensor(rng.uniform(0.1, 1.0, (_CHECK_POINTS, 1))) for key in keys}
    try:
        with torch.no_grad():
            plain = equation.residual(base)
            changes = []
            for name in names:
                for step in (1.0, 2.0):
                    changed = equation.residual({**base, name: base[name] + step})
                    changes.append((changed - plain) / step)
    except Exception:  # a residual that needs more than the fields: no layer
        return None
    if plain.shape[1] != 1:
        return None
    time_coefficient = changes[0]
    if not torch.allclose(changes[1], time_coefficient, rtol=1e-9, atol=0) or float(time_coefficient.abs().min()) == 0:
        return None
    ratios = [-(change / time_coefficient) for change in changes[2:]]
    kappa = float(ratios[0].mean())
    if kappa <= 0 or not all(torch.allclose(r, torch.full_like(r, kappa), rtol=1e-9, atol=0) for r in ratios):
        return None
    if not torch.allclose(time_coefficient, torch.full_like(time_coefficient, float(time_coefficient.mean()))):
        return None
    return kappa


def _disagrees(equation: Equation, region: Region, condition: BoundaryCondition, initial: DirichletCondition) -> bool:
    """Whether the condition's data at t0 miss what the initial data give its left side there
    (du0/dn + alpha u0) on its pieces by more than `TOLERANCE` of the larger side."""
    points, normals = boundary_points(equation, region, condition, _CHECK_POINTS, "sobol", np.random.default_rng(0))
    points[:, equation.inputs.index(TIME)] = equation.domain[TIME][0]
    at_start = torch.tensor(points, dtype=torch.float64, requires_grad=True)
    with torch.enable_grad():
        initial_values = initial.value(at_start)[:, :1]
        gradient = (torch.autograd.grad(initial_values.sum(), at_start, allow_unused=True)[0]
                    if initial_values.requires_grad else None)
    normal = 0.0 if gradient is None else (gradient * torch.from_numpy(normals)).sum(dim=1, keepdim=True)
    given = (normal + condition.alpha * initial_values).detach()
    data = condition.value(at_start.detach())[:, :1].detach()
    size = max(float(data.square().mean().sqrt()), float(given.square().mean().sqrt()))
    return size > 0 and float((data - given).square().mean().sqrt()) > TOLERANCE * size
