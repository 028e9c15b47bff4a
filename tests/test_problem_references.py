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


def test_the_plate_with_holes_reference_is_harmonic_and_meets_its_data():
    """The fitted sum of logarithms is harmonic; by the maximum principle its error anywhere is at
    most its largest misfit on the boundary, taken at points between those it was fitted on."""
    from poisson2d_holes import boundary_data, harmonic_solution

    solution = harmonic_solution(0.1)
    points, data = boundary_data(0.1, 3001, 1001)
    assert np.abs(solution(points) - data).max() < 1e-6


def test_the_finite_element_references_meet_manufactured_solutions():
    """scikit-fem's quadratic elements as the L-shape and the heated plate use them, against
    solutions known in closed form: sin(pi x) sin(pi y) on the L-shape (zero on every side), and
    sin(0.3 x + 0.2 y) exp(-t/2) + t/10 on the plate with holes (its Robin data and source
    taken from it), at coarser settings than the references' own."""
    import heat2d_holes
    import poisson_lshape

    rng = np.random.default_rng(0)
    xy = rng.uniform(-1, 1, (4000, 2))
    xy = xy[~((xy[:, 0] > 0) & (xy[:, 1] > 0))]
    exact = np.sin(np.pi * xy[:, 0]) * np.sin(np.pi * xy[:, 1])
    computed = poisson_lshape.unit_solution(3, lambda x, y: 2 * np.pi**2 * np.sin(np.pi * x) * np.sin(np.pi * y))(xy)
    assert np.linalg.norm(computed - exact) / np.linalg.norm(exact) < 2e-3

    def u(x, y, t):
        return np.sin(0.3 * x + 0.2 * y) * np.exp(-0.5 * t) + 0.1 * t

    def robin(x, y, t, nx, ny):
        slope = np.cos(0.3 * x + 0.2 * y) * np.exp(-0.5 * t)
        return 0.3 * slope * nx + 0.2 * slope * ny + u(x, y, t)

    solution = heat2d_holes.finite_elements(
        5.0, spacing=0.4, per_radian=16, step=0.02, data={"big": robin, "small": robin, "sides": robin},
        source=lambda x, y, t: -0.37 * np.sin(0.3 * x + 0.2 * y) * np.exp(-0.5 * t) + 0.1,
        initial=lambda x, y: u(x, y, 0.0))
    from skfem import MeshTri

    mesh = MeshTri(*(array.T.copy() for array in heat2d_holes._mesh(0.4, 16)))
    lengths = {name: float(np.linalg.norm(np.diff(mesh.p[:, mesh.facets[:, ids]], axis=1), axis=0).sum())
               for name, ids in heat2d_holes._boundary_groups(mesh).items()}
    expected = {"big": 11 * 2 * np.pi, "small": 6 * 2 * np.pi * 0.4, "sides": 80.0}  # each group its own pieces
    assert all(abs(lengths[name] / expected[name] - 1) < 2e-3 for name in expected), lengths
    points = np.c_[rng.uniform(-8, 8, 3000), rng.uniform(-12, 12, 3000), rng.uniform(0, 3, 3000)]
    points = points[heat2d_holes.Heat2DHoles().region().contains(points, ("x", "y", "t"))]
    exact = u(*points.T)
    assert np.linalg.norm(solution(points) - exact) / np.linalg.norm(exact) < 1e-3
