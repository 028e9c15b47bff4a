"""PINNacle's Heat2d-CG (Hao et al. 2024, `src/pde/heat.py`, Heat2D_ComplexGeometry) written as a
user writes it: the domain, the conditions its source states, no exact form, no scale.

u_t = laplace(u) on the plate [-8, 8] x [-12, 12] with 11 holes of radius 1 and 6 of radius 0.4,
t in [0, 3]; u = 0 at t = 0; Robin on every boundary: du/dn + u = g with g = 5 on the big holes,
1 on the small ones and 0.1 on the plate's sides (n outward). PINNacle's reference is a COMSOL
solution; here it is scikit-fem's: quadratic triangles on a Delaunay mesh graded towards the holes
(their circles as polygons of 32 sides a radian), BDF2 in time (see `heat_solution`).
"""

from functools import lru_cache

import numpy as np

from fem_probes import probe_matrix

from equations import BoundaryCondition, Coefficient, DirichletCondition, Disk, Equation, Rectangle, Region

BIG = tuple((x, y) for x in (-4.0, 4.0) for y in (-9.0, -3.0, 3.0, 9.0)) + ((0.0, 0.0), (0.0, -6.0), (0.0, 6.0))
SMALL = tuple((x, y) for x in (-3.2, 3.2) for y in (-6.0, 0.0, 6.0))
HOLES = tuple((c, 1.0) for c in BIG) + tuple((c, 0.4) for c in SMALL)
T = 3.0


class Heat2DHoles(Equation):
    name = "heat2d-holes"
    summary = "u_t = laplace(u) on [-8,8]x[-12,12] minus 17 disks, t in [0,3]; u0 = 0; du/dn + u = g on every boundary"
    inputs = ("x", "y", "t")
    coefficient_specs = (Coefficient("g", 5.0, 0.0, 20.0, "the big holes' Robin data g in (0, 20)"),)
    derivatives = ("u_t", "u_xx", "u_yy")
    example_targets = "g=4;g=6"

    def region(self):
        plate = Rectangle((-8.0, -12.0), (8.0, 12.0), name="plate")
        for k, centre in enumerate(BIG):
            plate = plate - Disk(centre, 1.0, name=f"big{k}")
        for k, centre in enumerate(SMALL):
            plate = plate - Disk(centre, 0.4, name=f"small{k}")
        return Region(plate, ("x", "y"), {"t": (0.0, T)})

    def conditions(self):
        g = self.coefficients["g"]
        return [
            DirichletCondition("initial", on="t", at=(0.0,), value=lambda p: 0 * p[:, :1]),
            BoundaryCondition("big holes", on=tuple(f"big{k}" for k in range(len(BIG))), kind="robin", alpha=1.0,
                              value=lambda p: 0 * p[:, :1] + g),
            BoundaryCondition("small holes", on=tuple(f"small{k}" for k in range(len(SMALL))), kind="robin",
                              alpha=1.0, value=lambda p: 0 * p[:, :1] + 1.0),
            BoundaryCondition("sides", on=("plate",), kind="robin", alpha=1.0, value=lambda p: 0 * p[:, :1] + 0.1),
        ]

    def residual(self, f):
        return f["u_t"] - (f["u_xx"] + f["u_yy"])

    def standard_grid(self):
        return {"x": np.linspace(-8, 8, 81), "y": np.linspace(-12, 12, 121), "t": np.linspace(0, T, 31)}

    def reference_at(self, points):
        return heat_solution(self.coefficients["g"])(points)


#: Mesh size away from the holes, points a radian on the circles, time step.
SPACING, PER_RADIAN, STEP = 0.2, 32, 0.01
SNAPSHOTS = 31


@lru_cache(maxsize=2)
def heat_solution(g):
    """The finite-element solution with the big holes' data g, as a function of (N, 3) points."""
    return finite_elements(g)


def finite_elements(g, spacing=SPACING, per_radian=PER_RADIAN, step=STEP, data=None, source=None, initial=None):
    """The finite-element solution as a function of (N, 3) points (x, y, t): at the 31 times
    0, 0.1, ..., 3 as computed, linear in time between them. `data` (a function of x, y, t and
    the normal's two components per boundary group "big", "small", "sides"), `source` and
    `initial` replace the problem's own, for validation against a manufactured solution."""
    from scipy.sparse.linalg import splu
    from skfem import Basis, BilinearForm, ElementTriP2, FacetBasis, LinearForm, MeshTri, asm
    from skfem.helpers import dot, grad

    mesh = MeshTri(*(array.T.copy() for array in _mesh(spacing, per_radian)))
    groups = _boundary_groups(mesh)
    element = ElementTriP2()
    basis = Basis(mesh, element)
    facets = {name: FacetBasis(mesh, element, facets=ids) for name, ids in groups.items()}
    product = BilinearForm(lambda u, v, w: u * v)
    mass = asm(product, basis)
    stiffness = asm(BilinearForm(lambda u, v, w: dot(grad(u), grad(v))), basis)
    robin = sum(asm(product, facet) for facet in facets.values())
    constant = data is None and source is None
    data = data or {"big": lambda x, y, t, nx, ny: g + 0 * x, "small": lambda x, y, t, nx, ny: 1 + 0 * x,
                    "sides": lambda x, y, t, nx, ny: 0.1 + 0 * x}

    def load(t):
        total = sum(asm(LinearForm(lambda v, w, f=data[name]: f(w.x[0], w.x[1], t, w.n[0], w.n[1]) * v), facet)
                    for name, facet in facets.items())
        if source is not None:
            total = total + asm(LinearForm(lambda v, w: source(w.x[0], w.x[1], t) * v), basis)
        return total

    fixed = load(0.0) if constant else None
    u = np.zeros(basis.N) if initial is None else basis.project(lambda x: initial(x[0], x[1]))
    first = splu((mass / step + stiffness + robin).tocsc())  # backward Euler, then BDF2
    second = splu((1.5 * mass / step + stiffness + robin).tocsc())
    steps = int(round(T / step))
    every = steps // (SNAPSHOTS - 1)
    snapshots, previous = [u.copy()], None
    for n in range(1, steps + 1):
        right = fixed if constant else load(n * step)
        if previous is None:
            new = first.solve(mass @ u / step + right)
        else:
            new = second.solve(mass @ (2 * u - 0.5 * previous) / step + right)
        previous, u = u, new
        if n % every == 0:
            snapshots.append(u.copy())
    snapshots = np.array(snapshots)
    times = np.linspace(0.0, T, SNAPSHOTS)

    def solution(points):
        points = np.asarray(points, dtype=float)
        at = probe_matrix(mesh, basis, points[:, :2])
        position = np.clip(points[:, 2] / T * (SNAPSHOTS - 1), 0, SNAPSHOTS - 1)
        low = np.minimum(np.floor(position).astype(int), SNAPSHOTS - 2)
        weight = position - low
        values = np.empty(len(points))
        for k in np.unique(low):
            rows = np.nonzero(low == k)[0]
            start, end = at[rows] @ snapshots[k], at[rows] @ snapshots[k + 1]
            values[rows] = (1 - weight[rows]) * start + weight[rows] * end
        return values

    solution.times = times
    return solution


def _mesh(spacing, per_radian, growth=1.25):
    """Points and triangles: rings around each hole from its circle (per_radian points a radian
    of the big ones) growing to `spacing`, a triangular lattice elsewhere, Delaunay, triangles
    inside the holes removed."""
    from scipy.spatial import Delaunay

    xs, ys = np.linspace(-8, 8, int(round(16 / spacing)) + 1), np.linspace(-12, 12, int(round(24 / spacing)) + 1)
    parts = [np.c_[xs, np.full_like(xs, -12)], np.c_[xs, np.full_like(xs, 12)],
             np.c_[np.full_like(ys[1:-1], -8), ys[1:-1]], np.c_[np.full_like(ys[1:-1], 8), ys[1:-1]]]
    reach = []
    for (cx, cy), r in HOLES:
        n, rr, k = int(np.ceil(2 * np.pi * per_radian * max(r, 0.5))), r, 0
        while True:
            gap = 2 * np.pi * rr / n
            angles = 2 * np.pi * (np.arange(n) + 0.5 * (k % 2)) / n
            parts.append(np.c_[cx + rr * np.cos(angles), cy + rr * np.sin(angles)])
            if gap * growth >= spacing:
                break
            rr, k = rr + gap * np.sqrt(3) / 2, k + 1
            n = max(6, int(np.ceil(2 * np.pi * rr / (gap * growth))))
        reach.append(rr + 0.5 * spacing)
    x, y = np.meshgrid(np.arange(-8 + spacing, 8 - spacing / 2, spacing),
                       np.arange(-12 + spacing, 12 - spacing / 2, spacing * np.sqrt(3) / 2))
    x = x + (np.arange(x.shape[0])[:, None] % 2) * spacing / 2
    lattice = np.c_[x.ravel(), y.ravel()]
    keep = (lattice[:, 0] < 8 - spacing / 2) & (lattice[:, 1] < 12 - spacing / 2)
    for ((cx, cy), _), out in zip(HOLES, reach):
        keep &= np.hypot(lattice[:, 0] - cx, lattice[:, 1] - cy) > out
    points = np.concatenate([*parts, lattice[keep]])
    points = points[(np.abs(points[:, 0]) <= 8) & (np.abs(points[:, 1]) <= 12)]
    triangles = Delaunay(points).simplices
    centres = points[triangles].mean(axis=1)
    outside = np.ones(len(triangles), dtype=bool)
    for (cx, cy), r in HOLES:
        outside &= np.hypot(centres[:, 0] - cx, centres[:, 1] - cy) > r
    return points, triangles[outside]


def _boundary_groups(mesh):
    """The boundary facets of the big holes, the small holes and the plate's sides."""
    facets = mesh.boundary_facets()
    middle = mesh.p[:, mesh.facets[:, facets]].mean(axis=1)
    big, small = np.zeros(len(facets), dtype=bool), np.zeros(len(facets), dtype=bool)
    for (cx, cy), r in HOLES:
        near = np.abs(np.hypot(middle[0] - cx, middle[1] - cy) - r) < 0.3 * r
        big |= near & (r == 1.0)
        small |= near & (r != 1.0)
    return {"big": facets[big], "small": facets[small], "sides": facets[~(big | small)]}
