"""Domains beyond boxes: shapes, their boundary pieces and smooth distance functions.

A `Shape` knows which points it contains, samples its interior and its boundary (with outward
unit normals) and gives a smooth approximate signed distance `signed(x)`: > 0 inside, 0 on the
boundary, < 0 outside, with |grad| = 1 on the boundary away from corners. Its `pieces()` are the
named parts of the boundary, each with its own distance function. With them a Dirichlet
condition is imposed exactly by writing the solution as u = g + phi * N with phi = 0 on the
boundary (Sukumar & Srivastava, "Exact imposition of boundary conditions with distance functions
in physics-informed deep neural networks", CMAME 389, 114333, 2022).

Primitives (`primitives`): `Interval`, `Box` (alias `Rectangle`), `Ball` (alias `Disk` in 2-D);
`Polygon` (`polygon`). Composites (`composites`): `a | b` (`Union`), `a & b` (`Intersection`), `a - b`
(`Difference`); their signed functions are Rvachev's R0 functions of the parts' (V. L. Rvachev,
"Theory of R-functions and some applications", 1982; V. Shapiro, "Semi-analytic geometry with
R-functions", Acta Numerica 16, 2007). The base `Shape`, `Piece` and `GeometryError` are in
`shape`; the R-functions (`r_and`, `r_or`), trimming and segment distances in `distances`.

Conventions: points are (N, dim) arrays; numpy for `contains` and sampling, torch for the
distance functions (any float dtype and device, differentiable by autograd to second order at
points off the boundary). A shape's boundary counts as inside it (closed sets), to a tolerance of
1e-12 times its size.
"""

from .composites import Difference, Intersection, Union
from .distances import point_segment_distance as point_segment_distance  # for pinn_pac.solver.region_form
from .distances import r_and, r_or
from .polygon import Polygon
from .primitives import Ball, Box, Disk, Interval, Rectangle
from .shape import GeometryError, Piece, Shape

__all__ = [
    "Ball", "Box", "Difference", "Disk", "GeometryError", "Intersection", "Interval", "Piece", "Polygon",
    "Rectangle", "Shape", "Union", "r_and", "r_or",
]
