"""`pinn-pac solve FAMILY` with its defaults, for every family, over several seeds.

Each run is the command as a user types it, with only `--seed`, `--quiet`, `--out` and (for
the comparison) `--conditions soft` added, one process at a time; wall seconds are the whole
command. Errors are relative L2 against the family's scipy reference on its standard grid.
Runs are kept in results/equations.json by (family, conditions, seed): a later call adds or
replaces only the runs it makes, so the work can be spread over several calls.

    python benchmarks/equations.py                            # every family, exact, seeds 0-2 (~75 min)
    python benchmarks/equations.py --conditions soft --seeds 0
    python benchmarks/equations.py --render                   # table and figures from the JSON
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

from _common import RESULTS, markdown_table, run_header, write_results  # first: see _common

import equations  # noqa: E402  (the package, not this script)

FOLDER = RESULTS / "equations"
DATA = RESULTS / "equations.json"


def run_solve(family: str, conditions: str, seed: int) -> dict:
    """One `pinn-pac solve` with its defaults; its record, history and wall seconds."""
    out = FOLDER / f"{family}_{conditions}_seed{seed}"
    if out.exists():
        shutil.rmtree(out)
    arguments = ["solve", family, "--seed", str(seed)] + (["--conditions", "soft"] if conditions == "soft" else [])
    started = time.perf_counter()
    # From the repository root: in this folder the script equations.py would shadow the package.
    subprocess.run([sys.executable, "-m", "pinn_pac.cli", *arguments, "--quiet", "--out", str(out)],
                   check=True, stdout=subprocess.DEVNULL, cwd=Path(__file__).resolve().parents[1])
    wall = time.perf_counter() - started
    (record,) = json.loads((out / "results.json").read_text())
    (history,) = json.loads((out / "history.json").read_text()).values()
    return {"family": family, "conditions": conditions, "seed": seed, "wall_seconds": wall,
            "command": "pinn-pac " + " ".join(arguments), "record": record, "history": history}


def summary(runs: list[dict]) -> str:
    """Per family and conditions: median and worst error and wall seconds over the seeds."""
    rows = []
    for family in equations.FAMILIES:
        for conditions in ("exact", "soft"):
            mine = sorted((r for r in runs if r["family"] == family and r["conditions"] == conditions),
                          key=lambda r: r["seed"])
            if not mine:
                continue
            errors = [r["record"]["rel_l2"] for r in mine]
            walls = [r["wall_seconds"] for r in mine]
            rows.append([family, conditions, ", ".join(str(r["seed"]) for r in mine),
                         f"{statistics.median(errors):.2e}", f"{max(errors):.2e}",
                         f"{statistics.median(walls):.0f}", f"{max(walls):.0f}",
                         ", ".join(f"{e:.2e}" for e in errors), f"[figure](equations/{family}.png)"])
    return markdown_table(["family", "conditions", "seeds", "median rel L2", "worst rel L2", "median wall s",
                           "worst wall s", "rel L2 per seed", "figure"], rows)


def plot(family: str, runs: list[dict], path: Path) -> None:
    """Error against seconds for each seed and conditions of one family."""
    from matplotlib.figure import Figure

    from pinn_pac.runs.plots import save_figure

    figure = Figure(figsize=(6.4, 4.2))
    ax = figure.subplots()
    for run in sorted(runs, key=lambda r: (r["conditions"], r["seed"])):
        history = run["history"]
        ax.semilogy(history["seconds"], history["rel_l2"], lw=1,
                    ls="-" if run["conditions"] == "exact" else "--",
                    label=f"{run['conditions']}, seed {run['seed']}")
    ax.set(xlabel="seconds of training", ylabel="relative L2 error",
           title=f"pinn-pac solve {family} (defaults)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    save_figure(figure, path)


def write(runs: list[dict]) -> None:
    notes = ("Default settings of `pinn-pac solve`: 4x20 tanh, float64, 8,000 points redrawn by RAD every "
             "500 quasi-Newton iterations, 1,000 Adam steps (lr 5e-3) then 5,000 dense SSBroyden iterations, "
             "compiled derivatives, no time cap. `exact`: initial, boundary and periodic conditions built into "
             "the solution (every family declares a form); `soft`: every condition a loss term. Wall seconds are "
             "the whole command, one process at a time on the machine named above.")
    write_results("equations", {"header": run_header(), "runs": runs}, notes + "\n\n" + summary(runs))
    for family in {r["family"] for r in runs}:
        plot(family, [r for r in runs if r["family"] == family], FOLDER / f"{family}.png")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default=",".join(equations.FAMILIES))
    parser.add_argument("--conditions", default="exact", help="exact, soft or exact,soft")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--render", action="store_true", help="only rewrite the table and figures from the JSON")
    args = parser.parse_args(argv)
    runs = json.loads(DATA.read_text()).get("runs", []) if DATA.exists() else []
    if not args.render:
        for family in args.families.split(","):
            for conditions in args.conditions.split(","):
                for seed in (int(s) for s in args.seeds.split(",")):
                    run = run_solve(family, conditions, seed)
                    runs = [r for r in runs if (r["family"], r["conditions"], r["seed"]) != (family, conditions, seed)]
                    runs.append(run)
                    print(f"{family} {conditions} seed {seed}: rel L2 {run['record']['rel_l2']:.2e}, "
                          f"{run['wall_seconds']:.0f} s", flush=True)
                    write(runs)
    write(runs)


if __name__ == "__main__":
    main()
