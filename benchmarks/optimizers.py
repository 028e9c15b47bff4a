"""Quasi-Newton methods, exact against soft conditions, RAD against fixed points.

On Burgers nu = 0.01/pi and the damped oscillator (zeta 0.1, omega 20), every configuration
trains the same 4x20 float64 network from the same seeds with the same step budget: Adam,
then a quasi-Newton phase. The default (dense SSBroyden, exact conditions, RAD every 500
iterations) is compared with SSBFGS, BFGS and L-BFGS, with soft conditions, and with fixed
points, one change at a time. Errors are relative L2 on each family's standard grid; seconds
are wall time from the first step, with the compiled derivative path compiled beforehand.

    python benchmarks/optimizers.py                  # about 25 minutes on 2 cores
    python benchmarks/optimizers.py --quick          # the harness on tiny budgets
"""

from __future__ import annotations

import argparse
import statistics
from dataclasses import replace
from pathlib import Path

import torch

from _common import RESULTS, markdown_table, run_header, seconds_to, write_results  # first: see _common

import equations  # noqa: E402  (the package, not a script of this folder)
from pinn_pac.runs import Settings, solve  # noqa: E402
from pinn_pac.solver.train import Budget  # noqa: E402

#: name: (optimizer, conditions, RAD every); the first is the default, each other changes one thing.
CONFIGURATIONS = {
    "ssbroyden, exact, RAD": ("ssbroyden", "exact", 500),
    "ssbfgs, exact, RAD": ("ssbfgs", "exact", 500),
    "bfgs, exact, RAD": ("bfgs", "exact", 500),
    "lbfgs, exact, RAD": ("lbfgs", "exact", 500),
    "ssbroyden, soft, RAD": ("ssbroyden", "soft", 500),
    "ssbroyden, exact, fixed points": ("ssbroyden", "exact", 0),
}
#: family: (coefficients, interior points, quasi-Newton iterations)
FAMILIES = {
    "burgers": ({"nu": 0.01 / 3.141592653589793}, 8000, 1500),
    "oscillator": ({"zeta": 0.1, "omega": 20.0}, 2000, 2000),
}
THRESHOLDS = (1e-3, 1e-4)


def run(family: str, configuration: str, seed: int, quick: bool) -> dict:
    coefficients, points, iterations = FAMILIES[family]
    optimizer, conditions, rad_every = CONFIGURATIONS[configuration]
    equation = equations.create(family, **coefficients)
    settings = Settings(width=20, depth=4, seed=seed, n_interior=128 if quick else points,
                        derivative_method="compiled", conditions=conditions, rad_every=rad_every // (50 if quick else 1),
                        rad_candidates=1024 if quick else 50_000, threads=2)
    budget = Budget(adam_steps=20 if quick else 1000, iterations=30 if quick else iterations,
                    optimizer=optimizer, adam_lr=5e-3)
    solve(equation, settings, replace(budget, adam_steps=1, iterations=1), progress=False)  # compile first
    result = solve(equation, settings, budget, progress=False)
    history = result.history.as_dict()
    return {"family": family, "configuration": configuration, "seed": seed, "rel_l2": result.record.rel_l2,
            "seconds": result.record.seconds, "steps": history["step"][-1], "optimizer": history["optimizer"],
            "stopped_because": result.record.stopped_because,
            **{f"seconds_to_{t:g}": seconds_to(history, t) for t in THRESHOLDS}, "history": history}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--quick", action="store_true", help="tiny budgets: checks the harness only")
    parser.add_argument("--results", default=str(RESULTS))
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    rows = []
    for family in args.families.split(","):
        for configuration in CONFIGURATIONS:
            for seed in (int(s) for s in args.seeds.split(",")):
                rows.append(run(family, configuration, seed, args.quick))
                print(family, configuration, seed, f"{rows[-1]['rel_l2']:.2e}", f"{rows[-1]['seconds']:.0f} s", flush=True)

    def fmt_seconds(values: list) -> str:
        reached = [v for v in values if v is not None]
        if len(reached) < len(values):
            return f"{len(reached)} of {len(values)} seeds" + (f" (median {statistics.median(reached):.0f})" if reached else "")
        return f"{statistics.median(reached):.0f}"

    table_rows = []
    for family in args.families.split(","):
        for configuration in CONFIGURATIONS:
            mine = [r for r in rows if r["family"] == family and r["configuration"] == configuration]
            errors = [r["rel_l2"] for r in mine]
            table_rows.append([family, configuration, f"{statistics.median(errors):.2e}",
                               f"[{min(errors):.1e}, {max(errors):.1e}]",
                               *(fmt_seconds([r[f"seconds_to_{t:g}"] for r in mine]) for t in THRESHOLDS),
                               f"{statistics.median(r['seconds'] for r in mine):.0f}"])
    budgets = "; ".join(f"{f}: {FAMILIES[f][1]} points, 1000 Adam steps (lr 5e-3) then {FAMILIES[f][2]} iterations"
                        for f in args.families.split(","))
    notes = (f"4x20 tanh, float64, compiled derivatives, 2 threads, seeds {args.seeds}; {budgets}. "
             "Median over seeds with [min, max]; 's to' is the median wall time to first reach the error "
             "(how many seeds did, where not all). Every run counts from its first Adam step.")
    table = markdown_table(["family", "configuration", "rel L2 (median)", "[min, max]",
                            *(f"s to {t:g}" for t in THRESHOLDS), "s (median)"], table_rows)
    name = "optimizers_quick" if args.quick else "optimizers"
    write_results(name, {"header": run_header(), "rows": rows}, notes + "\n\n" + table, Path(args.results))
    plot(rows, Path(args.results) / f"{name}.png")


def plot(rows: list[dict], path: Path) -> None:
    from pinn_pac.runs.plots import save_figure

    import matplotlib.pyplot as plt

    families = sorted({r["family"] for r in rows}, key=list(FAMILIES).index)
    figure, axes = plt.subplots(1, len(families), figsize=(6 * len(families), 4.2), squeeze=False)
    colors = dict(zip(CONFIGURATIONS, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for ax, family in zip(axes[0], families):
        for row in (r for r in rows if r["family"] == family):
            label = row["configuration"] if row["seed"] == min(r["seed"] for r in rows) else None
            ax.semilogy(row["history"]["seconds"], row["history"]["rel_l2"], color=colors[row["configuration"]],
                        lw=1, alpha=0.8, label=label)
        ax.set(xlabel="wall seconds", ylabel="relative L2 error", title=family)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    save_figure(figure, path)


if __name__ == "__main__":
    main()
