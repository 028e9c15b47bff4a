"""The solution figure over a reference's own points (a family's `reference_values`): lines
along one input; for more, maps over two inputs on the points' Delaunay triangulation
(matplotlib's tri), the triangles whose centre lies outside the domain left out, so that a
hole stays blank. With three or more inputs, where the points repeat at a few values of time
("t", else the last input), up to four of those snapshots; else every point over the first two
inputs other than time."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.tri import Triangulation

from equations import Equation

from ..solver.evaluate import in_region
from .solution_panels import MAX_ROWS, SNAPSHOTS, Draw, maps, solution_figure


def point_solution_figure(equation: Equation, points: np.ndarray, shown: list[str],
                          predicted: dict[str, np.ndarray], references: dict[str, np.ndarray] | None) -> Figure:
    """The panels of `plots.plot_solution_at_points` for the outputs `shown` at `points`."""
    inputs = equation.inputs
    if len(inputs) == 1:
        order = np.argsort(points[:, 0], kind="stable")
        return solution_figure({inputs[0]: points[order, 0]}, inputs, shown,
                               {name: predicted[name][order] for name in shown},
                               None if references is None else {name: references[name][order] for name in shown})
    along = "t" if "t" in inputs else inputs[-1]
    if len(inputs) == 2:
        mapped, groups = inputs, [(np.arange(len(points)), "")]
    else:
        mapped = tuple(name for name in inputs if name != along)[:2]
        count = max(2, min(SNAPSHOTS, MAX_ROWS // len(shown)))
        groups = _snapshots(points[:, inputs.index(along)], along, count)
    rows = []
    for rows_at, where in groups:
        draw = _triangulated(equation, points[rows_at], mapped)
        for output in shown:
            reference = None if references is None else references[output][rows_at]
            rows.append((output, predicted[output][rows_at], reference, where, draw))
    rows.sort(key=lambda row: shown.index(row[0]))  # an output's snapshots together
    return maps(rows)


def _snapshots(times: np.ndarray, along: str, count: int) -> list[tuple[np.ndarray, str]]:
    """Up to `count` of the values the points repeat at, evenly spread from the first to the
    last, each with its points (three or more); all points at once where they do not repeat."""
    values = np.unique(times)
    if 3 * len(values) <= len(times):
        picked = values[np.unique(np.round(np.linspace(0, len(values) - 1, count)).astype(int))]
        groups = [(np.nonzero(times == value)[0], f"{along}={value:.4g}") for value in picked]
        groups = [(rows, where) for rows, where in groups if len(rows) >= 3]
        if groups:
            return groups
    return [(np.arange(len(times)), f"every {along}")]


def _triangulated(equation: Equation, points: np.ndarray, mapped: tuple[str, ...]) -> Draw:
    """Maps over the inputs `mapped` of `points` (time horizontal where it is one of them), on
    their Delaunay triangulation without the triangles centred outside the domain; a scatter
    where the points cannot be triangulated (all on a line)."""
    first, second = mapped
    horizontal, vertical = (second, first) if second == "t" else (first, second)
    x, y = (points[:, equation.inputs.index(name)] for name in (horizontal, vertical))
    try:
        triangulation = Triangulation(x, y)
        centres = points[triangulation.triangles].mean(axis=1)
        triangulation.set_mask(~in_region(equation, centres))
    except (RuntimeError, ValueError):
        triangulation = None

    def draw(figure: Figure, ax, values: np.ndarray, cmap: str, low: float, high: float, title: str) -> None:
        if triangulation is None:
            image = ax.scatter(x, y, c=values, cmap=cmap, vmin=low, vmax=high, s=4)
        else:
            image = ax.tripcolor(triangulation, values, cmap=cmap, vmin=low, vmax=high, shading="gouraud")
        ax.set(xlabel=horizontal, ylabel=vertical)
        ax.set_title(title, fontsize=9)
        figure.colorbar(image, ax=ax)

    return draw
