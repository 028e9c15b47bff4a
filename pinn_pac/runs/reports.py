"""What a finished run writes: checkpoint, results.json, history.json and history.csv,
tables and figures."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import torch

from equations import coefficient_key

from ..solver.callbacks import FIRST_COLUMNS, csv_cell
from ..solver.evaluate import Evaluator
from ..solver.train import History
from .checkpoint import atomic_write, save_checkpoint, write_json
from .coefficients import varying_coefficients
from .identify_job import IdentifyRun, identify_checkpoint
from .plots import plot_data_fit, plot_family, plot_histories, plot_solution, plot_solution_at_points, plot_unknowns
from .predict import SavedModel
from .records import Record, SolveRun, TransferRun
from .solve_job import run_metadata, solve_checkpoint
from .store import HISTORY_LOG


def write_histories(histories: dict[str, History], run_dir: Path) -> None:
    """history.json (strict JSON: null where an error is unavailable) and history.csv (one
    row per recorded step: phase, step, seconds, loss, rel_l2, each loss term and each tracked
    value, such as an unknown coefficient)."""
    write_json(run_dir / "history.json", {label: h.as_dict() for label, h in histories.items()})
    terms = sorted({name for h in histories.values() for name in h.terms})
    tracked = sorted({name for h in histories.values() for name in h.tracked})
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow([*FIRST_COLUMNS, *terms, *tracked])
    for label, h in histories.items():
        for k in range(len(h.step)):
            row = [h.step[k], h.seconds[k], h.loss[k], h.rel_l2[k], *(h.terms[t][k] if t in h.terms else None
                                                                      for t in terms),
                   *(h.tracked[t][k] if t in h.tracked else None for t in tracked)]
            writer.writerow([label, *(csv_cell(v) for v in row)])
    atomic_write(run_dir / HISTORY_LOG, lambda f: f.write(text.getvalue().encode()))


def save_solve(run: SolveRun, run_dir: Path) -> None:
    """results.json, the histories, figures and, last, the checkpoint of a solve run: a
    folder with checkpoint.pt holds every report (a save that fails on the way leaves none)."""
    run_dir = Path(run_dir)
    histories = {f"solve {coefficient_key(run.equation)}": run.history}
    write_json(run_dir / "results.json", [run.record.as_dict()])
    write_histories(histories, run_dir)
    plot_model(run.evaluator, run.network, f"{run.equation.describe()}: PINN", run_dir / "solution.png")
    plot_histories(histories, run_dir / "history.png")
    save_checkpoint(run_dir / "checkpoint.pt", solve_checkpoint(run))


def save_transfer(run: TransferRun, run_dir: Path) -> None:
    """results.json, the histories, figures and, last, the checkpoint of one method's
    transfer run.

    The checkpoint holds what the method shares between targets (PAC-Net: the allocated
    source and its masks; the others: the source model as a plain network) and each target's
    state (PAC-Net: an adapter; the others: a plain network).
    """
    run_dir = Path(run_dir)
    write_json(run_dir / "results.json", [r.as_dict() for r in run.records])
    write_histories(run.histories, run_dir)
    plot_model(run.evaluators[coefficient_key(run.source)], run.method.source_model(),
               f"source {run.source.describe()}: {run.method.name}", run_dir / "solution_source.png")
    for target in run.targets:
        key = coefficient_key(target)
        plot_model(run.evaluators[key], run.networks[key], f"target {target.describe()}: {run.method.name}",
                   run_dir / f"solution_target_{key.replace(',', '_')}.png")
    plot_histories(run.histories, run_dir / "history.png")
    save_checkpoint(run_dir / "checkpoint.pt", run.checkpoint)


def save_comparison(runs: list[TransferRun], run_dir: Path) -> None:
    """Each method's run in its own folder, plus comparison.json, comparison.md and a figure
    of every method's target error against seconds."""
    run_dir = Path(run_dir)
    for run in runs:
        save_transfer(run, run_dir / run.method.name)
    records = [record for run in runs for record in run.records]
    write_json(run_dir / "comparison.json", [r.as_dict() for r in records])
    atomic_write(run_dir / "comparison.md", lambda f: f.write((comparison_table(records) + "\n").encode()))
    plot_histories({label: history for run in runs for label, history in run.histories.items()
                    if not label.startswith("source")}, run_dir / "comparison.png")


def save_family(runs: list[TransferRun], run_dir: Path) -> None:
    """family.md (each target's error and training seconds, per method) and family.png (the
    same against the coefficient that varies, or the target's number where several do)."""
    targets = runs[0].targets
    varying = varying_coefficients(targets)
    axis = varying[0] if len(varying) == 1 else "target"
    position = {coefficient_key(t): t.coefficients[axis] if axis != "target" else i + 1
                for i, t in enumerate(targets)}
    by_method = {run.method.name: {coefficient_key(run.source.with_coefficients(**r.coefficients)): r
                                   for r in run.records[1:]} for run in runs}
    header = "| target | " + " | ".join(f"{m} rel L2 | {m} seconds" for m in by_method) + " |"
    lines = [header, "|---|" + "---|---|" * len(by_method)]
    for key in sorted(position, key=position.get):
        lines.append(f"| {key} | " + " | ".join(f"{records[key].error('rel_l2')} | {records[key].seconds:.1f}"
                                                for records in by_method.values()) + " |")
    sources = "; ".join(f"{run.method.name} {run.records[0].error('rel_l2')}" for run in runs)
    text = (f"# {runs[0].source.name}: {len(targets)} targets from {coefficient_key(runs[0].source)}\n\n"
            f"Relative L2 against the reference on the family's standard grid; seconds of each target's "
            f"own training. Source error as each method gives it back: {sources}.\n\n" + "\n".join(lines) + "\n")
    atomic_write(Path(run_dir) / "family.md", lambda f: f.write(text.encode()))
    series = {}
    for method, records in by_method.items():
        keys = sorted(records, key=position.get)
        series[method] = ([position[k] for k in keys],
                          [math.nan if records[k].rel_l2 is None else records[k].rel_l2 for k in keys],
                          [records[k].seconds for k in keys])
    source = runs[0].source.coefficients[axis] if axis != "target" else None
    plot_family(axis, series, Path(run_dir) / "family.png", source)


def comparison_table(records: list[Record]) -> str:
    """A Markdown table of every method's target errors and costs."""
    lines = ["| method | target | rel L2 | start rel L2 | source rel L2 after | trainable | stored | seconds |",
             "|---|---|---|---|---|---|---|---|"]
    for r in records:
        if r.role == "target":
            coefficients = ",".join(f"{k}={v:.5g}" for k, v in r.coefficients.items())
            lines.append(f"| {r.method} | {coefficients} | {r.error('rel_l2')} | {r.error('start_rel_l2')} | "
                         f"{r.error('source_rel_l2_after')} | {r.trainable_params} | {r.stored_params} | "
                         f"{r.seconds:.1f} |")
    return "\n".join(lines)


def plot_model(evaluator: Evaluator, network: torch.nn.Module, title: str, path: Path) -> None:
    """Prediction, reference and error of `network` on the evaluator's grid, error in the title
    ("n/a" without a reference, "nan" where it is NaN on the grid)."""
    prediction = evaluator.predict(network)
    error = "n/a" if evaluator.reference is None else f"{evaluator.metrics(prediction).rel_l2:.2e}"
    title = f"{title} (relative L2 {error})"
    if evaluator.grid is None:  # at the reference's own points
        plot_solution_at_points(evaluator.equation, evaluator.points, prediction, evaluator.reference, title, path)
        return
    plot_solution(evaluator.grid, evaluator.equation.inputs, prediction, evaluator.reference, title, path,
                  outputs=tuple(evaluator.equation.outputs))


def save_identify(run: IdentifyRun, run_dir: Path) -> None:
    """Checkpoint, results.json, the history (with each unknown's path) and figures of an
    identification: the unknowns against step, data against prediction, and the solution at
    the identified coefficients against its reference where the family has one. The
    checkpoint comes last: a folder with checkpoint.pt holds every report."""
    run_dir = Path(run_dir)
    write_json(run_dir / "results.json", run.results())
    histories = {"identify " + ",".join(run.identified): run.history}
    write_histories(histories, run_dir)
    errors = run.standard_errors if isinstance(run.standard_errors, dict) else None
    plot_unknowns(run.history, run.start, run.identified, errors, run_dir / "unknowns.png")
    inputs = run.equation.inputs
    arrays = run.observations.arrays(inputs)
    model = SavedModel("identified", run.equation, run.network, run.settings.posing)
    predicted = model({name: arrays[name] for name in inputs})
    plot_data_fit({name: arrays[name] for name in run.observations.values}, predicted, run_dir / "data_fit.png")
    if run.evaluator is not None:
        plot_model(run.evaluator, run.network, f"{run.equation.describe()}: identified", run_dir / "solution.png")
    save_checkpoint(run_dir / "checkpoint.pt", identify_checkpoint(run, run_metadata(run.equation, run.settings)))
