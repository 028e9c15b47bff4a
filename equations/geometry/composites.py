"""Composite shapes: `Union`, `Intersection` and `Difference` of two shapes, with R0 signed
functions and boundary pieces taken from their parts."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from .distances import r_and, r_or
from .shape import GeometryError, Piece, Shape


_FLAG_POINTS = 2000  # points of a union's piece checked for running inside the other part


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
