"""The references of the problem set's own files (benchmarks/problems), validated."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks" / "problems"))

from kdv import KdV, kdv_spectral  # noqa: E402


def test_the_kdv_spectral_solver_carries_a_soliton_at_its_speed():
    """u = (3c/l1) sech^2(sqrt(c/l2) (x - ct) / 2) solves u_t + l1 u u_x + l2 u_xxx = 0; on the
    periodic [-1, 1] its tails (~1e-6) are the only mismatch."""
    l1, l2, c = 1.0, 0.0025, 0.5
    x = np.linspace(-1.0, 1.0, 256, endpoint=False)
    times = np.linspace(0.0, 0.5, 6)

    def soliton(t):
        shifted = (x - c * t + 1.0) % 2.0 - 1.0
        return 3 * c / l1 / np.cosh(np.sqrt(c / l2) / 2 * shifted) ** 2

    computed = kdv_spectral(soliton(0.0), 2.0, l1, l2, times)
    exact = np.stack([soliton(t) for t in times])
    assert np.linalg.norm(computed - exact) / np.linalg.norm(exact) < 1e-5


def test_the_kdv_reference_starts_from_its_initial_data_on_the_grid():
    grid = {"x": np.linspace(-1.0, 1.0, 16, endpoint=False), "t": np.array([0.0, 0.1])}
    reference = KdV().reference(grid)
    assert reference.shape == (16, 2)
    assert np.allclose(reference[:, 0], np.cos(np.pi * grid["x"]), atol=1e-12)
    assert abs(reference[:, 1] - reference[:, 0]).max() > 1e-3  # it moved
