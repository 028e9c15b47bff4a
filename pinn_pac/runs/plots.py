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


def plot_solution(
    grid: dict[str, np.ndarray],
    inputs: tuple[str, ...],
    prediction: np.ndarray,
    reference: np.ndarray | None,
    title: str,
    path: Path,
) -> None:
    """Prediction, reference and absolute error over two inputs (or along one); the
    prediction alone where there is no reference."""
    if reference is None:
        _plot_prediction(grid, inputs, prediction, title, path)
        return
    error = np.abs(prediction - reference)
    if len(inputs) == 1:
        figure = Figure(figsize=(7, 5))
        top, bottom = figure.subplots(2, 1, sharex=True)
        axis = grid[inputs[0]]
        top.plot(axis, reference, "k-", lw=2, label="reference")
        top.plot(axis, prediction, "r--", lw=1.5, label="PINN")
        top.legend()
        bottom.semilogy(axis, np.maximum(error, 1e-300))
        bottom.set_xlabel(inputs[0])
        bottom.set_ylabel("|error|")
        top.set_title(title)
        save_figure(figure, path)
        return
    first, second = (grid[name] for name in inputs[:2])
    extent = (second[0], second[-1], first[0], first[-1])
    figure = Figure(figsize=(15, 4))
    axes = figure.subplots(1, 3)
    low, high = float(reference.min()), float(reference.max())
    panels = [("PINN", prediction, "RdBu_r", (low, high)), ("reference", reference, "RdBu_r", (low, high)),
              ("|PINN - reference|", error, "magma", (0.0, float(error.max()) or 1.0))]
    for ax, (name, data, cmap, (vmin, vmax)) in zip(axes, panels):
        image = ax.imshow(data, origin="lower", aspect="auto", extent=extent, cmap=cmap, vmin=vmin, vmax=vmax)
        ax.set_title(name)
        ax.set_xlabel(inputs[1])
        ax.set_ylabel(inputs[0])
        figure.colorbar(image, ax=ax)
    figure.suptitle(title)
    save_figure(figure, path)


def _plot_prediction(grid: dict[str, np.ndarray], inputs: tuple[str, ...], prediction: np.ndarray,
                     title: str, path: Path) -> None:
    figure = Figure(figsize=(7, 4.5))
    ax = figure.subplots()
    if len(inputs) == 1:
        ax.plot(grid[inputs[0]], prediction, "r-", lw=1.5)
        ax.set(xlabel=inputs[0], ylabel="PINN")
    else:
        first, second = (grid[name] for name in inputs[:2])
        image = ax.imshow(prediction, origin="lower", aspect="auto", cmap="RdBu_r",
                          extent=(second[0], second[-1], first[0], first[-1]))
        ax.set(xlabel=inputs[1], ylabel=inputs[0])
        figure.colorbar(image, ax=ax)
    ax.set_title(title)
    save_figure(figure, path)


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
