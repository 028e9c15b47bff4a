"""The solution figure's panels: lines along one input, maps over two, snapshots for more.

`plots.plot_solution` reads the values, picks the outputs shown (at most `MAX_ROWS` rows),
and titles and writes the figure; this module lays out the panels that its docstring describes.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
from matplotlib.figure import Figure

#: Snapshots of the last input (time where an input is named "t") shown for three or more inputs.
SNAPSHOTS = 4
#: The most rows of panels one solution figure holds (outputs times snapshots).
MAX_ROWS = 8
#: Inches of one row of panels, and of one panel's width.
ROW_HEIGHT, PANEL_WIDTH = 3.2, 5.0

#: Draws one map: (figure, axes, values, colour map, low, high, title).
Draw = Callable[[Figure, Any, np.ndarray, str, float, float, str], None]


def solution_figure(axes: dict[str, np.ndarray], inputs: tuple[str, ...], shown: list[str],
                    predicted: dict[str, np.ndarray], references: dict[str, np.ndarray] | None) -> Figure:
    """The panels of `plots.plot_solution` for the outputs `shown`, over the grid `axes`."""
    if len(inputs) == 1:
        return _along_one(axes[inputs[0]], inputs[0], shown, predicted, references)
    if len(inputs) == 2:
        draw = _grid_draw(axes, inputs)
        return maps([(name, predicted[name], None if references is None else references[name], "", draw)
                     for name in shown])
    if references is None:
        return _snapshot_columns(axes, inputs, shown, predicted)
    return _snapshot_rows(axes, inputs, shown, predicted, references)


def _spacing(figure: Figure) -> dict[str, float]:
    """Room between panels for their titles, labels and colour bars, and above them for the
    figure's title (a fixed layout: matplotlib's constrained layout takes seconds for a
    figure of 24 panels)."""
    height = figure.get_figheight()
    return {"hspace": 0.45, "wspace": 0.3, "top": 1 - 0.8 / height, "bottom": 0.5 / height}


def _along_one(axis: np.ndarray, name: str, outputs: list[str], predicted: dict[str, np.ndarray],
               references: dict[str, np.ndarray] | None) -> Figure:
    """One row per output: the reference and the prediction along the input, and the error."""
    columns = 1 if references is None else 2
    figure = Figure(figsize=(6.5 * columns, ROW_HEIGHT * len(outputs) + 0.6))
    panels = np.asarray(figure.subplots(len(outputs), columns, squeeze=False, sharex=True,
                                        gridspec_kw=_spacing(figure)))
    for row, output in enumerate(outputs):
        values = panels[row, 0]
        if references is not None:
            values.plot(axis, references[output], "k-", lw=2, label="reference")
        values.plot(axis, predicted[output], "r--" if references is not None else "r-", lw=1.5, label="PINN")
        values.set_ylabel(output)
        values.grid(True, alpha=0.3)
        if references is not None:
            values.legend(fontsize=8)
            error = np.abs(predicted[output] - references[output])
            errors = panels[row, 1]
            errors.semilogy(axis, np.maximum(error, 1e-300), "b-", lw=1)
            errors.set_ylabel(f"|error| of {output}")
            errors.grid(True, which="both", alpha=0.3)
    for ax in panels[-1]:
        ax.set_xlabel(name)
    return figure


def _snapshot_layout(axes: dict[str, np.ndarray], inputs: tuple[str, ...], count: int):
    """The two inputs mapped (the first two but time), time ("t", else the last input) with
    the indices of its snapshots (at most `count`, evenly spread from its first grid value
    to its last), and the middle index of every input left over."""
    along = "t" if "t" in inputs else inputs[-1]
    others = [name for name in inputs if name != along]
    mapped, fixed = tuple(others[:2]), others[2:]
    length = len(axes[along])
    steps = [int(k) for k in np.unique(np.round(np.linspace(0, length - 1, max(1, min(count, length)))))]
    middle = {name: (len(axes[name]) - 1) // 2 for name in fixed}
    return mapped, along, steps, middle


def _slice(values: np.ndarray, inputs: tuple[str, ...], mapped: tuple[str, str], at: dict[str, int]) -> np.ndarray:
    """`values` over the two `mapped` inputs (indexed in the order of `inputs`, as `mapped`
    lists them), every other input at its index in `at`."""
    assert [name for name in inputs if name not in at] == list(mapped)
    return values[tuple(at[name] if name in at else slice(None) for name in inputs)]


def _where(axes: dict[str, np.ndarray], inputs: tuple[str, ...], at: dict[str, int]) -> str:
    """"x3=0.5, x4=0.5, t=2.5": the values of the inputs held fixed, in the order of `inputs`."""
    return ", ".join(f"{name}={axes[name][at[name]]:.4g}" for name in inputs if name in at)


def _snapshot_rows(axes: dict[str, np.ndarray], inputs: tuple[str, ...], outputs: list[str],
                   predicted: dict[str, np.ndarray], references: dict[str, np.ndarray]) -> Figure:
    """Three or more inputs with a reference: one row of three maps per output and snapshot."""
    mapped, along, steps, middle = _snapshot_layout(axes, inputs, max(2, min(SNAPSHOTS, MAX_ROWS // len(outputs))))
    rows, draw = [], _grid_draw(axes, mapped)
    for output in outputs:
        for step in steps:
            at = {**middle, along: step}
            rows.append((output, _slice(predicted[output], inputs, mapped, at),
                         _slice(references[output], inputs, mapped, at), _where(axes, inputs, at), draw))
    return maps(rows)


def _snapshot_columns(axes: dict[str, np.ndarray], inputs: tuple[str, ...], outputs: list[str],
                      predicted: dict[str, np.ndarray]) -> Figure:
    """Three or more inputs, no reference: one row per output, one map per snapshot."""
    mapped, along, steps, middle = _snapshot_layout(axes, inputs, SNAPSHOTS)
    figure = Figure(figsize=(PANEL_WIDTH * len(steps), ROW_HEIGHT * len(outputs) + 0.6))
    panels = np.asarray(figure.subplots(len(outputs), len(steps), squeeze=False, gridspec_kw=_spacing(figure)))
    for row, output in enumerate(outputs):
        planes = [(_slice(predicted[output], inputs, mapped, {**middle, along: step}), {**middle, along: step})
                  for step in steps]
        low, high = _range(*(plane for plane, _ in planes))
        for ax, (plane, at) in zip(panels[row], planes):
            _map(figure, ax, axes, mapped, plane, "RdBu_r", low, high, f"{output} PINN, {_where(axes, inputs, at)}")
    return figure


def maps(rows: list[tuple[str, np.ndarray, np.ndarray | None, str, Draw]]) -> Figure:
    """One row per (output, prediction, reference or None, where, how to draw a map): the
    prediction, the reference and their absolute difference as maps; the prediction alone
    without a reference. An output's maps share one colour scale (the reference's range)
    across its rows."""
    columns = 1 if rows[0][2] is None else 3
    figure = Figure(figsize=(PANEL_WIDTH * columns, ROW_HEIGHT * len(rows) + 0.6))
    panels = np.asarray(figure.subplots(len(rows), columns, squeeze=False, gridspec_kw=_spacing(figure)))
    scales = {}
    for output, prediction, reference, *_ in rows:
        scales.setdefault(output, []).append(prediction if reference is None else reference)
    scales = {output: _range(*planes) for output, planes in scales.items()}
    for ax_row, (output, prediction, reference, where, draw) in zip(panels, rows):
        low, high = scales[output]
        suffix = f", {where}" if where else ""
        draw(figure, ax_row[0], prediction, "RdBu_r", low, high, f"{output} PINN{suffix}")
        if reference is not None:
            error = np.abs(prediction - reference)
            draw(figure, ax_row[1], reference, "RdBu_r", low, high, f"{output} reference{suffix}")
            draw(figure, ax_row[2], error, "magma", *_range(error, low=0.0), f"|{output} PINN - reference|{suffix}")
    return figure


def _grid_draw(axes: dict[str, np.ndarray], mapped: tuple[str, str]) -> Draw:
    """Maps over the grid's two inputs `mapped` (values indexed in that order)."""
    return lambda figure, ax, plane, cmap, low, high, title: _map(figure, ax, axes, mapped, plane, cmap, low, high,
                                                                   title)


def _range(*planes: np.ndarray, low: float | None = None) -> tuple[float, float]:
    """The finite values' range over `planes` (from `low` where given), never empty."""
    finite = [plane[np.isfinite(plane)] for plane in planes]
    finite = [values for values in finite if values.size]
    bottom = low if low is not None else (min(float(v.min()) for v in finite) if finite else 0.0)
    top = max(float(v.max()) for v in finite) if finite else bottom + 1.0
    if not top > bottom:  # a constant field: a scale just above it
        top = bottom + max(1e-12, 1e-6 * abs(bottom))
    return bottom, top


def _edges(values: np.ndarray) -> np.ndarray:
    """Cell edges around grid values (midway between neighbours; a lone value gets a unit cell)."""
    if len(values) == 1:
        return np.array([values[0] - 0.5, values[0] + 0.5])
    middles = (values[1:] + values[:-1]) / 2
    return np.concatenate([[2 * values[0] - middles[0]], middles, [2 * values[-1] - middles[-1]]])


def _map(figure: Figure, ax, axes: dict[str, np.ndarray], mapped: tuple[str, str], plane: np.ndarray, cmap: str,
         low: float, high: float, title: str) -> None:
    """`plane` (indexed in the order of `mapped`) over its two inputs, time horizontal where
    one of them is "t", else the first input horizontal; with a colour bar."""
    first, second = mapped
    horizontal, vertical = (second, first) if second == "t" else (first, second)
    data = plane.T if horizontal == first else plane  # rows along the vertical input
    image = ax.pcolormesh(_edges(axes[horizontal]), _edges(axes[vertical]), np.ma.masked_invalid(data),
                          cmap=cmap, vmin=low, vmax=high, shading="flat")
    ax.set(xlabel=horizontal, ylabel=vertical)
    ax.set_title(title, fontsize=9)
    figure.colorbar(image, ax=ax)
