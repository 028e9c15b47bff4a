"""The part of a built exact form that a region's Dirichlet boundary conditions give.

On a region (see `equations.Region`) Dirichlet data on boundary pieces are built into
u = g + phi N by distance functions (Sukumar & Srivastava, "Exact imposition of boundary
conditions with distance functions in physics-informed deep neural networks", CMAME 389,
2022):

* phi vanishes on every piece with Dirichlet data: the shape's own R-function (`Shape.signed`)
  where the data cover its whole boundary, else the R-equivalence of the pieces' distances,
  phi = 1 / sum_i (1 / phi_i); scaled to a largest value of 1 over the shape;
* at a re-entrant corner of a polygon (interior angle omega > pi) between two edges with data,
  the solution goes as r^(pi/omega) sin(pi theta/omega) (Grisvard 1985), which phi N with
  phi ~ r cannot follow (N would need r^(pi/omega - 1)): there phi is bent into that singular
  function, phi <- phi ((1 - chi) + chi S / phi_corner), with phi_corner the two edges'
  distances joined and chi = (1 - (r/R)^2)^3 a cutoff within R of the corner;
* g is the data itself where one condition gives them, else the transfinite blend of the
  conditions' data g_j with weights w_j = prod_{k != j} phi_k^2 / sum_i prod_{k != i} phi_k^2
  (phi_j the distance to condition j's pieces), so that g = g_j on condition j's pieces.

The data functions are evaluated inside the region, so they must be smooth functions of the
points there (as a user writes them: "u = sin(pi x) on the hole"). Time and other interval
inputs are then handled as faces by `built_form`. What stays soft and why: Neumann and Robin
conditions (built into g + phi N they would fix the value too), conditions narrowed by a
`where` predicate (no distance function), and pieces that run inside a union (their distance
vanishes inside the domain).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from equations import BoundaryCondition, Equation, ExactForm, Polygon
from equations.base import Region
from equations.geometry import point_segment_distance

from .sampling import boundary_points

Function = Callable[[torch.Tensor], torch.Tensor]
#: Interior points over which phi is scaled to a largest value of 1.
_SCALE_POINTS = 4096


@dataclass(frozen=True)
class _Data:
    """Output `output` equals column `column` of `condition.value` on `pieces`."""

    condition: BoundaryCondition
    output: int
    column: int
    pieces: tuple[str, ...]


@dataclass
class RegionPart:
    """Per output, g and phi of the region's boundary data, and the conditions they impose."""

    offsets: list[Function]
    factors: list[Function]
    imposes: tuple[str, ...]
    data: list[_Data]


def region_part(equation: Equation, region: Region, conditions: list[BoundaryCondition],
                soft: dict[str, str]) -> RegionPart | None:
    """g and phi for the Dirichlet `conditions` that can be built in; the others are added to
    `soft` with the reason. None where none can be built."""
    flagged = {piece.name for piece in region.shape.pieces() if piece.inside_other}
    every = {piece.name for piece in region.shape.pieces()}
    data: list[_Data] = []
    for condition in conditions:
        pieces = region.pieces_named(condition.on, condition.name)
        if condition.kind != "dirichlet":
            soft[condition.name] = (f"a {condition.kind.capitalize()} condition (built into u = g + phi N it would "
                                    "fix the value too)")
        elif condition.where is not None:
            soft[condition.name] = "it holds where a predicate holds, which has no distance function"
        elif flagged & set(pieces) and set(pieces) != every:  # the whole boundary: the shape's R-function
            soft[condition.name] = (f"its piece {sorted(flagged & set(pieces))[0]} runs inside the union's other part, "
                                    "so its distance vanishes inside the domain")
        else:
            data += [_Data(condition, equation.outputs.index(name), column, pieces)
                     for column, name in enumerate(condition.fields)]
    if not data:
        return None
    columns = [equation.inputs.index(name) for name in region.over]
    distances = {piece.name: piece.distance for piece in region.shape.pieces()}
    scale_points = torch.tensor(region.shape.sample_interior(_SCALE_POINTS, np.random.default_rng(0)),
                                dtype=torch.float64)
    offsets, factors = [], []
    for k in range(len(equation.outputs)):
        mine = [d for d in data if d.output == k]
        covered = {name for d in mine for name in d.pieces}
        if not mine:
            offsets.append(_zero)
            factors.append(_one)
            continue
        if covered == every:
            phi = region.shape.signed
        else:
            phi = _joined([distances[name] for name in sorted(covered)])
        phi = _bent_at_corners(phi, region.shape, covered)
        largest = float(phi(scale_points).max())
        factors.append(_on_columns(lambda p, phi=phi, largest=largest: phi(p) / largest, columns))
        offsets.append(_blend(mine, [_joined([distances[n] for n in d.pieces]) for d in mine], columns))
    imposes = tuple(dict.fromkeys(d.condition.name for d in data))
    return RegionPart(offsets, factors, imposes, data)


def _zero(points: torch.Tensor) -> torch.Tensor:
    return torch.zeros(len(points), 1, dtype=points.dtype, device=points.device)


def _one(points: torch.Tensor) -> torch.Tensor:
    return torch.ones(len(points), 1, dtype=points.dtype, device=points.device)


def _on_columns(function: Function, columns: list[int]) -> Function:
    """`function` of the shape's inputs as a function of all the inputs."""
    return lambda points: function(points[:, columns])


def _joined(distances: list[Function]) -> Function:
    """The R-equivalence of pieces' distances, 1 / sum_i (1 / phi_i): zero on each piece."""
    if len(distances) == 1:
        return distances[0]

    def joined(points: torch.Tensor) -> torch.Tensor:
        values = [d(points) for d in distances]
        on_a_piece = torch.stack([v == 0 for v in values]).any(dim=0)  # zero there, finite gradients elsewhere
        inverse = sum(1.0 / torch.where(v == 0, torch.ones_like(v), v) for v in values)
        return torch.where(on_a_piece, torch.zeros_like(inverse), 1.0 / inverse)

    return joined


def _bent_at_corners(phi: Function, shape, covered: set[str]) -> Function:
    """`phi` bent into each re-entrant corner's singular function (see the module's docstring),
    at the corners of a polygon whose two edges are both `covered`; `phi` itself elsewhere."""
    if not isinstance(shape, Polygon):
        return phi
    vertices = shape.vertices
    count = len(vertices)
    edges = shape.pieces()
    corners = []
    for k in range(count):
        before, after = edges[k - 1], edges[k]
        if not {before.name, after.name} <= covered:
            continue
        previous, vertex, following = vertices[k - 1], vertices[k], vertices[(k + 1) % count]
        start, end = (following, previous) if shape.counterclockwise else (previous, following)
        a, b = start - vertex, end - vertex  # the interior lies counterclockwise from a to b
        omega = float(np.arctan2(a[0] * b[1] - a[1] * b[0], a @ b)) % (2 * np.pi)
        if omega <= np.pi * (1 + 1e-9):
            continue
        others = [j for j in range(count) if j not in (k - 1 if k else count - 1, k)]
        radius = 0.5 * min(float(point_segment_distance(vertex[None], vertices[j], vertices[(j + 1) % count])[0])
                           for j in others)
        bisector = float(np.arctan2(a[1], a[0])) + omega / 2
        corners.append((vertex, omega, bisector, radius, _joined([before.distance, after.distance])))
    if not corners:
        return phi

    def bent(points: torch.Tensor) -> torch.Tensor:
        value = phi(points)
        for vertex, omega, bisector, radius, adjacent in corners:
            offset = points - torch.as_tensor(vertex, dtype=points.dtype, device=points.device)
            r = offset.norm(dim=1, keepdim=True)
            # the angle from the interior's bisector, its cut outside the domain (the exterior bisector)
            turned = torch.atan2(offset[:, 1:] * np.cos(bisector) - offset[:, :1] * np.sin(bisector),
                                 offset[:, :1] * np.cos(bisector) + offset[:, 1:] * np.sin(bisector))
            theta = turned + omega / 2
            alpha = np.pi / omega
            singular = r ** alpha * torch.sin(alpha * theta)
            ratio = singular / (adjacent(points) + 1e-12 * radius)
            cutoff = torch.clamp(1 - (r / radius) ** 2, min=0) ** 3
            value = value * ((1 - cutoff) + cutoff * ratio)
        return value

    return bent


def _blend(data: list[_Data], distances: list[Function], columns: list[int]) -> Function:
    """g for one output: the data where one condition gives them, else their transfinite blend."""
    def value(d: _Data, points: torch.Tensor) -> torch.Tensor:
        return d.condition.value(points)[:, d.column : d.column + 1]

    if len(data) == 1:
        return lambda points: value(data[0], points)

    def blended(points: torch.Tensor) -> torch.Tensor:
        # products of len - 1 squares of distances stay normal numbers
        tiny = float(torch.finfo(points.dtype).tiny) ** (1 / (2 * (len(distances) - 1)))
        squares = [distance(points[:, columns]).clamp_min(tiny) ** 2 for distance in distances]
        products = [torch.prod(torch.stack([s for i, s in enumerate(squares) if i != j]), dim=0)
                    for j in range(len(squares))]
        total = sum(products)
        return sum(w / total * value(d, points) for w, d in zip(products, data))

    return blended


def check_region_part(equation: Equation, region: Region, form: ExactForm, part: RegionPart,
                      tolerance: float) -> str:
    """Why `form` misses the boundary data it builds in, at points of their pieces ("" where it
    meets them: the offset equals the data and the factor vanishes, to `tolerance`)."""
    rng = np.random.default_rng(0)
    for d in part.data:
        points = torch.tensor(boundary_points(equation, region, d.condition, 64, "sobol", rng)[0],
                              dtype=torch.float64)
        try:
            offset = form.offset(points)[:, d.output]
            factor = form.factor(points)[:, min(d.output, form.factor(points).shape[1] - 1)]
            data = d.condition.value(points)[:, d.column]
        except Exception as error:  # a user's data that torch cannot evaluate inside the region
            return f"its data could not be built in ({type(error).__name__}: {error})"
        size = max(1.0, float(data.abs().max()))
        miss = float((offset - data).abs().max())
        if not miss <= tolerance * size:
            return (f"the built form misses {d.condition.name} by {miss:.3g} on its pieces: the conditions "
                    "disagree where their pieces meet")
        if not float(factor.abs().max()) <= tolerance:
            return f"the distance function does not vanish on {d.condition.name}'s pieces"
    return ""
