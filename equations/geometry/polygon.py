"""`Polygon`: a simple polygon in 2-D, its edges the boundary pieces."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from .distances import _cross, _segment_phi, _segments_meet, point_segment_distance
from .shape import _RELATIVE_TOL, GeometryError, Piece, Shape, _like


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
