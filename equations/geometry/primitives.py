"""Primitive shapes: `Box` (alias `Rectangle`), `Interval`, `Ball` and `Disk` (`Polygon` is in `polygon`)."""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import torch

from .distances import _segment_phi, _trim, r_and
from .shape import GeometryError, Piece, Shape, _count, _like


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
