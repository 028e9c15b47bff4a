"""R-functions and distances: Rvachev's R0 conjunction and disjunction, Sukumar & Srivastava's
trimming and trimmed segment functions (torch), and point-to-segment distances and segment
meeting tests (numpy) for polygons."""

from __future__ import annotations

import numpy as np
import torch


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
