"""Domains beyond boxes: shapes, their boundary pieces and smooth distance functions.

A `Shape` knows which points it contains, samples its interior and its boundary (with outward
unit normals) and gives a smooth approximate signed distance `signed(x)`: > 0 inside, 0 on the
boundary, < 0 outside, with |grad| = 1 on the boundary away from corners. Its `pieces()` are the
named parts of the boundary, each with its own distance function. With them a Dirichlet
condition is imposed exactly by writing the solution as u = g + phi * N with phi = 0 on the
boundary (Sukumar & Srivastava, "Exact imposition of boundary conditions with distance functions
in physics-informed deep neural networks", CMAME 389, 114333, 2022).

Primitives: `Interval`, `Box` (alias `Rectangle`), `Ball` (alias `Disk` in 2-D), `Polygon`.
Composites: `a | b` (`Union`), `a & b` (`Intersection`), `a - b` (`Difference`); their signed
functions are Rvachev's R0 functions of the parts' (V. L. Rvachev, "Theory of R-functions and
some applications", 1982; V. Shapiro, "Semi-analytic geometry with R-functions", Acta Numerica
16, 2007).

Conventions: points are (N, dim) arrays; numpy for `contains` and sampling, torch for the
distance functions (any float dtype and device, differentiable by autograd to second order at
points off the boundary). A shape's boundary counts as inside it (closed sets), to a tolerance of
1e-12 times its size.
"""

from __future__ import annotations

import math
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from typing import Callable, Sequence

import numpy as np
import torch
from scipy.stats import qmc

from .errors import InputError

__all__ = [
    "Ball", "Box", "Difference", "Disk", "GeometryError", "Intersection", "Interval", "Piece", "Polygon",
    "Rectangle", "Shape", "Union", "r_and", "r_or",
]

_RELATIVE_TOL = 1e-12  # boundary tolerance, relative to a shape's size
_RELATIVE_STEP = 1e-7  # step off the boundary (along the normal) that decides which side is which
_EMPTY_CHECK_POINTS = 2**14  # Sobol points of the bounding box that `validate` tries
_FLAG_POINTS = 2000  # points of a union's piece checked for running inside the other part
_MAX_ROUNDS = 30


class GeometryError(InputError):
    """A shape, or a request made of it, is refused (one line saying what to fix)."""


# --------------------------------------------------------------------------- R-functions


def r_and(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Rvachev's R0 conjunction a + b - sqrt(a^2 + b^2): > 0 where both are > 0, zero where one is
    zero and the other >= 0, < 0 elsewhere; keeps first-order normalisation. Where a + b > 0 it is
    computed as 2ab / (a + b + sqrt(a^2 + b^2)), the same value without cancellation, so small
    values near the boundary keep their relative precision (float32 included)."""
    root = torch.hypot(a, b)
    total = a + b
    positive = total > 0
    safe = torch.where(positive, total + root, torch.ones_like(total))  # no 0/0 in the branch not taken
    return torch.where(positive, 2 * a * b / safe, total - root)


def r_or(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Rvachev's R0 disjunction a + b + sqrt(a^2 + b^2) = -r_and(-a, -b)."""
    return -r_and(-a, -b)


def _trim(f: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Sukumar & Srivastava (2022)'s trimming: with varphi = sqrt(t^2 + f^4), the function
    sqrt(f^2 + ((varphi - t) / 2)^2) is zero where f = 0 and t >= 0 (the piece), ~|f| near it and
    ~|t| on f = 0 beyond it."""
    varphi = torch.sqrt(t * t + f**4)
    return torch.sqrt(f * f + ((varphi - t) / 2) ** 2)


def _segment_phi(x: torch.Tensor, starts: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
    """(N, 2) points and k segments (k, 2) -> (N, k) trimmed distances to the segments
    (Sukumar & Srivastava 2022): f = ((x - x1) x (x2 - x1)) / L, t = ((L/2)^2 - |x - xc|^2) / L."""
    d = ends - starts
    length = torch.linalg.vector_norm(d, dim=1)
    rel = x[:, None, :] - starts[None, :, :]
    f = (rel[..., 0] * d[:, 1] - rel[..., 1] * d[:, 0]) / length
    centre = (starts + ends) / 2
    t = ((length / 2) ** 2 - ((x[:, None, :] - centre[None]) ** 2).sum(-1)) / length
    return _trim(f, t)


# --------------------------------------------------------------------------- small helpers


def _like(values: np.ndarray | float, x: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(values, dtype=x.dtype, device=x.device)


def _vector(values: object, what: str) -> np.ndarray:
    try:
        vector = np.atleast_1d(np.asarray(values, dtype=float))
    except (TypeError, ValueError):
        raise GeometryError(f"{what} must be a list of numbers; got {values!r}") from None
    if vector.ndim != 1 or vector.size == 0 or not np.all(np.isfinite(vector)):
        raise GeometryError(f"{what} must be a non-empty list of finite numbers; got {values!r}")
    return vector


def _count(n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise GeometryError(f"the number of points must be a whole number >= 0; got {n!r}")
    return int(n)


def _sobol(dim: int, rng: np.random.Generator) -> qmc.Sobol:
    try:
        return qmc.Sobol(dim, scramble=True, rng=rng)
    except TypeError:  # scipy < 1.15 calls the argument `seed`
        return qmc.Sobol(dim, scramble=True, seed=rng)


def _sobol_points(sampler: qmc.Sobol, n: int) -> np.ndarray:
    with warnings.catch_warnings():  # balance is best at powers of two; any n is still fine
        warnings.simplefilter("ignore", UserWarning)
        return sampler.random(n)


def point_segment_distance(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The distance from each of the (N, dim) points to the segment from a to b."""
    d = b - a
    s = np.clip((points - a) @ d / (d @ d), 0.0, 1.0)
    return np.linalg.norm(points - (a + s[:, None] * d), axis=1)


def _cross(u: np.ndarray, v: np.ndarray) -> float:
    return float(u[0] * v[1] - u[1] * v[0])


def _segments_meet(p1: np.ndarray, p2: np.ndarray, q1: np.ndarray, q2: np.ndarray, tol: float) -> bool:
    """Whether closed segments p1p2 and q1q2 share a point (to within tol)."""
    d1, d2 = _cross(p2 - p1, q1 - p1), _cross(p2 - p1, q2 - p1)
    d3, d4 = _cross(q2 - q1, p1 - q1), _cross(q2 - q1, p2 - q1)
    if d1 * d2 < 0 and d3 * d4 < 0:
        return True  # a proper crossing
    # Otherwise the segments are closest at an endpoint of one of them.
    gaps = [point_segment_distance(p[None], a, b)[0] for p, a, b in ((q1, p1, p2), (q2, p1, p2), (p1, q1, q2), (p2, q1, q2))]
    return min(gaps) <= tol


# --------------------------------------------------------------------------- pieces and shapes


@dataclass(frozen=True)
class Piece:
    """A named part of a shape's boundary.

    `distance` maps (N, dim) points to (N, 1) values >= 0 that vanish on the piece, are
    normalised to first order (|grad| = 1 on it) and twice differentiable away from it.
    `sample(n, rng)` gives n points uniform on the whole piece and the outward unit normals of
    the primitive it belongs to. `inside_other` is True when some of the piece runs inside the
    domain (a union's seam): its distance then vanishes inside and must not impose a condition.
    """

    name: str
    measure: float
    distance: Callable[[torch.Tensor], torch.Tensor]
    sample: Callable[[int, np.random.Generator], tuple[np.ndarray, np.ndarray]]
    inside_other: bool = False


class Shape(ABC):
    """A closed domain in `dim` coordinates (see the module's docstring)."""

    dim: int

    # ---- what each shape defines

    @abstractmethod
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper corners of a box holding the shape."""

    @abstractmethod
    def contains(self, points: np.ndarray) -> np.ndarray:
        """(N, dim) -> (N,) bool: inside or on the boundary (to a tolerance)."""

    @abstractmethod
    def _interior(self, points: np.ndarray) -> np.ndarray:
        """(N, dim) -> (N,) bool: inside and farther than the tolerance from the boundary."""

    @abstractmethod
    def signed(self, points: torch.Tensor) -> torch.Tensor:
        """(N, dim) -> (N, 1) smooth approximate signed distance: > 0 inside, 0 on the boundary."""

    @abstractmethod
    def pieces(self) -> tuple[Piece, ...]:
        """The named pieces of the boundary."""

    def _piece_names(self) -> tuple[str, ...]:
        return tuple(piece.name for piece in self.pieces())

    def _orientations(self) -> tuple[float, ...]:
        """Per piece: +1 where the piece's own normal is outward for this shape, -1 where it is
        inward (a piece of the shape a difference removes)."""
        return (1.0,) * len(self.pieces())

    def _on_boundary(self, index: int, points: np.ndarray, normals: np.ndarray) -> np.ndarray:
        """Which points of piece `index` (with normals outward for this shape) are on this
        shape's boundary and belong to this piece. A primitive's pieces are its whole boundary."""
        return np.ones(len(points), dtype=bool)

    def _is_new(self, index: int, points: np.ndarray) -> np.ndarray:
        """False where a point of piece `index` is already stood for by another piece (see
        `_Composite._is_new`); a primitive's pieces never overlap."""
        return np.ones(len(points), dtype=bool)

    _oversample = 1  # candidates drawn per wanted boundary point (composites keep only some)

    # ---- shared machinery

    def size(self) -> float:
        """The largest side of the bounding box."""
        lower, upper = self.bounds()
        return float(np.max(upper - lower))

    def _tol(self) -> float:
        lower, upper = self.bounds()
        return _RELATIVE_TOL * float(max(np.max(upper - lower), np.max(np.abs(lower)), np.max(np.abs(upper))))

    def _step(self) -> float:
        return _RELATIVE_STEP * self.size()

    def _points(self, points: np.ndarray) -> np.ndarray:
        array = np.asarray(points, dtype=float)
        if array.ndim != 2 or array.shape[1] != self.dim:
            raise GeometryError(f"points must be an array of shape (N, {self.dim}); got shape {array.shape}")
        return array

    def _tensor(self, points: torch.Tensor) -> torch.Tensor:
        if not torch.is_tensor(points) or not points.is_floating_point():
            got = points.dtype if torch.is_tensor(points) else type(points).__name__
            raise GeometryError(f"distances need a floating-point torch tensor of shape (N, {self.dim}); got {got}")
        if points.ndim != 2 or points.shape[1] != self.dim:
            raise GeometryError(f"points must be a tensor of shape (N, {self.dim}); got shape {tuple(points.shape)}")
        return points

    def sample_interior(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n points uniform inside: a scrambled Sobol sequence (Sobol' 1967; Owen 1998) over the
        bounding box, keeping those inside and drawing more until there are n. Deterministic
        given `rng`."""
        n = _count(n)
        lower, upper = self.bounds()
        if np.any(upper <= lower):
            raise GeometryError("the shape is empty: its parts do not overlap; check the intersection's parts")
        found, have, drawn = [], 0, 0
        sampler = _sobol(self.dim, rng)
        batch = int(2 ** math.ceil(math.log2(max(1024, 2 * n))))
        while have < n:
            points = lower + _sobol_points(sampler, batch) * (upper - lower)
            inside = points[self.contains(points)]
            found.append(inside)
            have, drawn = have + len(inside), drawn + batch
            if have == 0 and drawn >= 2**16:
                raise GeometryError(f"no point of {drawn} spread over the bounding box lies inside the shape: it is empty or too thin "
                                    "to sample; check what a difference removes and that an intersection's parts overlap")
            rate = max(have, 1) / drawn
            batch = int(min(2**20, 2 ** math.ceil(math.log2(max(1024, 1.2 * (n - have) / rate)))))
        return np.concatenate(found)[:n] if found else np.zeros((0, self.dim))

    def _piece_indices(self, names: Sequence[str] | None) -> list[int]:
        known = self._piece_names()
        if names is None:
            return list(range(len(known)))
        if isinstance(names, str):
            names = [names]
        unknown = [name for name in names if name not in known]
        if unknown or not names:
            raise GeometryError(f"unknown boundary piece {unknown[0] if unknown else '(none named)'!r}; the pieces are: {', '.join(known)}")
        return [known.index(name) for name in dict.fromkeys(names)]

    def sample_boundary(self, n: int, rng: np.random.Generator,
                        pieces: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """n points uniform by boundary measure on the named pieces (all when None), where they
        lie on this shape's boundary; returns points (n, dim), outward unit normals of this shape
        (n, dim) and each point's piece index into `pieces()` (n,).

        Candidates are drawn on every piece at one density (a multinomial split by measure, Muller
        1959 for spheres), those on this shape's boundary are kept, in rounds until there are
        enough, and n of them are taken at random: the result is uniform by measure."""
        n = _count(n)
        chosen = self._piece_indices(pieces)
        all_pieces, signs = self.pieces(), self._orientations()
        if n == 0:
            return np.zeros((0, self.dim)), np.zeros((0, self.dim)), np.zeros(0, dtype=np.int64)
        weights = np.array([all_pieces[i].measure for i in chosen])
        weights = weights / weights.sum()
        kept_points, kept_normals, kept_index = [], [], []
        have, drawn = 0, 0
        batch = n if self._oversample == 1 else self._oversample * n + 1000
        for _ in range(_MAX_ROUNDS):
            for i, count in zip(chosen, rng.multinomial(batch, weights)):
                if count == 0:
                    continue
                points, normals = all_pieces[i].sample(int(count), rng)
                normals = normals * signs[i]
                keep = self._on_boundary(i, points, normals)
                kept_points.append(points[keep])
                kept_normals.append(normals[keep])
                kept_index.append(np.full(int(keep.sum()), i, dtype=np.int64))
                have += int(keep.sum())
            drawn += batch
            if have >= n:
                break
            if have == 0 and drawn >= 20000:
                break
            batch = int(min(2_000_000, 1.5 * (n - have) * drawn / max(have, 1) + 1000))
        if have < n:
            raise GeometryError(f"only {have} of {drawn} points drawn on pieces {', '.join(all_pieces[i].name for i in chosen)} lie on "
                                "this shape's boundary; name pieces that are part of it")
        pick = rng.choice(have, size=n, replace=False)
        return np.concatenate(kept_points)[pick], np.concatenate(kept_normals)[pick], np.concatenate(kept_index)[pick]

    def validate(self, rng_seed: int = 0) -> None:
        """Raise GeometryError when the shape is empty: no point of a scrambled Sobol set of
        the bounding box lies inside (composites also run their parts' checks)."""
        lower, upper = self.bounds()
        if np.any(upper <= lower):
            raise GeometryError("the shape is empty: the bounding boxes of the intersection's parts do not overlap")
        sampler = _sobol(self.dim, np.random.default_rng(rng_seed))
        points = lower + _sobol_points(sampler, _EMPTY_CHECK_POINTS) * (upper - lower)
        if not self.contains(points).any():
            raise GeometryError(f"the shape is empty: none of {_EMPTY_CHECK_POINTS} points spread over its bounding box lies inside; "
                                "check what a difference removes and that an intersection's parts overlap")

    def __or__(self, other: Shape) -> Union:
        return Union(self, other) if isinstance(other, Shape) else NotImplemented

    def __and__(self, other: Shape) -> Intersection:
        return Intersection(self, other) if isinstance(other, Shape) else NotImplemented

    def __sub__(self, other: Shape) -> Difference:
        return Difference(self, other) if isinstance(other, Shape) else NotImplemented


# --------------------------------------------------------------------------- primitives


class Box(Shape):
    """The box lower <= x <= upper in any dimension.

    Pieces, in this order, axis by axis, low side then high side: in 2-D f"{name}.left",
    ".right", ".bottom", ".top"; in other dimensions f"{name}.low{axis}", f"{name}.high{axis}".
    `signed` is the R0 conjunction of the 2 * dim half-space functions x_j - lower_j and
    upper_j - x_j. A side's distance is Sukumar & Srivastava (2022)'s trimmed function: in 2-D
    that of the side's segment; in other dimensions with f = x_axis - side and t the R0
    conjunction of the side's in-plane half-space functions (|x - side| in 1-D).
    """

    def __init__(self, lower: Sequence[float], upper: Sequence[float], name: str = "box") -> None:
        self.lower, self.upper = _vector(lower, "lower"), _vector(upper, "upper")
        if self.lower.shape != self.upper.shape:
            raise GeometryError(f"lower and upper need the same number of coordinates; got {self.lower.size} and {self.upper.size}")
        bad = np.flatnonzero(self.lower >= self.upper)
        if bad.size:
            axis = int(bad[0])
            raise GeometryError(f"{type(self).__name__} {name!r} needs lower < upper on every axis; "
                                f"on axis {axis} got {self.lower[axis]:g} >= {self.upper[axis]:g}")
        self.dim, self.name = self.lower.size, name
        self._pieces = tuple(self._side(axis, high) for axis in range(self.dim) for high in (False, True))

    def _side_name(self, axis: int, high: bool) -> str:
        if self.dim == 2:
            return ("left", "right", "bottom", "top")[2 * axis + high]
        return f"{'high' if high else 'low'}{axis}"

    def _half_spaces(self, x: torch.Tensor, skip: int | None = None) -> list[torch.Tensor]:
        lower, upper = _like(self.lower, x), _like(self.upper, x)
        return [h for j in range(self.dim) if j != skip for h in (x[:, j:j + 1] - lower[j], upper[j] - x[:, j:j + 1])]

    def _side(self, axis: int, high: bool) -> Piece:
        value = float(self.upper[axis] if high else self.lower[axis])
        normal = np.zeros(self.dim)
        normal[axis] = 1.0 if high else -1.0
        extent = np.delete(self.upper - self.lower, axis)

        def sample(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
            points = self.lower + rng.random((n, self.dim)) * (self.upper - self.lower)
            points[:, axis] = value
            return points, np.tile(normal, (n, 1))

        if self.dim == 1:
            def distance(x: torch.Tensor) -> torch.Tensor:
                return torch.abs(self._tensor(x) - value)
        elif self.dim == 2:
            ends = np.array([self.lower, self.upper])
            ends[:, axis] = value  # the side's two corners

            def distance(x: torch.Tensor) -> torch.Tensor:
                x = self._tensor(x)
                return _segment_phi(x, _like(ends[:1], x), _like(ends[1:], x))
        else:
            def distance(x: torch.Tensor) -> torch.Tensor:
                x = self._tensor(x)
                t = _fold(r_and, self._half_spaces(x, skip=axis))
                return _trim(x[:, axis:axis + 1] - value, t)

        name = f"{self.name}.{self._side_name(axis, high)}"
        return Piece(name, float(np.prod(extent)) if extent.size else 1.0, distance, sample)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self.lower.copy(), self.upper.copy()

    def contains(self, points: np.ndarray) -> np.ndarray:
        x, tol = self._points(points), self._tol()
        return np.all((x >= self.lower - tol) & (x <= self.upper + tol), axis=1)

    def _interior(self, points: np.ndarray) -> np.ndarray:
        x, tol = self._points(points), self._tol()
        return np.all((x > self.lower + tol) & (x < self.upper - tol), axis=1)

    def signed(self, points: torch.Tensor) -> torch.Tensor:
        return _fold(r_and, self._half_spaces(self._tensor(points)))

    def pieces(self) -> tuple[Piece, ...]:
        return self._pieces


Rectangle = Box


class Interval(Box):
    """The interval [low, high] (1-D); pieces f"{name}.low" (normal -1) and f"{name}.high" (+1)."""

    def __init__(self, low: float, high: float, name: str = "interval") -> None:
        super().__init__([low], [high], name)

    def _side_name(self, axis: int, high: bool) -> str:
        return "high" if high else "low"


def _fold(operation: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], values: list[torch.Tensor]) -> torch.Tensor:
    result = values[0]
    for value in values[1:]:
        result = operation(result, value)
    return result


class Ball(Shape):
    """The closed ball |x - center| <= radius in any dimension; one piece, the sphere, named
    `name`. `signed` = (r^2 - |x - c|^2) / (2r); the piece's distance is its absolute value.
    Boundary points are normalised Gaussian vectors (Muller, CACM 2(4), 1959)."""

    def __init__(self, center: Sequence[float], radius: float, name: str = "ball") -> None:
        self.center = _vector(center, "center")
        try:
            self.radius = float(radius)
        except (TypeError, ValueError):
            raise GeometryError(f"radius must be a number; got {radius!r}") from None
        if not math.isfinite(self.radius) or self.radius <= 0:
            raise GeometryError(f"{type(self).__name__} {name!r} needs a radius > 0; got {radius!r}")
        self.dim, self.name = self.center.size, name
        d, r = self.dim, self.radius
        area = 2 * math.pi ** (d / 2) / math.gamma(d / 2) * r ** (d - 1)  # of the (d-1)-sphere
        self._pieces = (Piece(name, area, lambda x: torch.abs(self.signed(x)), self._sample_sphere),)

    def _sample_sphere(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        directions = rng.standard_normal((n, self.dim))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        return self.center + self.radius * directions, directions

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self.center - self.radius, self.center + self.radius

    def contains(self, points: np.ndarray) -> np.ndarray:
        x = self._points(points)
        return np.linalg.norm(x - self.center, axis=1) <= self.radius + self._tol()

    def _interior(self, points: np.ndarray) -> np.ndarray:
        x = self._points(points)
        return np.linalg.norm(x - self.center, axis=1) < self.radius - self._tol()

    def signed(self, points: torch.Tensor) -> torch.Tensor:
        x = self._tensor(points)
        squared = ((x - _like(self.center, x)) ** 2).sum(dim=1, keepdim=True)
        return (self.radius**2 - squared) / (2 * self.radius)

    def pieces(self) -> tuple[Piece, ...]:
        return self._pieces

    def sample_interior(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Sobol points with rejection (see `Shape`), except in high dimensions where the ball
        fills under 1% of its box: there a random direction times r * U^(1/dim) (Muller 1959)."""
        d = self.dim
        if math.pi ** (d / 2) / math.gamma(d / 2 + 1) / 2**d >= 0.01:
            return super().sample_interior(n, rng)
        n = _count(n)
        _, directions = self._sample_sphere(n, rng)
        return self.center + self.radius * rng.random((n, 1)) ** (1 / d) * directions


class Disk(Ball):
    """A Ball in 2-D (default: the unit disk at the origin, piece name "disk")."""

    def __init__(self, center: Sequence[float] = (0.0, 0.0), radius: float = 1.0, name: str = "disk") -> None:
        if _vector(center, "center").size != 2:
            raise GeometryError(f"a Disk's center needs 2 coordinates; got {center!r} (use Ball in other dimensions)")
        super().__init__(center, radius, name)


class Polygon(Shape):
    """A simple polygon (2-D) with vertices in either orientation, kept in the order given.

    Piece f"{name}.edge{k}" is the edge from vertex k to vertex k + 1 (the last to vertex 0) in
    the order given. Each edge's distance is Sukumar & Srivastava (2022)'s trimmed segment
    function phi_k; `signed` is their R-equivalence (sum_k 1 / phi_k)^-1 (m = 1), positive
    inside and negative outside (the sign from the even-odd rule, detached).
    """

    dim = 2

    def __init__(self, vertices: Sequence[Sequence[float]], name: str = "polygon") -> None:
        try:
            v = np.asarray(vertices, dtype=float)
        except (TypeError, ValueError):
            raise GeometryError(f"Polygon {name!r} needs a list of (x, y) vertices; got {vertices!r}") from None
        if v.ndim != 2 or v.shape[1] != 2 or len(v) < 3 or not np.all(np.isfinite(v)):
            raise GeometryError(f"Polygon {name!r} needs at least 3 vertices as finite (x, y) pairs; got array of shape {v.shape}")
        self.name, self.vertices = name, v
        self._starts, self._ends = v, np.roll(v, -1, axis=0)
        k = len(v)
        tol = _RELATIVE_TOL * float(max(np.ptp(v, axis=0).max(), np.abs(v).max()))
        edges = self._ends - self._starts
        lengths = np.linalg.norm(edges, axis=1)
        if np.any(lengths <= tol):
            i = int(np.argmax(lengths <= tol))
            raise GeometryError(f"Polygon {name!r} vertices {i} and {(i + 1) % k} coincide; list each vertex once "
                                "(without repeating the first at the end)")
        for i in range(k):  # consecutive edges may only meet at their shared vertex
            before, after = edges[i - 1], edges[i]
            if abs(_cross(before, after)) <= tol * float(lengths[i - 1] + lengths[i]) and before @ after < 0:
                raise GeometryError(f"Polygon {name!r} edges {(i - 1) % k} and {i} fold back over each other at vertex {i}; "
                                    "give the vertices of a simple polygon in order around its boundary")
        for i in range(k):
            for j in range(i + 2, k):
                if i == 0 and j == k - 1:
                    continue  # consecutive (they share vertex 0)
                if _segments_meet(self._starts[i], self._ends[i], self._starts[j], self._ends[j], tol):
                    raise GeometryError(f"Polygon {name!r} edges {i} and {j} cross or touch; give the vertices of a simple polygon "
                                        "in order around its boundary")
        area = 0.5 * float(np.sum(self._starts[:, 0] * self._ends[:, 1] - self._ends[:, 0] * self._starts[:, 1]))
        if abs(area) <= tol * float(lengths.max()):
            raise GeometryError(f"Polygon {name!r} has no area: its vertices lie on one line")
        self.counterclockwise = area > 0
        self.area = abs(area)
        self._tolerance = tol
        units = edges / lengths[:, None]
        outward = np.stack([units[:, 1], -units[:, 0]], axis=1)  # right of the edge: outward when counterclockwise
        self._normals = outward if self.counterclockwise else -outward
        self._pieces = tuple(self._edge(i, float(lengths[i])) for i in range(k))

    def _edge(self, i: int, length: float) -> Piece:
        start, end, normal = self._starts[i], self._ends[i], self._normals[i]

        def sample(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
            return start + rng.random((n, 1)) * (end - start), np.tile(normal, (n, 1))

        def distance(x: torch.Tensor) -> torch.Tensor:
            x = self._tensor(x)
            return _segment_phi(x, _like(start[None], x), _like(end[None], x))

        return Piece(f"{self.name}.edge{i}", length, distance, sample)

    def _tol(self) -> float:
        return self._tolerance

    def _odd_crossings(self, x: torch.Tensor) -> torch.Tensor:
        """Even-odd rule: a ray from x towards +x crosses the boundary an odd number of times."""
        starts, ends = _like(self._starts, x), _like(self._ends, x)
        px, py = x[:, :1], x[:, 1:]
        y1, y2 = starts[:, 1], ends[:, 1]
        straddles = (y1 > py) != (y2 > py)
        dy = torch.where(y2 == y1, torch.ones_like(y2), y2 - y1)
        crossing_x = starts[:, 0] + (py - y1) * (ends[:, 0] - starts[:, 0]) / dy
        return (straddles & (px < crossing_x)).sum(dim=1) % 2 == 1

    def _edge_gap(self, x: np.ndarray) -> np.ndarray:
        return np.min([point_segment_distance(x, a, b) for a, b in zip(self._starts, self._ends)], axis=0)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self.vertices.min(axis=0), self.vertices.max(axis=0)

    def contains(self, points: np.ndarray) -> np.ndarray:
        x = self._points(points)
        odd = self._odd_crossings(torch.from_numpy(np.ascontiguousarray(x))).numpy()
        return odd | (self._edge_gap(x) <= self._tol())

    def _interior(self, points: np.ndarray) -> np.ndarray:
        x = self._points(points)
        odd = self._odd_crossings(torch.from_numpy(np.ascontiguousarray(x))).numpy()
        return odd & (self._edge_gap(x) > self._tol())

    def signed(self, points: torch.Tensor) -> torch.Tensor:
        x = self._tensor(points)
        phi = _segment_phi(x, _like(self._starts, x), _like(self._ends, x))
        on_edge = (phi == 0).any(dim=1, keepdim=True)
        inverse_sum = (1 / torch.where(phi > 0, phi, torch.ones_like(phi))).sum(dim=1, keepdim=True)
        equivalence = torch.where(on_edge, torch.zeros_like(inverse_sum), 1 / inverse_sum)
        with torch.no_grad():
            sign = torch.where(self._odd_crossings(x), 1.0, -1.0).to(x.dtype)[:, None]
        return sign * equivalence

    def pieces(self) -> tuple[Piece, ...]:
        return self._pieces


# --------------------------------------------------------------------------- composites


class _Composite(Shape):
    """Two shapes combined; pieces are the parts' pieces (names must be unique)."""

    _word = "combination"
    _oversample = 4

    def __init__(self, a: Shape, b: Shape) -> None:
        if not isinstance(a, Shape) or not isinstance(b, Shape):
            raise GeometryError(f"the {self._word} needs two shapes; got {type(a).__name__} and {type(b).__name__}")
        if a.dim != b.dim:
            raise GeometryError(f"cannot take the {self._word} of a {a.dim}-D and a {b.dim}-D shape; both need the same number of coordinates")
        names = a._piece_names() + b._piece_names()
        for name in names:
            if names.count(name) > 1:
                raise GeometryError(f"two parts of the {self._word} both have a boundary piece named {name!r}; name the parts "
                                    "apart, e.g. Disk(..., name='hole1')")
        self.a, self.b, self.dim = a, b, a.dim
        self._pieces: tuple[Piece, ...] | None = None

    def _piece_names(self) -> tuple[str, ...]:
        return self.a._piece_names() + self.b._piece_names()

    def pieces(self) -> tuple[Piece, ...]:
        if self._pieces is None:
            self._pieces = self.a.pieces() + self.b.pieces()
        return self._pieces

    def _orientations(self) -> tuple[float, ...]:
        return self.a._orientations() + self.b._orientations()

    def _is_new(self, index: int, points: np.ndarray) -> np.ndarray:
        """False where a point of the second part's piece lies on the first part's boundary:
        where the two boundaries coincide, the first part's piece alone stands for them."""
        count = len(self.a._piece_names())
        if index < count:
            return self.a._is_new(index, points)
        on_first = self.a.contains(points) & ~self.a._interior(points)
        return self.b._is_new(index - count, points) & ~on_first

    def _on_boundary(self, index: int, points: np.ndarray, normals: np.ndarray) -> np.ndarray:
        """A point is on the boundary when a small step inwards (against its outward normal)
        stays in the shape and a small step outwards leaves it."""
        step = self._step() * normals
        return self.contains(points - step) & ~self.contains(points + step) & self._is_new(index, points)

    def validate(self, rng_seed: int = 0) -> None:
        self.a.validate(rng_seed)
        self.b.validate(rng_seed)
        super().validate(rng_seed)


class Union(_Composite):
    """Points in a or b; `signed` = R0 disjunction of the parts'. A piece of one part that runs
    inside the other (or along a side the other touches from outside) has `inside_other=True`.
    Where the parts' boundaries coincide (say a common bottom side), boundary samples come from
    a's piece only, so that stretch is not drawn twice (the same holds in every composite).
    The parts must overlap, not just touch: along a touching seam the signed function vanishes
    inside the domain (`validate` refuses it)."""

    _word = "union"

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        (la, ua), (lb, ub) = self.a.bounds(), self.b.bounds()
        return np.minimum(la, lb), np.maximum(ua, ub)

    def contains(self, points: np.ndarray) -> np.ndarray:
        return self.a.contains(points) | self.b.contains(points)

    def _interior(self, points: np.ndarray) -> np.ndarray:
        return self.a._interior(points) | self.b._interior(points)

    def signed(self, points: torch.Tensor) -> torch.Tensor:
        return r_or(self.a.signed(points), self.b.signed(points))

    def _seam_points(self, other: Shape, piece: Piece, sign: float, rng: np.random.Generator) -> np.ndarray:
        """Those of _FLAG_POINTS points of `piece` whose outer side lies in `other`: they are
        inside the union."""
        points, normals = piece.sample(_FLAG_POINTS, rng)
        return points[other.contains(points + self._step() * sign * normals)]

    def pieces(self) -> tuple[Piece, ...]:
        if self._pieces is None:
            rng = np.random.default_rng(0)
            flagged: list[Piece] = []
            for part, other in ((self.a, self.b), (self.b, self.a)):
                for piece, sign in zip(part.pieces(), part._orientations()):
                    if not piece.inside_other and len(self._seam_points(other, piece, sign, rng)):
                        piece = replace(piece, inside_other=True)
                    flagged.append(piece)
            self._pieces = tuple(flagged)
        return self._pieces

    def validate(self, rng_seed: int = 0) -> None:
        super().validate(rng_seed)
        rng = np.random.default_rng(rng_seed)
        for part, other in ((self.a, self.b), (self.b, self.a)):
            for piece, sign in zip(part.pieces(), part._orientations()):
                points = self._seam_points(other, piece, sign, rng)
                if (~other._interior(points)).any():
                    raise GeometryError(f"the union's parts only touch along {piece.name!r}, so its signed distance vanishes there "
                                        "inside the domain; let the parts overlap")


class Intersection(_Composite):
    """Points in both a and b; `signed` = R0 conjunction of the parts'."""

    _word = "intersection"

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        (la, ua), (lb, ub) = self.a.bounds(), self.b.bounds()
        return np.maximum(la, lb), np.minimum(ua, ub)

    def size(self) -> float:
        lower, upper = self.bounds()
        return float(np.max(upper - lower)) if np.all(upper > lower) else min(self.a.size(), self.b.size())

    def contains(self, points: np.ndarray) -> np.ndarray:
        return self.a.contains(points) & self.b.contains(points)

    def _interior(self, points: np.ndarray) -> np.ndarray:
        return self.a._interior(points) & self.b._interior(points)

    def signed(self, points: torch.Tensor) -> torch.Tensor:
        return r_and(self.a.signed(points), self.b.signed(points))


class Difference(_Composite):
    """Points in a and not strictly inside b (the result is closed); `signed` = R0 conjunction
    of a's and minus b's. The normals of b's pieces are flipped: outward of the difference
    points into b."""

    _word = "difference"

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self.a.bounds()

    def contains(self, points: np.ndarray) -> np.ndarray:
        return self.a.contains(points) & ~self.b._interior(points)

    def _interior(self, points: np.ndarray) -> np.ndarray:
        return self.a._interior(points) & ~self.b.contains(points)

    def signed(self, points: torch.Tensor) -> torch.Tensor:
        return r_and(self.a.signed(points), -self.b.signed(points))

    def _orientations(self) -> tuple[float, ...]:
        return self.a._orientations() + tuple(-sign for sign in self.b._orientations())
