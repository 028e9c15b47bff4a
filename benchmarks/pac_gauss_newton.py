"""PAC-Net's calibration by Levenberg-Marquardt (optimizer "lm") against SSBroyden.

A PAC-Net member trains a few hundred freed weights (382 on Burgers' default network): few
enough for Gauss-Newton steps, whose Jacobian `solver.least_squares` takes from one backward
pass (every row of the loss depends on its own point only). It is checked here against
autograd's gradient of the loss (2 J^T r).

On the stored sources of `pinn-pac transfer burgers --seed S` (benchmarks/results/defaults,
nu = 0.01/pi allocated), each of issue 38's targets nu = 0.012/pi..0.03/pi:4 is calibrated
from the source both ways by the product (`PACNetwork.calibrate`, the run's settings: 8,000
points, RAD every 500 iterations, which 120 lm steps never reach), and one member is solved
from scratch with the run's settings (`solve`, 1,000 Adam steps then SSBroyden), the cost a
member is measured against. Seconds are the histories' (the error records included: every 5
lm steps, every 25 SSBroyden iterations).

    python benchmarks/pac_gauss_newton.py          # about 20 minutes on 2 cores
    python benchmarks/pac_gauss_newton.py --quick --results DIR   # the harness on tiny budgets
"""

from __future__ import annotations

import argparse
import math
import statistics
from dataclasses import replace
from pathlib import Path

import torch

from _common import RESULTS, markdown_table, run_header, seconds_to, write_results  # first: see _common

import equations  # noqa: E402  (the package, not a script of this folder)
from pinn_pac.runs import Settings, build_network, evaluator_for, physics_loss, solve  # noqa: E402
from pinn_pac.solver.least_squares import LeastSquares  # noqa: E402
from pinn_pac.solver.train import Budget  # noqa: E402
from pinn_pac.transfer.pac_network import AdaptedNetwork, PACNetwork  # noqa: E402

SOURCES = RESULTS / "defaults"
TARGETS = [k * 0.006 / math.pi for k in (2, 3, 4, 5)]  # nu = 0.012/pi .. 0.03/pi, 4 members
THRESHOLDS = (3e-4, 2e-4, 1e-4)
BUDGETS = {"lm": 120, "ssbroyden": 1500, "scratch": (1000, 1200)}
QUICK = {"lm": 3, "ssbroyden": 5, "scratch": (3, 5), "points": 256}
#: Steps between error records: the seconds include the evaluations (~1/10 of an lm step).
EVAL_EVERY = {"lm": 5, "ssbroyden": 25}


def gradient_check(pac: PACNetwork, loss) -> float:
    """|2 J^T r - autograd's gradient of the loss| / |autograd's| at a perturbed adapter."""
    adapter = pac.start_adapter()
    with torch.no_grad():
        for values in adapter:
            values.add_(1e-3 * torch.randn(values.shape, generator=torch.Generator().manual_seed(0), dtype=values.dtype))
    network = AdaptedNetwork(pac, adapter)
    rows, jacobian = LeastSquares(loss, network, adapter).rows_and_jacobian()
    gradient = torch.cat([g.flatten() for g in torch.autograd.grad(loss(network), adapter)])
    return float((2 * jacobian.T @ rows - gradient).norm() / gradient.norm())


def calibrate(pac: PACNetwork, target, settings: Settings, evaluator, optimizer: str, steps: int) -> dict:
    """The product's calibration of `target` from the source with `optimizer` (the
    compiled path compiled beforehand), the error every `EVAL_EVERY[optimizer]` steps."""
    loss = physics_loss(target, settings)
    loss(AdaptedNetwork(pac, pac.start_adapter())).backward()  # the one-off compile, not timed
    budget = Budget(adam_steps=0, iterations=steps, optimizer=optimizer)
    result = pac.calibrate(f"nu={target.coefficients['nu']:.6g}", loss, budget, 0.0, evaluator, progress=False,
                           eval_every=EVAL_EVERY[optimizer])
    return result.history.as_dict()


def load_source(seed: int, quick: bool) -> tuple[PACNetwork, Settings]:
    prepared = torch.load(SOURCES / f"transfer_seed{seed}" / "pac" / "prepared.pt", weights_only=False)
    settings = Settings.from_record(prepared["settings"])
    settings = replace(settings, threads=2, **({"n_interior": QUICK["points"], "rad_candidates": 1024} if quick else {}))
    network = build_network(equations.create("burgers", **prepared["coefficients"]), settings)
    network.load_state_dict(prepared["network"])
    return PACNetwork.from_saved(network, prepared["masks"], prepared.get("start")), settings


def measure_seed(seed: int, quick: bool) -> list[dict]:
    budgets = QUICK if quick else BUDGETS
    pac, settings = load_source(seed, quick)
    torch.set_num_threads(2)
    records = []
    for nu in TARGETS:
        target = equations.create("burgers", nu=nu)
        evaluator = evaluator_for(target, settings)
        check = gradient_check(pac, physics_loss(target, settings))
        lm = calibrate(pac, target, settings, evaluator, "lm", budgets["lm"])
        ss = calibrate(pac, target, settings, evaluator, "ssbroyden", budgets["ssbroyden"])
        for name, history in (("lm", lm), ("ssbroyden", ss)):
            records.append({"seed": seed, "nu": nu, "method": name, "history": history,
                            "gradient_check": check, "freed": pac.freed_count})
        print(f"seed {seed} nu {nu:.5f}: gradient check {check:.1e}; lm {lm['rel_l2'][-1]:.2e} "
              f"({lm['seconds'][-1]:.1f} s), ssbroyden {ss['rel_l2'][-1]:.2e} ({ss['seconds'][-1]:.1f} s)", flush=True)
    adam, iterations = budgets["scratch"]
    scratch_target = equations.create("burgers", nu=0.02 / math.pi)
    solve(scratch_target, settings, Budget(adam_steps=1, iterations=1, adam_lr=5e-3), progress=False)  # compile
    run = solve(scratch_target, settings, Budget(adam_steps=adam, iterations=iterations, adam_lr=5e-3), progress=False)
    history = run.history.as_dict()
    records.append({"seed": seed, "nu": 0.02 / math.pi, "method": "scratch", "history": history})
    print(f"seed {seed} scratch nu=0.02/pi: {history['rel_l2'][-1]:.2e} ({history['seconds'][-1]:.1f} s)", flush=True)
    return records


def _median(values: list[float | None]) -> str:
    reached = [v for v in values if v is not None]
    if len(reached) < len(values):
        return f"{len(reached)} of {len(values)} reach it" + (f" (median of those {statistics.median(reached):.1f})"
                                                            if reached else "")
    return f"{statistics.median(reached):.1f}"


def table(records: list[dict]) -> str:
    columns = ["method", "runs", *[f"s to {t:.0e}" for t in THRESHOLDS], "rel L2 at the end (median [min, max])",
               "steps", "s at the end (median)"]
    rows = []
    for method in ("lm", "ssbroyden", "scratch"):
        chosen = [r["history"] for r in records if r["method"] == method]
        ends = [h["rel_l2"][-1] for h in chosen]
        rows.append([method, len(chosen), *[_median([seconds_to(h, t) for h in chosen]) for t in THRESHOLDS],
                     f"{statistics.median(ends):.2e} [{min(ends):.2e}, {max(ends):.2e}]", chosen[0]["step"][-1],
                     f"{statistics.median(h['seconds'][-1] for h in chosen):.1f}"])
    return markdown_table(columns, rows)


def figure(records: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    colors = {"lm": "tab:red", "ssbroyden": "tab:blue", "scratch": "tab:gray"}
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for method, color in colors.items():
        for k, record in enumerate(r for r in records if r["method"] == method):
            h = record["history"]
            axes.loglog([max(s, 1e-2) for s in h["seconds"]], h["rel_l2"], color=color, alpha=0.6, lw=1,
                        label=method if k == 0 else None)
    axes.axhline(1e-4, color="k", ls=":", lw=0.8)
    axes.set_xlabel("seconds (training)")
    axes.set_ylabel("relative L2 error")
    axes.set_title("PAC-Net members nu = 0.012/pi..0.03/pi from 0.01/pi; scratch: 0.02/pi", fontsize=10)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0,1,2", help="stored default-job sources to start from (%(default)s)")
    parser.add_argument("--quick", action="store_true", help="tiny budgets and point counts: the harness only")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the results go (%(default)s)")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    header = run_header()
    records = [r for seed in seeds for r in measure_seed(seed, args.quick)]
    data = {"header": header, "budgets": QUICK if args.quick else BUDGETS, "targets": TARGETS, "records": records}
    args.results.mkdir(parents=True, exist_ok=True)
    write_results("pac_gauss_newton", data, table(records), args.results)
    figure(records, args.results / "pac_gauss_newton.png")


if __name__ == "__main__":
    main()
