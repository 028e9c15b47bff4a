"""Figures: prediction, reference and error maps; loss and error curves.

Figures are made with matplotlib's object interface (`Figure`), not pyplot: writing them
needs no GUI backend, and importing pinn-pac leaves the user's backend (a notebook's) alone.
The solution figure's panels are laid out in `solution_panels`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from equations import Equation
from equations.errors import InputError

from .checkpoint import atomic_write
from ..solver.train import History
from .point_panels import point_solution_figure
from .solution_panels import MAX_ROWS, solution_figure


def save_figure(figure: Figure, path: Path) -> None:
    """Write a figure as PNG atomically and close it where pyplot manages it."""
    atomic_write(Path(path), lambda f: figure.savefig(f, format="png", dpi=110, bbox_inches="tight"))
    if getattr(figure, "number", None) is not None:  # made by pyplot: release it there
        import matplotlib.pyplot as plt

        plt.close(figure)


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
        raise InputError("a solution figure needs at least one input")
    shape = tuple(len(np.asarray(grid[name]).reshape(-1)) for name in inputs)
    predicted = _columns(prediction, shape, inputs, outputs, "prediction")
    references = None if reference is None else _columns(reference, shape, inputs, outputs, "reference")
    if references is not None and list(references) != list(predicted):
        raise InputError(f"the reference has outputs {list(references)}, the prediction {list(predicted)}")
    axes = {name: np.asarray(grid[name], dtype=np.float64).reshape(-1) for name in inputs}
    shown = _shown(predicted, len(inputs) > 2 and references is not None)
    _save_solution(solution_figure(axes, inputs, shown, predicted, references), shown, predicted, title, path)


def plot_solution_at_points(equation: Equation, points: np.ndarray, prediction: np.ndarray,
                            reference: np.ndarray | None, title: str, path: Path) -> None:
    """`plot_solution` over a reference's own (N, n_inputs) `points` (see `point_panels`):
    `prediction` and `reference` are (N,) or (N, n_outputs)."""
    shape, inputs = (len(points),), equation.inputs
    predicted = _columns(prediction, shape, inputs, equation.outputs, "prediction")
    references = None if reference is None else _columns(reference, shape, inputs, equation.outputs, "reference")
    shown = _shown(predicted, len(inputs) > 2 and references is not None)
    figure = point_solution_figure(equation, points, shown, predicted, references)
    _save_solution(figure, shown, predicted, title, path)


def _shown(predicted: dict[str, np.ndarray], snapshot_rows: bool) -> list[str]:
    """The outputs a solution figure shows: as many as `MAX_ROWS` rows hold (half with snapshots)."""
    return list(predicted)[:MAX_ROWS // 2 if snapshot_rows else MAX_ROWS]


def _save_solution(figure: Figure, shown: list[str], predicted: dict[str, np.ndarray], title: str,
                   path: Path) -> None:
    """Title a solution figure (naming the outputs shown where not all are) and write it."""
    if len(shown) < len(predicted):
        title += f" ({', '.join(shown)} shown of {len(predicted)} outputs)"
    figure.suptitle(title, y=1 - 0.2 / figure.get_figheight())
    save_figure(figure, path)


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
        raise InputError(f"the {what} has shape {values.shape}; the grid of {', '.join(inputs)} is {shape}, "
                         f"with a last axis of one column per output where there are several")
    if outputs is None or len(outputs) != len(columns):
        outputs = ("u",) if len(columns) == 1 else tuple(f"u{k + 1}" for k in range(len(columns)))
    return dict(zip(outputs, columns))


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
    coefficient_axes((error_ax, seconds_ax), axis, [p for values in series.values() for p in values[0]], source)
    error_ax.set_yscale("log")
    error_ax.set(ylabel="relative L2 error", title="each target's error")
    seconds_ax.set(ylabel="seconds", title="each target's training time")
    save_figure(figure, path)


def coefficient_axes(axes, name: str, positions: list[float], source: float | None = None) -> None:
    """Axes against coefficient `name`: logarithmic where `positions` span a factor of 10 or
    more of positive values, gridded, with a legend; a dashed line at the source's value."""
    logarithmic = min(positions) > 0 and max(positions) / min(positions) >= 10 * (1 - 1e-9)
    for ax in axes:
        ax.set_xscale("log" if logarithmic else "linear")
        ax.xaxis.set_minor_formatter(NullFormatter())
        if source is not None:
            ax.axvline(source, color="gray", ls="--", lw=1, label="source")
        ax.set_xlabel(name)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)


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
