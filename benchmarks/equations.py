"""Train a PINN from scratch on every equation family at its default coefficients.

Every family gets the same network, points and budget; the table lists the relative L2
error against the family's scipy reference on its standard grid, and the wall seconds.

    python benchmarks/equations.py                 # about 12 minutes on 2 cores
    python benchmarks/equations.py --seconds 20    # a quicker look
"""

from __future__ import annotations

import argparse

import torch

from _common import RESULTS, markdown_table, run_header, write_results  # first: see _common

import equations  # noqa: E402  (the package, not this script)
from pinn_pac.runs import Settings, plot_model, solve  # noqa: E402
from pinn_pac.train import Budget  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="wall-clock cap per family")
    parser.add_argument("--families", default=",".join(sorted(equations.FAMILIES)))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    settings = Settings(width=20, depth=6, seed=args.seed, n_interior=4000, n_condition=200)
    budget = Budget(adam_steps=1000, iterations=5000, max_seconds=args.seconds)
    figures = RESULTS / "equations"
    rows, records = [], []
    for name in args.families.split(","):
        equation = equations.create(name)
        run = solve(equation, settings, budget, progress=False)
        plot_model(run.evaluator, run.network, f"{equation.describe()}: PINN from scratch",
                   figures / f"{equation.name}.png")
        coefficients = ", ".join(f"{k}={v:.4g}" for k, v in equation.coefficients.items())
        steps = run.history.step[-1]
        rows.append([name, coefficients, f"{run.record.rel_l2:.2e}", f"{run.record.max_abs_err:.2e}",
                     steps, f"{run.record.seconds:.0f}", run.record.stopped_because,
                     f"[figure](equations/{equation.name}.png)"])
        records.append({**run.record.as_dict(), "steps": steps})
        print(" | ".join(str(c) for c in rows[-1]), flush=True)

    table = (
        f"Settings: {settings.depth}x{settings.width} (depth x width) tanh MLP, {settings.dtype}, seed {settings.seed}, "
        f"{settings.n_interior} Sobol interior points, {settings.n_condition} per condition; budget per "
        f"family: {budget.adam_steps} Adam steps (lr {budget.adam_lr}) then up to {budget.iterations} "
        f"L-BFGS iterations, capped at {budget.max_seconds:.0f} s wall time. Errors are relative L2 on "
        f"each family's standard grid.\n\n"
        + markdown_table(["family", "coefficients", "rel L2", "max abs err", "steps", "seconds",
                          "stopped", "figure"], rows)
    )
    write_results("equations", {"header": run_header(), "settings": settings.__dict__,
                                "budget": budget.__dict__, "records": records}, table)


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
