"""Problems written as users write them, solved by `pinn-pac solve FILE:Class` at its defaults.

Each problem is a class in its own file under problems/, with the conditions its source states
and no exact form or residual scale: what the solver builds for it (an exact form from the
conditions, Fourier features where the data are multiscale) is all the help it gets. Errors are
relative L2 against each file's reference on its standard grid; seconds are the whole command,
one process at a time. Runs are kept in results/problem_set.json by (problem, seed): a later call
adds or replaces only the runs it makes.

    python benchmarks/problem_set.py --problems wave1d --seeds 0,1,2
    python benchmarks/problem_set.py --render
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

from _common import RESULTS, ROOT, markdown_table, run_header, write_results  # first: see _common

FOLDER = RESULTS / "problem_set"
DATA = RESULTS / "problem_set.json"
PROBLEMS = Path(__file__).resolve().parent / "problems"

#: name: (file:Class, its source, the source's best published relative L2 error or None, the goal).
SET = {
    "wave1d": ("wave1d.py:Wave1D", "PINNacle Wave1d-C", 9.79e-2, 9.8e-3),
    "heat2d-ms": ("heat2d_ms.py:Heat2DMultiscale", "PINNacle Heat2d-MS", 6.21e-2, 6.2e-3),
    "poisson-5d": ("poisson_nd.py:PoissonND", "PINNacle PNd", 4.67e-4, 4.7e-5),
    "kdv": ("kdv.py:KdV", "KdV as Raissi et al. 2019 pose it", None, 1e-3),
    "clamped-beam": ("beam.py:ClampedBeam", "manufactured, 4th order", None, 1e-3),
    "poisson2d-holes": ("poisson2d_holes.py:Poisson2DHoles", "PINNacle Poisson2d-C", 1.23e-2, 1.2e-3),
    "poisson-lshape": ("poisson_lshape.py:PoissonLShape", "DeepXDE's L-shaped Poisson", None, 1e-3),
    "heat-ball": ("heat_ball.py:HeatBall", "PINNacle HNd", 1.19e-4, 1.2e-5),
    "heat2d-holes": ("heat2d_holes.py:Heat2DHoles", "PINNacle Heat2d-CG", 2.39e-2, 2.4e-3),
    "plain-burgers": ("restated.py:PlainBurgers", "built-in burgers", None, None),
    "plain-oscillator": ("restated.py:PlainOscillator", "built-in oscillator", None, None),
    "plain-allen-cahn": ("restated.py:PlainAllenCahn", "built-in allen-cahn", None, None),
}


def run_solve(problem: str, seed: int) -> dict:
    """One `pinn-pac solve FILE:Class --seed SEED` at the defaults; its record, history, seconds."""
    out = FOLDER / f"{problem}_seed{seed}"
    if out.exists():
        shutil.rmtree(out)
    spec = str((PROBLEMS / SET[problem][0].split(":")[0]).relative_to(ROOT)) + ":" + SET[problem][0].split(":")[1]
    arguments = ["solve", spec, "--seed", str(seed)]
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pinn_pac.cli", *arguments, "--quiet", "--out", str(out)],
                   check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    wall = time.perf_counter() - started
    (record,) = json.loads((out / "results.json").read_text())
    (history,) = json.loads((out / "history.json").read_text()).values()
    return {"problem": problem, "seed": seed, "wall_seconds": wall, "command": "pinn-pac " + " ".join(arguments),
            "record": record, "history": history}


def summary(runs: list[dict]) -> str:
    rows = []
    for problem, (_, source, published, goal) in SET.items():
        mine = sorted((r for r in runs if r["problem"] == problem), key=lambda r: r["seed"])
        if not mine:
            continue
        errors = [r["record"]["rel_l2"] for r in mine]
        walls = [r["wall_seconds"] for r in mine]
        rows.append([problem, source, f"{published:.2e}" if published else "", f"{goal:.1e}" if goal else "",
                     ", ".join(str(r["seed"]) for r in mine), f"{statistics.median(errors):.2e}",
                     ", ".join(f"{e:.2e}" for e in errors), f"{statistics.median(walls):.0f}"])
    return markdown_table(["problem", "source", "source's best published", "goal", "seeds", "median rel L2",
                           "rel L2 per seed", "median wall s"], rows)


def write(runs: list[dict]) -> None:
    notes = ("`pinn-pac solve FILE:Class --seed S` at its defaults (4x20 tanh, float64, 8,000 points redrawn by RAD, "
             "1,000 Adam steps then 5,000 dense SSBroyden iterations, compiled derivatives where the network allows). "
             "PINNacle's figures are its paper's table (Hao et al., NeurIPS 2024 D&B) as quoted by a secondary "
             "digest: its best of 11 methods with 5x100 networks and 20,000 iterations.")
    write_results("problem_set", {"header": run_header(), "runs": runs}, notes + "\n\n" + summary(runs))
    from matplotlib.figure import Figure

    from pinn_pac.runs.plots import save_figure

    figure = Figure(figsize=(7, 4.5))
    ax = figure.subplots()
    for run in sorted(runs, key=lambda r: (r["problem"], r["seed"])):
        ax.semilogy(run["history"]["seconds"], run["history"]["rel_l2"], lw=1,
                    label=f"{run['problem']} seed {run['seed']}")
    ax.set(xlabel="seconds of training", ylabel="relative L2 error", title="problems as users write them")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=6)
    save_figure(figure, RESULTS / "problem_set.png")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", default=",".join(SET))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--render", action="store_true", help="only rewrite the table and figure from the JSON")
    args = parser.parse_args(argv)
    runs = json.loads(DATA.read_text()).get("runs", []) if DATA.exists() else []
    if not args.render:
        for problem in args.problems.split(","):
            for seed in (int(s) for s in args.seeds.split(",")):
                run = run_solve(problem, seed)
                runs = [r for r in runs if (r["problem"], r["seed"]) != (problem, seed)] + [run]
                print(f"{problem} seed {seed}: rel L2 {run['record']['rel_l2']:.2e}, {run['wall_seconds']:.0f} s",
                      flush=True)
                write(runs)
    write(runs)


if __name__ == "__main__":
    main()
