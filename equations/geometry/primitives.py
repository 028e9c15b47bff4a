"""Primitive shapes: `Box` (alias `Rectangle`), `Interval`, `Ball`, `Disk` and `Polygon`."""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import torch

from .distances import _cross, _segment_phi, _segments_meet, _trim, point_segment_distance, r_and
from .shape import _RELATIVE_TOL, GeometryError, Piece, Shape, _count


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

        def level(x: torch.Tensor) -> torch.Tensor:
            inwards = self._tensor(x)[:, axis:axis + 1] - value
            return -inwards if high else inwards

        name = f"{self.name}.{self._side_name(axis, high)}"
        return Piece(name, float(np.prod(extent)) if extent.size else 1.0, distance, sample, level)

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
        self._pieces = (Piece(name, area, lambda x: torch.abs(self.signed(x)), self._sample_sphere, self.signed,
                              surface_distance=self._surface_distance),)

    def _surface_distance(self, points: torch.Tensor) -> torch.Tensor:
        """r - |x - c|: the signed distance to the sphere, positive inside."""
        x = self._tensor(points)
        return self.radius - torch.linalg.vector_norm(x - _like(self.center, x), dim=1, keepdim=True)

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

        def level(x: torch.Tensor) -> torch.Tensor:  # the edge's line, positive on the inner side
            return -((self._tensor(x) - _like(start, x)) @ _like(normal, x))[:, None]

        return Piece(f"{self.name}.edge{i}", length, distance, sample, level)

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
