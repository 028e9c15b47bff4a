"""The shape base: `Shape` (samplers, `validate`, `volume`, the operators | & -), its boundary
`Piece`s, `GeometryError`, and the tolerances and Sobol helpers they share."""

from __future__ import annotations

import math
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import torch
from scipy.stats import qmc

from ..errors import InputError

if TYPE_CHECKING:
    from .composites import Difference, Intersection, Union


_RELATIVE_TOL = 1e-12  # boundary tolerance, relative to a shape's size
_RELATIVE_STEP = 1e-7  # step off the boundary (along the normal) that decides which side is which
_EMPTY_CHECK_POINTS = 2**14  # Sobol points of the bounding box that `validate` tries
_MAX_ROUNDS = 30
_MEASURE_POINTS = 4096  # points drawn on a piece to measure the share of it on the boundary


class GeometryError(InputError):
    """A shape, or a request made of it, is refused (one line saying what to fix)."""


def _like(values: np.ndarray | float, x: torch.Tensor) -> torch.Tensor:
    """`values` as a tensor of `x`'s dtype and device."""
    return torch.as_tensor(values, dtype=x.dtype, device=x.device)


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


@dataclass(frozen=True)
class Piece:
    """A named part of a shape's boundary.

    `distance` maps (N, dim) points to (N, 1) values >= 0 that vanish on the piece, are
    normalised to first order (|grad| = 1 on it) and twice differentiable away from it.
    `sample(n, rng)` gives n points uniform on the whole piece and the outward unit normals of
    the primitive it belongs to. `inside_other` is True when some of the piece runs inside the
    domain (a union's seam): its distance then vanishes inside and must not impose a condition.
    `level` is smooth through the piece: zero on the surface it lies on (a box's face plane, a
    sphere, an edge's line), positive on its primitive's inner side, |grad| = 1 on the piece.
    `surface_distance` is the signed distance to that surface itself where `level` only
    approximates it away from the piece (a sphere's level is (r^2 - |x - c|^2) / 2r); None where
    `level` is that distance (a plane's, a line's).
    """

    name: str
    measure: float
    distance: Callable[[torch.Tensor], torch.Tensor]
    sample: Callable[[int, np.random.Generator], tuple[np.ndarray, np.ndarray]]
    level: Callable[[torch.Tensor], torch.Tensor]
    inside_other: bool = False
    surface_distance: Callable[[torch.Tensor], torch.Tensor] | None = None


class Shape(ABC):
    """A closed domain in `dim` coordinates (see the `equations.geometry` package's docstring)."""

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

    def levels(self) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
        """Per piece name, its `level` turned to be positive on this shape's side of the piece:
        smooth through the piece, zero on it, ~ the distance to it nearby."""
        return self._oriented(lambda piece: piece.level)

    def surface_distances(self) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
        """Per piece name, the signed distance to the surface it lies on, positive on this
        shape's side (its `surface_distance`, or its `level` where that is the distance)."""
        return self._oriented(lambda piece: piece.surface_distance or piece.level)

    def _oriented(self, function_of: Callable[[Piece], Callable]) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
        return {piece.name: (function_of(piece) if sign > 0 else lambda x, f=function_of(piece): -f(x))
                for piece, sign in zip(self.pieces(), self._orientations())}

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

    def boundary_measure(self, names: Sequence[str]) -> float:
        """The length, area or volume of the named pieces where they lie on this shape's
        boundary: each piece's measure times the share of `_MEASURE_POINTS` points drawn on it
        (fixed seed) that do (all of a primitive's pieces; a hole reaching past the plate's side
        keeps only its part inside)."""
        rng, total = np.random.default_rng(0), 0.0
        signs = self._orientations()
        for i in self._piece_indices(names):
            piece = self.pieces()[i]
            points, normals = piece.sample(_MEASURE_POINTS, rng)
            total += piece.measure * float(self._on_boundary(i, points, normals * signs[i]).mean())
        return total

    def volume(self) -> float:
        """The shape's volume (area in 2-D, length in 1-D): the bounding box's times the share of a
        fixed scrambled Sobol set over it that lies inside (deterministic)."""
        lower, upper = self.bounds()
        points = lower + _sobol_points(_sobol(self.dim, np.random.default_rng(0)), _EMPTY_CHECK_POINTS) * (upper - lower)
        return float(np.prod(upper - lower) * self.contains(points).mean())

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
        from .composites import Union  # here: composites import this module

        return Union(self, other) if isinstance(other, Shape) else NotImplemented

    def __and__(self, other: Shape) -> Intersection:
        from .composites import Intersection

        return Intersection(self, other) if isinstance(other, Shape) else NotImplemented

    def __sub__(self, other: Shape) -> Difference:
        from .composites import Difference

        return Difference(self, other) if isinstance(other, Shape) else NotImplemented
