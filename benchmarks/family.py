"""A family of 16 Burgers targets from one source: one process, a process pool, a local Ray.

One source (nu = 0.01/pi) is trained once, with a first target outside the family's range
(`pinn-pac transfer burgers --targets nu=0.06/pi --warm-start zero --thread-invariant`: every
target from the source, so that every way does the same work; one thread and two give the
same bits). Each way of running then
adds the same 16 targets to its own copy of that run with `pinn-pac transfer --from RUN
--targets ...`, as a user types it:

* `--workers 1`: the targets one after another in one process on both threads;
* `--workers 2`: two processes of one thread each;
* `--ray`: a local Ray on this machine's CPUs, one-thread tasks.

Wall seconds are the whole `--from` command (process start, Ray start, every target). The
records of the three runs are compared bit for bit.

    python benchmarks/family.py            # about 20 minutes on 2 cores
    python benchmarks/family.py --derivatives autograd   # the same on the autograd path
    python benchmarks/family.py --quick    # the harness on tiny budgets, one thread (the tests run it)
    python benchmarks/family.py --render   # table and figure from results/family.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
from pathlib import Path

from _common import RESULTS, ROOT, markdown_table, pinn_pac, run_header, write_results  # first: see _common

MODES = {"workers 1": ["--workers", "1"], "workers 2": ["--workers", "2"], "ray": ["--ray"]}


def configuration(quick: bool, derivatives: str) -> dict:
    if quick:
        return {"targets": "nu=0.01/pi..0.03/pi:4", "first_target": "nu=0.02/pi",
                "options": ["--width", "8", "--depth", "2", "--points", "200", "--condition-points", "32",
                            "--rad-every", "20", "--rad-candidates", "1000", "--source-adam", "20",
                            "--source-iterations", "30", "--allocate-iterations", "10",
                            "--calibrate-iterations", "20", "--derivatives", derivatives]}
    return {"targets": "nu=0.005/pi..0.05/pi:16", "first_target": "nu=0.06/pi",
            # PAC-Net as it was measured: the global prune, 800 Allocate iterations, no lm finish.
            "options": ["--calibrate-iterations", "1000", "--scope", "global", "--allocate-iterations", "800",
                        "--lm-finish", "0", "--derivatives", derivatives]}


def targets_of(run_dir: Path) -> list[dict]:
    """The target records of a run, sorted by coefficient (finishing order may differ)."""
    records = json.loads((run_dir / "results.json").read_text())
    return sorted((r for r in records if r["role"] == "target"), key=lambda r: r["coefficients"]["nu"])


def measure(folder: Path, quick: bool, derivatives: str) -> dict:
    config = configuration(quick, derivatives)
    if folder.exists():
        shutil.rmtree(folder)
    base = folder / "source"
    # One thread and two give the same bits with MKL's strict mode; the quick harness runs every
    # way on one thread instead, which needs no strict mode (CPUs where it does not hold run it too).
    same_bits = ["--threads", "1"] if quick else ["--thread-invariant"]
    # Every target from the source: the same work in every way (at the default warm start one
    # process starts each target from its calibrated neighbour, and workers from the source).
    source_command = ["transfer", "burgers", "--targets", config["first_target"], "--warm-start", "zero", *same_bits,
                      *config["options"]]
    source_seconds = pinn_pac([*source_command, "--out", str(base)])
    runs = {}
    for mode, options in MODES.items():
        run_dir = folder / mode.replace(" ", "")
        shutil.copytree(base, run_dir)
        command = ["transfer", "--from", os.path.relpath(run_dir, ROOT), "--targets", config["targets"], *options]
        wall = pinn_pac(command)
        runs[mode] = {"command": "pinn-pac " + " ".join(command), "wall_seconds": wall,
                      "targets": targets_of(run_dir)}
        print(f"{mode}: {wall:.0f} s", flush=True)
    return {"header": run_header(), "source_command": "pinn-pac " + " ".join(source_command),
            "source_seconds": source_seconds, "runs": runs}


def identical(a: list[dict], b: list[dict]) -> bool:
    """Same targets, same errors bit for bit (seconds aside)."""
    strip = lambda records: [{k: v for k, v in r.items() if k != "seconds"} for r in records]  # noqa: E731
    return strip(a) == strip(b)


def render(data: dict, directory: Path, name: str) -> None:
    runs = data["runs"]
    first = runs["workers 1"]
    rows = []
    for mode, run in runs.items():
        errors = [r["rel_l2"] for r in run["targets"]]
        rows.append([mode, f"`{run['command']}`", len(errors), f"{run['wall_seconds']:.0f}",
                     f"{run['wall_seconds'] / first['wall_seconds']:.2f}", f"{statistics.median(errors):.2e}",
                     f"{max(errors):.2e}", "(the reference)" if run is first
                     else "yes" if identical(run["targets"], first["targets"]) else "NO"])
    pool, ray = runs["workers 2"]["wall_seconds"], runs["ray"]["wall_seconds"]
    same = "equal" if identical(runs["ray"]["targets"], runs["workers 2"]["targets"]) else "differ from"
    notes = (f"The source (and one first target) once: `{data['source_command']}`, "
             f"{data['source_seconds']:.0f} s. Each row adds the same targets to a copy of that run; wall "
             f"seconds are the whole command. Ray against the process pool: {ray / pool:.2f}. Records "
             "identical: every target's record but its seconds equals the `--workers 1` run's bit for bit. "
             f"Ray's records (one thread per target) {same} the process pool's bit for bit.")
    columns = ["way", "command", "targets", "wall s", "ratio to workers 1", "median target rel L2",
               "worst target rel L2", "records identical"]
    write_results(name, data, notes + "\n\n" + markdown_table(columns, rows), directory)
    plot(runs, directory / f"{name}.png")


def plot(runs: dict, path: Path) -> None:
    """Each target's error against nu for every way, and each way's wall seconds."""
    from matplotlib.figure import Figure

    from pinn_pac.runs.plots import save_figure

    figure = Figure(figsize=(12, 4))
    error_ax, wall_ax = figure.subplots(1, 2)
    for (mode, run), marker in zip(runs.items(), "os^"):
        error_ax.semilogy([r["coefficients"]["nu"] for r in run["targets"]], [r["rel_l2"] for r in run["targets"]],
                          marker, ls="-" if marker == "o" else "none", mfc="none", label=mode)
    error_ax.set(xlabel="nu", ylabel="target relative L2", title="each target's error, by way of running")
    error_ax.grid(True, which="both", alpha=0.3)
    error_ax.legend(fontsize=8)
    wall_ax.bar(list(runs), [run["wall_seconds"] for run in runs.values()], color=["gray", "tab:blue", "tab:orange"])
    wall_ax.set(ylabel="wall seconds", title="the whole --from command, 2 cores")
    save_figure(figure, path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 targets on tiny budgets")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where to write (%(default)s)")
    parser.add_argument("--derivatives", choices=("compiled", "autograd"), default="compiled",
                        help="the derivative path (compiled, the command line's default; results named "
                             "family_autograd.* for autograd)")
    parser.add_argument("--render", action="store_true", help="only rewrite the table and figure from the JSON")
    args = parser.parse_args(argv)
    name = "family" if args.derivatives == "compiled" else f"family_{args.derivatives}"
    data = (json.loads((args.results / f"{name}.json").read_text()) if args.render
            else measure(args.results / name, args.quick, args.derivatives))
    render(data, args.results, name)


if __name__ == "__main__":
    main()
