"""Eight Burgers targets calibrated one after another, against all eight stacked in one pass.

One source (nu = 0.01/pi, the command line's network and points) is trained, pruned and
allocated once. The same eight targets are then calibrated sequentially
(`PACNetwork.calibrate`) and stacked (`PACNetwork.calibrate_stacked`: one batched network
pass over the eight targets' points, one optimizer over their adapters) with the same
number of steps, for Adam and for L-BFGS. Stacked Adam is eight independent Adams (Adam acts
element by element), so its final errors should match the sequential ones; stacked L-BFGS
shares one line search, so they need not. Wall time and each target's relative L2 on the
256 x 100 grid are reported.

    python benchmarks/batched_calibration.py    # about 12 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path

import torch

from _common import RESULTS, markdown_table, run_header, write_results
from equations import create
from pinn_pac.evaluate import Evaluator
from pinn_pac.pac import PACNetwork, allocate, prune
from pinn_pac.runs import Settings, build_network, physics_loss
from pinn_pac.train import Budget, StackedPhysicsLoss, train

FACTORS = (0.5, 0.6, 0.7, 0.8, 1.25, 1.5, 1.75, 2.0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adam", type=int, default=150, help="Adam steps per calibration")
    parser.add_argument("--lbfgs", type=int, default=150, help="L-BFGS iterations per calibration")
    parser.add_argument("--source-steps", type=int, default=500, help="Adam steps, then as many L-BFGS")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    settings = Settings()
    source = create("burgers", nu=0.01 / math.pi)
    targets = [source.with_coefficients(nu=f * 0.01 / math.pi) for f in FACTORS]
    evaluators = [Evaluator(t) for t in targets]
    losses = [physics_loss(t, settings) for t in targets]

    network = build_network(source, settings)
    source_loss = physics_loss(source, settings)
    train(network, source_loss, network.parameters(), Budget(adam_steps=args.source_steps, lbfgs_iterations=args.source_steps), progress=False)
    kept = prune(network, 0.3)
    allocate(network, kept, source_loss, Budget(adam_steps=0, lbfgs_iterations=100), progress=False)
    pac = PACNetwork(network, kept)
    source_error = Evaluator(source)(pac.source_view()).rel_l2
    print(f"source allocated: rel L2 {source_error:.2e}", flush=True)

    results = {}
    for optimizer, budget in (("Adam", Budget(adam_steps=args.adam, lbfgs_iterations=0, adam_lr=1e-3)),
                              ("L-BFGS", Budget(adam_steps=0, lbfgs_iterations=args.lbfgs))):
        keys = [f"{optimizer} sequential {k}" for k in range(len(targets))]
        started = time.perf_counter()
        for key, loss in zip(keys, losses):
            pac.calibrate(key, loss, budget, 0.0, progress=False)
        sequential = time.perf_counter() - started
        stacked_keys = [f"{optimizer} stacked {k}" for k in range(len(targets))]
        started = time.perf_counter()
        pac.calibrate_stacked(stacked_keys, StackedPhysicsLoss(losses), budget, 0.0, progress=False)
        stacked = time.perf_counter() - started
        results[optimizer] = {
            "sequential_seconds": sequential, "stacked_seconds": stacked, "ratio": stacked / sequential,
            "sequential_rel_l2": [e(pac.target_view(k)).rel_l2 for e, k in zip(evaluators, keys)],
            "stacked_rel_l2": [e(pac.target_view(k)).rel_l2 for e, k in zip(evaluators, stacked_keys)],
        }
        print(optimizer, {k: v for k, v in results[optimizer].items() if "rel_l2" not in k}, flush=True)

    rows = []
    for optimizer, r in results.items():
        steps = args.adam if optimizer == "Adam" else args.lbfgs
        rows.append([f"{optimizer}, {steps} steps", f"{r['sequential_seconds']:.1f}", f"{r['stacked_seconds']:.1f}",
                     f"{r['ratio']:.2f}", f"{statistics.median(r['sequential_rel_l2']):.2e}",
                     f"{statistics.median(r['stacked_rel_l2']):.2e}",
                     f"{max(abs(a / b - 1) for a, b in zip(r['stacked_rel_l2'], r['sequential_rel_l2'])):.1e}"])
    table = markdown_table(
        ["calibration of 8 targets", "sequential s", "stacked s", "stacked / sequential", "median rel L2, sequential",
         "median rel L2, stacked", "largest relative difference in a target's error"], rows)
    notes = (f"Targets nu = ({', '.join(f'{f:g}' for f in FACTORS)}) x 0.01/pi; source nu = 0.01/pi allocated to "
             f"rel L2 {source_error:.2e}. {settings.depth}x{settings.width} (depth x width) tanh, float64, {settings.n_interior} "
             f"points per target, {args.threads} torch threads, seed {settings.seed}; ratio 0.3, lambda 0.")
    write_results("batched_calibration", {"header": run_header(), "source_rel_l2": source_error,
                                          "factors": FACTORS, "results": results}, notes + "\n\n" + table, args.results)


if __name__ == "__main__":
    main()
