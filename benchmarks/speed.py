"""Seconds per optimizer step of the Burgers PINN for every derivative path, as ratios.

For each dtype, network and number of collocation points, one Adam step (loss, gradient,
update) and one L-BFGS iteration (strong-Wolfe line search, so ~1.2 loss evaluations) are
timed for each derivative path pinn-pac offers, back to back, and reported as ratios to plain
nested `torch.autograd.grad` measured in the same run. The matmul FLOPs of a step (counted by
torch's FlopCounterMode; the element-wise work is not counted) divided by its time, against
a large matmul's rate, say how far from the hardware a step runs.

    python benchmarks/speed.py           # about 15 minutes on 2 cores
    python benchmarks/speed.py --quick   # one small case (the tests run it)
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from _common import RESULTS, markdown_table, matmul_gflops, run_header, write_results
from equations import create
from pinn_pac.runs import Settings, build_network, physics_loss

NETWORKS = ((4, 20), (4, 50), (8, 20), (8, 50))  # (depth, width)
POINTS = (2000, 10000, 20000)
DTYPES = ("float32", "float64")
PATHS = ("autograd", "forward", "compiled")
HEADLINE = ("float64", (4, 50), 10000)


def _problem(dtype: str, depth: int, width: int, points: int, path: str):
    # Soft conditions on fixed points: the loss these timings were measured with.
    settings = Settings(width=width, depth=depth, dtype=dtype, n_interior=points, n_condition=256,
                        derivative_method=path, conditions="soft", rad_every=0)
    equation = create("burgers")
    network = build_network(equation, settings)
    return network, physics_loss(equation, settings)


def adam_seconds(network, loss, steps: int) -> float:
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-3)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss(network).backward()
        optimizer.step()

    step()  # warm-up: allocations, optimizer state
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - started) / steps


def lbfgs_seconds(network, loss, iterations: int) -> float:
    optimizer = torch.optim.LBFGS(network.parameters(), max_iter=iterations, history_size=50,
                                  tolerance_grad=0.0, tolerance_change=0.0, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad(set_to_none=True)
        value = loss(network)
        value.backward()
        return value

    started = time.perf_counter()
    optimizer.step(closure)
    done = optimizer.state[next(iter(network.parameters()))]["n_iter"]
    return (time.perf_counter() - started) / done


class MatmulFlops(TorchDispatchMode):
    """Counts 2 m n k for every matrix product run under it (torch's FlopCounterMode tracks
    modules with hooks that nested autograd.grad does not support)."""

    OPS = {torch.ops.aten.mm.default, torch.ops.aten.addmm.default, torch.ops.aten.bmm.default}

    def __init__(self) -> None:
        super().__init__()
        self.flops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in self.OPS:
            first, second = args[-2], args[-1]
            self.flops += 2 * first.shape[:-1].numel() * first.shape[-1] * second.shape[-1]
        return func(*args, **(kwargs or {}))


def step_flops(network, loss) -> int:
    """Matmul FLOPs of one loss evaluation and its gradient."""
    with MatmulFlops() as counter:
        loss(network).backward()
    network.zero_grad(set_to_none=True)
    return counter.flops


def measure(dtype, shape, points, steps, peaks) -> list[dict]:
    """Every path for one case, timed back to back (twice, alternating; the faster of each kept).
    The compiled path's first step, which compiles, is the untimed warm-up."""
    rows = {}
    for _ in range(2):
        for path in PATHS:
            torch.manual_seed(0)
            network, loss = _problem(dtype, *shape, points, path)
            adam = adam_seconds(network, loss, steps)
            lbfgs = lbfgs_seconds(network, loss, steps)
            best = rows.get(path)
            if best is None or adam < best["adam_s"]:
                # Compiled kernels bypass the FLOP counter; they run the forward path's matmuls.
                flops = step_flops(*_problem(dtype, *shape, points, "forward")) if path == "compiled" \
                    else step_flops(network, loss)
                rows[path] = {"dtype": dtype, "network": f"{shape[0]}x{shape[1]}", "points": points,
                              "path": path, "adam_s": adam, "lbfgs_s": min(lbfgs, best["lbfgs_s"]) if best else lbfgs,
                              "matmul_gflop": flops / 1e9, "gflops": flops / adam / 1e9,
                              "fraction_of_peak": flops / adam / 1e9 / peaks[dtype]}
    for row in rows.values():
        row["adam_ratio"] = row["adam_s"] / rows["autograd"]["adam_s"]
        row["lbfgs_ratio"] = row["lbfgs_s"] / rows["autograd"]["lbfgs_s"]
    return list(rows.values())


def headline_rounds(rounds: int, steps: int) -> dict[str, dict]:
    """The headline case, every path, `rounds` times alternating: median seconds and ratios."""
    times: dict[str, dict[str, list[float]]] = {path: {"adam_s": [], "lbfgs_s": []} for path in PATHS}
    for _ in range(rounds):
        for path in PATHS:
            network, loss = _problem(HEADLINE[0], *HEADLINE[1], HEADLINE[2], path)
            times[path]["adam_s"].append(adam_seconds(network, loss, steps))
            times[path]["lbfgs_s"].append(lbfgs_seconds(network, loss, steps))
    medians = {path: {k: statistics.median(v) for k, v in t.items()} for path, t in times.items()}
    return {path: {**times[path], "median_adam_s": m["adam_s"], "median_lbfgs_s": m["lbfgs_s"],
                   "adam_speedup": medians["autograd"]["adam_s"] / m["adam_s"],
                   "lbfgs_speedup": medians["autograd"]["lbfgs_s"] / m["lbfgs_s"]}
            for path, m in medians.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one small case, one step")
    parser.add_argument("--headline-rounds", type=int, default=5,
                        help="alternating repeats of the headline case (%(default)s)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    peaks = {name: matmul_gflops(getattr(torch, name), 512 if args.quick else 2048) for name in DTYPES}
    if args.quick:
        cases, steps = [("float64", (2, 8), 256)], 2
    else:
        cases, steps = [(d, s, n) for d in DTYPES for s in NETWORKS for n in POINTS], 8
    rows = []
    for dtype, shape, points in cases:
        rows += measure(dtype, shape, points, steps, peaks)
        print(rows[-len(PATHS):], flush=True)

    headline = {} if args.quick else headline_rounds(args.headline_rounds, steps)
    threads = []
    if not args.quick:  # the headline case on one thread and on all of them
        for count in (1, args.threads):
            torch.set_num_threads(count)
            network, loss = _problem(HEADLINE[0], *HEADLINE[1], HEADLINE[2], "autograd")
            threads.append({"threads": count, "adam_s": adam_seconds(network, loss, steps)})
        torch.set_num_threads(args.threads)

    wall = time.perf_counter() - started
    table = markdown_table(
        ["dtype", "network", "points", "path", "Adam s/step", "ratio to autograd", "L-BFGS s/iter",
         "ratio to autograd", "matmul GFLOP/step", "achieved GFLOP/s", "% of matmul peak"],
        [[r["dtype"], r["network"], r["points"], r["path"], f"{r['adam_s']:.4f}", f"{r['adam_ratio']:.2f}",
          f"{r['lbfgs_s']:.4f}", f"{r['lbfgs_ratio']:.2f}", f"{r['matmul_gflop']:.3f}", f"{r['gflops']:.2f}",
          f"{100 * r['fraction_of_peak']:.1f}"] for r in rows],
    )
    notes = (f"Burgers residual and conditions (256 points each), {args.threads} torch threads. Large-matmul peak: "
             + ", ".join(f"{k} {v:.1f} GFLOP/s" for k, v in peaks.items())
             + ". Ratios below 1 mean faster than nested autograd. "
             + "".join(f"Headline case ({HEADLINE[0]}, {HEADLINE[1][0]}x{HEADLINE[1][1]}, {HEADLINE[2]} points, "
                       f"autograd) on {t['threads']} thread(s): {t['adam_s']:.4f} s per Adam step. " for t in threads)
             + "".join(f"Headline case over {args.headline_rounds} alternating rounds, median speed-up over "
                       f"autograd: {path} {h['adam_speedup']:.2f}x (Adam), {h['lbfgs_speedup']:.2f}x (L-BFGS). "
                       for path, h in headline.items() if path != "autograd")
             + f"Whole run: {wall / 60:.1f} min.")
    write_results("speed", {"header": run_header(), "peaks_gflops": peaks, "rows": rows, "threads": threads,
                            "headline_rounds": headline, "wall_seconds": wall}, notes + "\n\n" + table, args.results)
    print(f"done in {wall / 60:.1f} min")


if __name__ == "__main__":
    main()
