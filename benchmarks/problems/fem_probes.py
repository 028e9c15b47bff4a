"""Values of a scikit-fem solution at many points, fast: the containing triangle by matplotlib's
trapezoid-map finder (scikit-fem's own finder is slow for ~10^5 points), then the element's basis
functions at the point. Points just outside the mesh (between a curved boundary and the polygon
that stands for it) take the nearest element's polynomial."""

import numpy as np


def probe_matrix(mesh, basis, xy):
    """The sparse (N, dofs) matrix whose product with a solution vector gives its values at the
    (N, 2) points `xy`."""
    from matplotlib.tri import Triangulation
    from scipy.sparse import coo_matrix

    xy = np.asarray(xy, dtype=float)
    cells = Triangulation(*mesh.p, mesh.t.T).get_trifinder()(xy[:, 0], xy[:, 1])
    lost = np.nonzero(cells < 0)[0]
    if len(lost):
        centres = mesh.p[:, mesh.t].mean(axis=1).T
        for chunk in np.array_split(lost, max(1, len(lost) // 256)):
            cells[chunk] = np.argmin(((xy[chunk, None, :] - centres[None]) ** 2).sum(axis=2), axis=1)
    mapping = mesh.mapping()
    local = mapping.invF(xy.T[:, :, None], tind=cells)
    values = np.array([basis.elem.gbasis(mapping, local, k, tind=cells)[0] for k in range(basis.Nbfun)])
    rows = np.tile(np.arange(len(xy)), basis.Nbfun)
    return coo_matrix((values.ravel(), (rows, basis.element_dofs[:, cells].ravel())),
                      shape=(len(xy), basis.N)).tocsr()
