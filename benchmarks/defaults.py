"""The command line's default jobs on Burgers, as a user runs them, over several seeds.

Runs `pinn-pac solve burgers --nu 0.01/pi` and `pinn-pac transfer burgers` (source
nu = 0.01/pi, targets 0.02/pi and 0.005/pi, PAC-Net) with their defaults and only `--seed`,
`--quiet` and `--out` added, one process at a time; wall seconds are the whole command
(start-up, compile, training, files). Errors are relative L2 on the 256 x 100 Cole-Hopf grid.

    python benchmarks/defaults.py                  # about 25 minutes on 2 cores
    python benchmarks/defaults.py --jobs transfer  # the solve rows kept from defaults.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import RESULTS, markdown_table, run_header, seconds_to, write_results  # first: see _common

COMMANDS = {
    "solve": ["solve", "burgers", "--nu", "0.01/pi"],
    "transfer": ["transfer", "burgers"],
}
NEAR_TARGET = "pac nu=0.0063662"  # nu = 0.02/pi, calibrated from the nu = 0.01/pi source


def command_line(job: str, seed: int) -> str:
    """A default job's command as a user types it (without --quiet and --out)."""
    return "pinn-pac " + " ".join(COMMANDS[job]) + f" --seed {seed}"


def run_job(job: str, seed: int, out: Path) -> dict:
    """One default command; its records, histories and wall seconds."""
    if out.exists():
        shutil.rmtree(out)
    command = [sys.executable, "-m", "pinn_pac.cli", *COMMANDS[job], "--seed", str(seed), "--quiet", "--out", str(out)]
    started = time.perf_counter()
    # From the repository root: in this folder the script equations.py would shadow the package.
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, cwd=Path(__file__).resolve().parents[1])
    wall = time.perf_counter() - started
    records = json.loads((out / "results.json").read_text())
    histories = json.loads((out / "history.json").read_text())
    return {"job": job, "seed": seed, "wall_seconds": wall, "records": records, "histories": histories,
            "command": command_line(job, seed)}


def summary_row(run: dict) -> dict:
    records = run["records"]
    source = records[0]
    row = {"job": run["job"], "seed": run["seed"], "wall_seconds": run["wall_seconds"], "source_rel_l2": source["rel_l2"]}
    if run["job"] == "transfer":
        row["source_identical_after"] = source.get("rel_l2_after_calibration") == source["rel_l2"]
        row["targets"] = {f"{r['coefficients']['nu']:.6g}": r["rel_l2"] for r in records[1:]}
        near = run["histories"][NEAR_TARGET]
        row["near_seconds_to_3e-4"] = seconds_to(near, 3e-4)
        row["near_rel_l2_end"], row["near_seconds_end"] = near["rel_l2"][-1], near["seconds"][-1]
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--jobs", default="solve,transfer")
    parser.add_argument("--render", action="store_true", help="only redraw the figure from defaults.json")
    args = parser.parse_args(argv)
    if args.render:
        return render(RESULTS / "defaults.json")
    seeds = [int(s) for s in args.seeds.split(",")]
    jobs = args.jobs.split(",")
    runs = []
    for job in jobs:
        for seed in seeds:
            runs.append(run_job(job, seed, RESULTS / "defaults" / f"{job}_seed{seed}"))
            print(json.dumps(summary_row(runs[-1])), flush=True)
    rows = [summary_row(run) for run in runs]
    kept = keep_earlier(RESULTS / "defaults.json", [job for job in COMMANDS if job not in jobs], runs, rows)
    order = list(COMMANDS)
    pairs = sorted(zip(runs, rows), key=lambda pair: (order.index(pair[1]["job"]), pair[1]["seed"]))
    runs, rows = [run for run, _ in pairs], [row for _, row in pairs]

    lines = []
    for job in COMMANDS:
        mine = [r for r in rows if r["job"] == job]
        if not mine:
            continue
        walls, sources = [r["wall_seconds"] for r in mine], [r["source_rel_l2"] for r in mine]
        lines.append(f"- `{COMMANDS[job][0]}`: median source rel L2 {statistics.median(sources):.2e} "
                     f"(worst {max(sources):.2e}), median wall {statistics.median(walls):.0f} s (worst {max(walls):.0f} s)")
        if job == "transfer":
            for key in mine[0]["targets"]:
                errors = [r["targets"][key] for r in mine]
                lines.append(f"  - target nu = {key}: median {statistics.median(errors):.2e} (worst {max(errors):.2e})")
    table = markdown_table(
        ["command", "seed", "wall s", "source rel L2", "source identical after calibration", "targets rel L2",
         "nu=0.02/pi: s to 3e-4", "nu=0.02/pi: rel L2 at its end (s)"],
        [[f"`{run['command']}`", r["seed"], f"{r['wall_seconds']:.0f}", f"{r['source_rel_l2']:.2e}",
          {True: "yes", False: "NO"}.get(r.get("source_identical_after"), "-"),
          ", ".join(f"nu={k}: {v:.2e}" for k, v in r.get("targets", {}).items()) or "-",
          "-" if r["job"] == "solve" else (f"{r['near_seconds_to_3e-4']:.1f}" if r["near_seconds_to_3e-4"] else "never"),
          "-" if r["job"] == "solve" else f"{r['near_rel_l2_end']:.2e} ({r['near_seconds_end']:.0f} s)"]
         for run, r in zip(runs, rows)],
    )
    notes = ("Default settings: 4x20 tanh, float64, 8,000 Sobol points redrawn by RAD every 500 quasi-Newton "
             "iterations, exact initial and boundary values, Adam (lr 5e-3) then dense SSBroyden, compiled "
             "derivatives; wall seconds are the whole command. Calibration seconds of nu = 0.02/pi count from "
             "its first step (compile and Allocate before it).\n\n" + "\n".join(lines))
    notes += "".join(f"\n\nRows of `{job}` are kept from an earlier run, `{header['command']}` on {header['date']} "
                     f"({header['machine']}): compare their seconds as ratios of the machines."
                     for job, header in kept.items())
    write_results("defaults", {"header": run_header(), "rows": rows, "kept": kept,
                               "histories": {f"{r['job']} seed {r['seed']}": r["histories"] for r in runs}},
                  notes + "\n\n" + table)
    plot(runs, RESULTS / "defaults.png")


def keep_earlier(path: Path, jobs: list[str], runs: list[dict], rows: list[dict]) -> dict[str, dict]:
    """Append to `runs` and `rows` the saved runs (every seed) of `jobs`, those not run now; the
    header of the run each kept job was measured in."""
    if not jobs or not path.exists():
        return {}
    saved = json.loads(path.read_text())
    jobs = [job for job in jobs if any(row["job"] == job for row in saved["rows"])]
    for row in saved["rows"]:
        if row["job"] in jobs:
            rows.append(row)
            runs.append({"job": row["job"], "seed": row["seed"],
                         "histories": saved["histories"][f"{row['job']} seed {row['seed']}"],
                         "command": command_line(row["job"], row["seed"])})
    return {job: saved.get("kept", {}).get(job, saved["header"]) for job in jobs}


def plot(runs: list[dict], path: Path) -> None:
    """Error against seconds: one panel per command, a colour per phase, a line style per seed."""
    from pinn_pac.runs.plots import save_figure

    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    styles = ["-", "--", ":", "-."]
    for ax, job in zip(axes, COMMANDS):
        mine = [r for r in runs if r["job"] == job]
        if not mine:
            ax.set_axis_off()
            continue
        labels = list(mine[0]["histories"])
        colors = dict(zip(labels, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
        for k, run in enumerate(mine):
            for label, history in run["histories"].items():
                ax.semilogy(history["seconds"], history["rel_l2"], color=colors[label], ls=styles[k % len(styles)],
                            lw=1, label=f"{label}, seed {run['seed']}")
        ax.set(xlabel="seconds from the phase's first step", ylabel="relative L2 error", title=f"pinn-pac {job} burgers")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6, ncol=2 if job == "transfer" else 1)
    save_figure(figure, path)


def render(path: Path) -> None:
    """Redraw the figure from the saved JSON."""
    saved = json.loads(path.read_text())
    runs = [{"job": r["job"], "seed": r["seed"], "histories": saved["histories"][f"{r['job']} seed {r['seed']}"]}
            for r in saved["rows"]]
    plot(runs, path.with_suffix(".png"))


if __name__ == "__main__":
    main()
