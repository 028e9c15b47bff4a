"""Poisson's equation on the L-shaped domain as DeepXDE's example poses it, written as a user
writes it: the domain, the condition, no exact form, no scale.

-laplace(u) = f on [-1, 1]^2 minus [0, 1]^2, u = 0 on the boundary (f = 1). The solution has a
corner singularity (u ~ r^(2/3) at the re-entrant corner), so there is no closed form: the
reference is a finite-element solution (scikit-fem, quadratic triangles on a mesh refined
towards the corner), validated against sin(pi x) sin(pi y), which vanishes on every side: 1.8e-6 (the sixth refinement;
it moves the Poisson solution on the standard grid by 8.1e-6 from the fifth).
"""

from functools import lru_cache

import numpy as np
import torch

from fem_probes import probe_matrix

from equations import BoundaryCondition, Coefficient, Equation, Region
from equations import Polygon

CORNERS = [(0, 0), (1, 0), (1, -1), (-1, -1), (-1, 1), (0, 1)]


class PoissonLShape(Equation):
    name = "poisson-lshape"
    summary = "-laplace(u) = f on the L-shape [-1,1]^2 minus [0,1]^2; u = 0 on its boundary"
    inputs = ("x", "y")
    coefficient_specs = (Coefficient("f", 1.0, 0.0, 10.0, "the constant source f in (0, 10)"),)
    derivatives = ("u_xx", "u_yy")
    example_targets = "f=2"

    def region(self):
        return Region(Polygon(CORNERS, name="l"), ("x", "y"))

    def conditions(self):
        return [BoundaryCondition("walls", value=lambda p: torch.zeros_like(p[:, :1]))]

    def residual(self, f):
        return -(f["u_xx"] + f["u_yy"]) - self.coefficients["f"]

    def standard_grid(self):
        return {"x": np.linspace(-1, 1, 101), "y": np.linspace(-1, 1, 101)}

    def reference_at(self, points):
        return self.coefficients["f"] * unit_solution(REFINEMENTS)(points)


#: Uniform refinements of scikit-fem's L-shape mesh, then extra refinement at the corner.
REFINEMENTS = 6
CORNER_REFINEMENTS = 6


@lru_cache(maxsize=4)
def unit_solution(refinements, source=None):
    """The finite-element solution of -laplace(u) = 1 (or `source`, a function of x and y)
    with u = 0 on the L-shape's boundary, as a function of (N, 2) points."""
    from skfem import Basis, ElementTriP2, MeshTri, condense, solve, asm
    from skfem.models.poisson import laplace
    from skfem import LinearForm

    mesh = MeshTri.init_lshaped().refined(refinements)
    for k in range(CORNER_REFINEMENTS):  # graded towards the re-entrant corner (0, 0)
        middles = mesh.p[:, mesh.t].mean(axis=1)
        mesh = mesh.refined(np.nonzero(np.hypot(*middles) < 0.5 ** (k + 1))[0])
    basis = Basis(mesh, ElementTriP2())

    @LinearForm
    def load(v, w):
        return (1.0 if source is None else source(w.x[0], w.x[1])) * v

    solution = solve(*condense(asm(laplace, basis), asm(load, basis), D=basis.get_dofs()))
    return lambda points: probe_matrix(mesh, basis, points) @ solution
