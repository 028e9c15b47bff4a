"""PINNacle's Poisson2d-C (Hao et al. 2024, `src/pde/poisson.py`, Poisson2D_Classic) written as a
user writes it: the domain, the conditions its source states, no exact form, no scale.

laplace(u) = 0 on the plate [-0.5, 0.5]^2 with four holes of radius 0.1 at (+-0.3, +-0.3);
u = 1 on the plate's sides, u = 0 on the holes. PINNacle's reference is a COMSOL solution on
1,246 mesh nodes; here it is computed: a harmonic function (the method of fundamental
solutions: logarithms centred outside the domain, fitted to the data at boundary points by
least squares), whose error is at most its largest misfit on the boundary by the maximum
principle: 1.2e-7 over 24,000 boundary points.
"""

from functools import lru_cache

import numpy as np
import torch

from equations import BoundaryCondition, Coefficient, Disk, Equation, Rectangle, Region

CENTRES = ((0.3, 0.3), (-0.3, 0.3), (0.3, -0.3), (-0.3, -0.3))
RADIUS = 0.1


class Poisson2DHoles(Equation):
    name = "poisson2d-holes"
    summary = "laplace(u) = 0 on [-0.5,0.5]^2 minus 4 disks (r 0.1); u = 1 on the sides, u = 0 on the holes"
    inputs = ("x", "y")
    coefficient_specs = (Coefficient("r", RADIUS, 0.02, 0.19, "the holes' radius r in (0.02, 0.19)"),)
    derivatives = ("u_xx", "u_yy")
    example_targets = "r=0.08;r=0.12"

    def region(self):
        plate = Rectangle((-0.5, -0.5), (0.5, 0.5), name="plate")
        for k, centre in enumerate(CENTRES):
            plate = plate - Disk(centre, self.coefficients["r"], name=f"hole{k}")
        return Region(plate, ("x", "y"))

    def conditions(self):
        return [
            BoundaryCondition("sides", on=("plate",), value=lambda p: torch.ones_like(p[:, :1])),
            BoundaryCondition("holes", on=tuple(f"hole{k}" for k in range(4)),
                              value=lambda p: torch.zeros_like(p[:, :1])),
        ]

    def residual(self, f):
        return f["u_xx"] + f["u_yy"]

    def standard_grid(self):
        return {"x": np.linspace(-0.5, 0.5, 101), "y": np.linspace(-0.5, 0.5, 101)}

    def reference_at(self, points):
        return harmonic_solution(self.coefficients["r"])(points)


@lru_cache(maxsize=8)
def harmonic_solution(radius, sources_out=200, sources_hole=40):
    """The harmonic function with the plate's data (1 on the sides, 0 on the holes), as a
    function of (N, 2) points: sum_j c_j log|x - y_j| + c_0, with y_j on a circle of radius 0.9
    around the plate and on circles of half the holes' radius inside each hole, c fitted by
    least squares at twice as many boundary points."""
    def sources():
        around = 2 * np.pi * np.arange(sources_out) / sources_out
        inside = 2 * np.pi * np.arange(sources_hole) / sources_hole
        return np.concatenate([0.9 * np.c_[np.cos(around), np.sin(around)],
                               *(np.c_[cx + radius / 2 * np.cos(inside), cy + radius / 2 * np.sin(inside)]
                                 for cx, cy in CENTRES)])

    centres = sources()
    points, data = boundary_data(radius, 2 * sources_out, 3 * sources_hole)
    coefficients = np.linalg.lstsq(_logarithms(points, centres), data, rcond=None)[0]
    return lambda x: _logarithms(np.asarray(x, dtype=float), centres) @ coefficients


def boundary_data(radius, per_side, per_hole):
    """Points spread evenly on the plate's sides and holes, and the data there."""
    s = (np.arange(per_side) + 0.5) / per_side - 0.5
    half = np.full_like(s, 0.5)
    angles = 2 * np.pi * (np.arange(per_hole) + 0.5) / per_hole
    points = np.concatenate([np.c_[s, -half], np.c_[half, s], np.c_[s, half], np.c_[-half, s],
                             *(np.c_[cx + radius * np.cos(angles), cy + radius * np.sin(angles)] for cx, cy in CENTRES)])
    return points, np.r_[np.ones(4 * per_side), np.zeros(4 * per_hole)]


def _logarithms(points, centres):
    distances = np.hypot(points[:, None, 0] - centres[None, :, 0], points[:, None, 1] - centres[None, :, 1])
    return np.c_[np.log(distances), np.ones(len(points))]
