"""Figures: prediction, reference and error maps; loss and error curves.

Figures are made with matplotlib's object interface (`Figure`), not pyplot: writing them
needs no GUI backend, and importing pinn-pac leaves the user's backend (a notebook's) alone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from .checkpoint import atomic_write
from ..solver.train import History


def save_figure(figure: Figure, path: Path) -> None:
    """Write a figure as PNG atomically and close it where pyplot manages it."""
    atomic_write(Path(path), lambda f: figure.savefig(f, format="png", dpi=110, bbox_inches="tight"))
    if getattr(figure, "number", None) is not None:  # made by pyplot: release it there
        import matplotlib.pyplot as plt

        plt.close(figure)


#: Snapshots of the last input (time where an input is named "t") shown for three or more inputs.
SNAPSHOTS = 4
#: The most rows of panels one solution figure holds (outputs times snapshots).
MAX_ROWS = 8
#: Inches of one row of panels, and of one panel's width.
ROW_HEIGHT, PANEL_WIDTH = 3.2, 5.0


def plot_solution(
    grid: dict[str, np.ndarray],
    inputs: tuple[str, ...],
    prediction: np.ndarray,
    reference: np.ndarray | None,
    title: str,
    path: Path,
    outputs: tuple[str, ...] | None = None,
) -> None:
    """The prediction against the reference and their absolute difference, for any number of
    inputs and outputs; the prediction alone where there is no reference.

    `prediction` and `reference` are indexed in the order of `inputs` (each axis as long as
    its grid), with a last axis of one column per output where there are several (as
    `Evaluator.predict` gives them). `outputs` names those columns ("u", "v"); by default u,
    or u1, u2, ... One row of panels per output:

    * one input: the reference and the prediction along it, beside the error (log scale);
    * two inputs: maps of the prediction, the reference and the error;
    * three or more: snapshots, the same three maps over the first two inputs other than
      time at up to four values of time ("t", else the last input), evenly spread from its
      first grid value to its last; the inputs left over are held at their middle grid value,
      as each panel's title says. Without a reference, one row per output with one map per
      snapshot.

    A figure holds at most `MAX_ROWS` rows (with snapshots of several outputs, fewer
    snapshots, at least two); outputs beyond those shown are named in the title.
    """
    inputs = tuple(inputs)
    if not inputs:
        raise ValueError("a solution figure needs at least one input")
    shape = tuple(len(np.asarray(grid[name]).reshape(-1)) for name in inputs)
    predicted = _columns(prediction, shape, inputs, outputs, "prediction")
    references = None if reference is None else _columns(reference, shape, inputs, outputs, "reference")
    if references is not None and list(references) != list(predicted):
        raise ValueError(f"the reference has outputs {list(references)}, the prediction {list(predicted)}")
    axes = {name: np.asarray(grid[name], dtype=np.float64).reshape(-1) for name in inputs}
    snapshot_rows = len(inputs) > 2 and references is not None
    shown = list(predicted)[:MAX_ROWS // 2 if snapshot_rows else MAX_ROWS]
    if len(inputs) == 1:
        figure = _along_one(axes[inputs[0]], inputs[0], shown, predicted, references)
    elif len(inputs) == 2:
        figure = _maps(axes, inputs, [(name, predicted[name], None if references is None else references[name], "")
                                      for name in shown])
    elif references is None:
        figure = _snapshot_columns(axes, inputs, shown, predicted)
    else:
        figure = _snapshot_rows(axes, inputs, shown, predicted, references)
    if len(shown) < len(predicted):
        title += f" ({', '.join(shown)} shown of {len(predicted)} outputs)"
    figure.suptitle(title, y=1 - 0.2 / figure.get_figheight())
    save_figure(figure, path)


def _spacing(figure: Figure) -> dict[str, float]:
    """Room between panels for their titles, labels and colour bars, and above them for the
    figure's title (a fixed layout: matplotlib's constrained layout takes seconds for a
    figure of 24 panels)."""
    height = figure.get_figheight()
    return {"hspace": 0.45, "wspace": 0.3, "top": 1 - 0.8 / height, "bottom": 0.5 / height}


def _columns(values: np.ndarray, shape: tuple[int, ...], inputs: tuple[str, ...], outputs: tuple[str, ...] | None,
             what: str) -> dict[str, np.ndarray]:
    """Each output's values on the grid (shaped like it), by output name."""
    values = np.asarray(values, dtype=np.float64)
    if values.shape == shape:
        columns = [values]
    elif values.shape[:-1] == shape and values.ndim == len(shape) + 1:
        columns = [values[..., k] for k in range(values.shape[-1])]
    elif values.size == int(np.prod(shape)):  # one output, stored flat or with a column axis of one
        columns = [values.reshape(shape)]
    else:
        raise ValueError(f"the {what} has shape {values.shape}; the grid of {', '.join(inputs)} is {shape}, "
                         f"with a last axis of one column per output where there are several")
    if outputs is None or len(outputs) != len(columns):
        outputs = ("u",) if len(columns) == 1 else tuple(f"u{k + 1}" for k in range(len(columns)))
    return dict(zip(outputs, columns))


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
    rows = []
    for output in outputs:
        for step in steps:
            at = {**middle, along: step}
            rows.append((output, _slice(predicted[output], inputs, mapped, at),
                         _slice(references[output], inputs, mapped, at), _where(axes, inputs, at)))
    return _maps(axes, mapped, rows)


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


def _maps(axes: dict[str, np.ndarray], mapped: tuple[str, str],
          rows: list[tuple[str, np.ndarray, np.ndarray | None, str]]) -> Figure:
    """One row per (output, prediction, reference or None, where): the prediction, the
    reference and their absolute difference mapped over the two inputs `mapped` (the values
    indexed in that order); the prediction alone without a reference. An output's maps
    share one colour scale (the reference's range) across its rows."""
    columns = 1 if rows[0][2] is None else 3
    figure = Figure(figsize=(PANEL_WIDTH * columns, ROW_HEIGHT * len(rows) + 0.6))
    panels = np.asarray(figure.subplots(len(rows), columns, squeeze=False, gridspec_kw=_spacing(figure)))
    scales = {}
    for output, prediction, reference, _ in rows:
        scales.setdefault(output, []).append(prediction if reference is None else reference)
    scales = {output: _range(*planes) for output, planes in scales.items()}
    for ax_row, (output, prediction, reference, where) in zip(panels, rows):
        low, high = scales[output]
        suffix = f", {where}" if where else ""
        _map(figure, ax_row[0], axes, mapped, prediction, "RdBu_r", low, high, f"{output} PINN{suffix}")
        if reference is not None:
            error = np.abs(prediction - reference)
            _map(figure, ax_row[1], axes, mapped, reference, "RdBu_r", low, high, f"{output} reference{suffix}")
            _map(figure, ax_row[2], axes, mapped, error, "magma", *_range(error, low=0.0),
                 f"|{output} PINN - reference|{suffix}")
    return figure


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


def plot_histories(histories: dict[str, History], path: Path) -> None:
    """Loss and relative L2 error against wall seconds, one line per model."""
    figure = Figure(figsize=(12, 4))
    loss_ax, error_ax = figure.subplots(1, 2)
    for label, history in histories.items():
        loss_ax.semilogy(history.seconds, history.loss, label=label)
        error_ax.semilogy(history.seconds, history.rel_l2, label=label)
    loss_ax.set(xlabel="seconds", ylabel="loss", title="training loss")
    error_ax.set(xlabel="seconds", ylabel="relative L2 error", title="error against the reference")
    for ax in (loss_ax, error_ax):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    save_figure(figure, path)


def plot_family(axis: str, series: dict[str, tuple[list[float], list[float], list[float]]], path: Path,
                source: float | None = None) -> None:
    """Target error and training seconds against `axis` (a coefficient, or the target's
    number), one line per method: `series[method] = (positions, errors, seconds)`; a dashed
    line marks the source's coefficient where given."""
    figure = Figure(figsize=(12, 4))
    error_ax, seconds_ax = figure.subplots(1, 2)
    for method, (positions, errors, seconds) in series.items():
        error_ax.plot(positions, errors, "o-", ms=4, label=method)
        seconds_ax.plot(positions, seconds, "o-", ms=4, label=method)
    positions = [p for values in series.values() for p in values[0]]
    logarithmic = min(positions) > 0 and max(positions) / min(positions) > 10
    for ax in (error_ax, seconds_ax):
        ax.set_xscale("log" if logarithmic else "linear")
        ax.xaxis.set_minor_formatter(NullFormatter())
        if source is not None:
            ax.axvline(source, color="gray", ls="--", lw=1, label="source")
        ax.set_xlabel(axis)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    error_ax.set_yscale("log")
    error_ax.set(ylabel="relative L2 error", title="each target's error")
    seconds_ax.set(ylabel="seconds", title="each target's training time")
    save_figure(figure, path)


def plot_unknowns(history: History, start: dict[str, float], identified: dict[str, float],
                  standard_errors: dict[str, float] | None, path: Path) -> None:
    """Each unknown against optimizer step, from its start to what was identified (a band of
    one approximate standard error where known)."""
    names = list(identified)
    figure = Figure(figsize=(5 * len(names), 3.8))
    axes = np.atleast_1d(figure.subplots(1, len(names)))
    for ax, name in zip(axes, names):
        ax.plot(history.step, history.tracked[name], "b-", lw=1.5)
        ax.axhline(start[name], color="gray", ls=":", lw=1, label=f"start {start[name]:.6g}")
        ax.axhline(identified[name], color="r", ls="--", lw=1, label=f"identified {identified[name]:.6g}")
        if standard_errors:
            ax.axhspan(identified[name] - standard_errors[name], identified[name] + standard_errors[name],
                       color="r", alpha=0.15, label=f"± {standard_errors[name]:.2g} (approx.)")
        ax.set(xlabel="step", ylabel=name, title=name)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    save_figure(figure, path)


def plot_data_fit(data: dict[str, np.ndarray], predicted: dict[str, np.ndarray], path: Path) -> None:
    """Each observed output's prediction against its data, with the identity line."""
    names = list(data)
    figure = Figure(figsize=(4.5 * len(names), 4.2))
    axes = np.atleast_1d(figure.subplots(1, len(names)))
    for ax, name in zip(axes, names):
        low, high = float(min(data[name].min(), predicted[name].min())), float(max(data[name].max(), predicted[name].max()))
        ax.plot([low, high], [low, high], "k-", lw=1)
        ax.plot(data[name], predicted[name], "r.", ms=2)
        rms = float(np.sqrt(np.mean((predicted[name] - data[name]) ** 2)))
        ax.set(xlabel=f"{name} measured", ylabel=f"{name} predicted", title=f"{name}: rms mismatch {rms:.2e}")
        ax.grid(True, alpha=0.3)
    save_figure(figure, path)
