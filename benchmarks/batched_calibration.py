"""Eight Burgers targets: calibrated one by one, stacked in one pass, or warm-started in a chain.

One source (nu = 0.01/pi, the library's network and points) is trained, pruned and allocated
once. The same eight targets are then calibrated three ways, and the family's wall time and
each target's relative L2 on the 256 x 100 grid are compared:

* sequential - `PACNetwork.calibrate` per target, each from the source's zeros;
* stacked    - `PACNetwork.calibrate_stacked`: one batched network pass over the eight
               targets' points, one optimizer over their adapters, the same number of steps.
               Stacked Adam is eight independent Adams (Adam acts element by element), so
               its errors should match the sequential ones; stacked L-BFGS shares one line
               search, so they need not;
* warm start - PAC-Net with `warm_start="nearest"`: targets nearest the source first, each
               starting from the nearest target calibrated before it, and stopping as soon as
               its error is at or below the error the sequential L-BFGS run ended at (the
               same iteration budget otherwise). "Equal final error" is thereby built in; the
               question is the time it takes.

    python benchmarks/batched_calibration.py    # about 12 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path

import torch

from _common import RESULTS, markdown_table, run_header, seconds_to, write_results
from equations import create
from pinn_pac.solver.evaluate import Evaluator
from pinn_pac.runs import Settings, build_network, physics_loss
from pinn_pac.solver.loss import StackedPhysicsLoss
from pinn_pac.solver.train import Budget, train
from pinn_pac.transfer import TransferContext, make_method

FACTORS = (0.8, 1.25, 0.7, 0.6, 1.5, 0.5, 1.75, 2.0)  # x 0.01/pi, nearest the source first


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adam", type=int, default=150, help="Adam steps per calibration")
    parser.add_argument("--iterations", type=int, default=200, help="L-BFGS iterations per calibration")
    parser.add_argument("--source-steps", type=int, default=1000, help="Adam steps, then as many L-BFGS")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    # The settings these results were measured with, before exact conditions, RAD and SSBroyden.
    settings = Settings(depth=8, conditions="soft", rad_every=0)
    source = create("burgers", nu=0.01 / math.pi)
    targets = [source.with_coefficients(nu=f * 0.01 / math.pi) for f in FACTORS]
    evaluators = [Evaluator(t) for t in targets]
    losses = [physics_loss(t, settings) for t in targets]

    network = build_network(source, settings)
    source_loss = physics_loss(source, settings)
    train(network, source_loss, network.parameters(),
          Budget(adam_steps=args.source_steps, iterations=args.source_steps, optimizer="lbfgs"), progress=False)
    context = TransferContext(source, network.requires_grad_(False), targets,
                              loss_for=lambda equation, **_: source_loss, n_interior=settings.n_interior,
                              new_network=lambda equation: build_network(equation, settings))
    # The prune it was measured with, and no lm steps after each calibration (as the others here).
    chain = make_method("pac", warm_start="nearest", scope="global", lm_finish=0, member_steps=0)
    chain.prepare(context, Budget(adam_steps=0, iterations=100, optimizer="lbfgs"), progress=False)
    pac = chain.pac  # the same allocated source serves every way of calibrating
    source_error = Evaluator(source)(pac.source_view()).rel_l2
    print(f"source allocated: rel L2 {source_error:.2e}", flush=True)

    results = {}
    for optimizer, budget in (("Adam", Budget(adam_steps=args.adam, iterations=0, adam_lr=1e-3)),
                              ("L-BFGS", Budget(adam_steps=0, iterations=args.iterations, optimizer="lbfgs"))):
        keys = [f"{optimizer} sequential {k}" for k in range(len(targets))]
        started = time.perf_counter()
        histories = [pac.calibrate(key, loss, budget, 0.0, evaluator, progress=False).history.as_dict()
                     for key, loss, evaluator in zip(keys, losses, evaluators)]
        sequential = time.perf_counter() - started
        stacked_keys = [f"{optimizer} stacked {k}" for k in range(len(targets))]
        started = time.perf_counter()
        pac.calibrate_stacked(stacked_keys, StackedPhysicsLoss(losses), budget, 0.0, progress=False)
        stacked = time.perf_counter() - started
        results[optimizer] = {
            "sequential_seconds": sequential, "stacked_seconds": stacked, "ratio": stacked / sequential,
            "sequential_rel_l2": [e(pac.target_view(k)).rel_l2 for e, k in zip(evaluators, keys)],
            "stacked_rel_l2": [e(pac.target_view(k)).rel_l2 for e, k in zip(evaluators, stacked_keys)],
            "sequential_seconds_each": [h["seconds"][-1] for h in histories],
            "sequential_seconds_to_final_error": [seconds_to(h, h["rel_l2"][-1]) for h in histories],
        }
        print(optimizer, {k: v for k, v in results[optimizer].items() if "rel_l2" not in k}, flush=True)

    independent = results["L-BFGS"]
    warm = []
    started = time.perf_counter()
    for target, loss, evaluator, goal in zip(targets, losses, evaluators, independent["sequential_rel_l2"]):
        adapted = chain.adapt(target, Budget(adam_steps=0, iterations=args.iterations, optimizer="lbfgs", target_error=goal),
                              evaluator, loss=loss, progress=False)
        history = adapted.result.history
        warm.append({"start_rel_l2": history.rel_l2[0], "rel_l2": evaluator(adapted.network).rel_l2,
                     "seconds": adapted.result.seconds, "iterations": adapted.result.steps,
                     "stopped_because": adapted.result.stopped_because})
    warm_seconds = time.perf_counter() - started
    to_equal_error = sum(independent["sequential_seconds_to_final_error"])
    results["warm start"] = {"seconds": warm_seconds, "ratio": warm_seconds / independent["sequential_seconds"],
                             "sequential_seconds_to_final_error": to_equal_error,
                             "ratio_at_equal_error": sum(w["seconds"] for w in warm) / to_equal_error,
                             "targets": warm}
    print("warm start", warm_seconds, [w["stopped_because"] for w in warm], flush=True)
    write(args, settings, source_error, results)


def write(args, settings: Settings, source_error: float, results: dict) -> None:
    rows = []
    for optimizer in ("Adam", "L-BFGS"):
        r = results[optimizer]
        steps = args.adam if optimizer == "Adam" else args.iterations
        rows.append([f"stacked, {optimizer} {steps} steps", f"{r['sequential_seconds']:.1f}",
                     f"{r['stacked_seconds']:.1f}", f"{r['ratio']:.2f}",
                     f"{statistics.median(r['sequential_rel_l2']):.2e}", f"{statistics.median(r['stacked_rel_l2']):.2e}",
                     f"{max(a / b for a, b in zip(r['stacked_rel_l2'], r['sequential_rel_l2'])):.2f}"])
    independent, warm = results["L-BFGS"], results["warm start"]
    errors = [t["rel_l2"] for t in warm["targets"]]
    for label, sequential, ratio in (
        (f"warm start, L-BFGS up to {args.iterations} iterations", independent["sequential_seconds"], warm["ratio"]),
        ("warm start against each sequential run's time to its own final error",
         warm["sequential_seconds_to_final_error"], warm["ratio_at_equal_error"]),
    ):
        rows.append([label, f"{sequential:.1f}", f"{sequential * ratio:.1f}", f"{ratio:.2f}",
                     f"{statistics.median(independent['sequential_rel_l2']):.2e}", f"{statistics.median(errors):.2e}",
                     f"{max(a / b for a, b in zip(errors, independent['sequential_rel_l2'])):.2f}"])
    table = markdown_table(
        ["8 targets", "sequential s", "this way s", "this way / sequential", "median rel L2, sequential",
         "median rel L2, this way", "largest ratio of a target's error to its sequential error"], rows)
    per_target = markdown_table(
        ["nu / (0.01/pi)", "sequential rel L2", "sequential s", "s to its final error", "warm start from rel L2",
         "warm start rel L2", "warm start s", "warm start iterations"],
        [[f"{f:g}", f"{e:.2e}", f"{s:.1f}", f"{s_final:.1f}", f"{w['start_rel_l2']:.2e}", f"{w['rel_l2']:.2e}",
          f"{w['seconds']:.1f}", w["iterations"]]
         for f, e, s, s_final, w in zip(FACTORS, independent["sequential_rel_l2"], independent["sequential_seconds_each"],
                                        independent["sequential_seconds_to_final_error"], warm["targets"])])
    notes = (f"Targets nu = ({', '.join(f'{f:g}' for f in FACTORS)}) x 0.01/pi, calibrated in this order; source "
             f"nu = 0.01/pi allocated to rel L2 {source_error:.2e}. {settings.depth}x{settings.width} (depth x width) "
             f"tanh, float64, {settings.n_interior} points per target, {settings.derivative_method} derivatives "
             f"(stacked networks have no compiled path), {args.threads} torch threads, seed {settings.seed}; ratio 0.3, "
             "lambda 0. Sequential runs measure the reference error every 25 steps (the stacked runs do not); "
             "warm-started runs stop at their target's sequential L-BFGS error. A sequential run that ends above "
             "the error it started from reaches its own final error at once, so the fair ratio is the second "
             "warm-start row: each side's seconds until the target is at the sequential final error.")
    write_results("batched_calibration", {"header": run_header(), "source_rel_l2": source_error,
                                          "factors": FACTORS, "results": results},
                  notes + "\n\n" + table + "\n\nPer target (L-BFGS):\n\n" + per_target, args.results)


if __name__ == "__main__":
    main()
