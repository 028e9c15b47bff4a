"""What keeping a phase's training state costs: one dense quasi-Newton iteration of the default
Burgers network against one save of its state (the dense matrix, parameters, points, random
streams, a 200-point history), for each derivative path; the cost per `STATE_EVERY` iterations.

    python benchmarks/state_cost.py     # about 30 s on 2 cores
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

from _common import RESULTS, markdown_table, run_header, write_results  # first: see _common

from equations import create
from pinn_pac.runs import Settings, build_network, physics_loss
from pinn_pac.runs.store import STATE_EVERY, FileTrainingState
from pinn_pac.solver.optim import DenseQuasiNewton
from pinn_pac.solver.phases import StateKeeper
from pinn_pac.solver.train import History


def measure(derivatives: str, iterations: int = 60, saves: int = 5) -> dict:
    burgers = create("burgers", nu=0.01 / math.pi)
    settings = Settings(derivative_method=derivatives)
    network, loss = build_network(burgers, settings), physics_loss(burgers, settings)
    parameters = list(network.parameters())
    optimizer = DenseQuasiNewton(parameters, lambda: loss(network))
    for _ in range(10):  # compiled kernels and caches warm
        optimizer.step()
    started = time.perf_counter()
    for _ in range(iterations):
        optimizer.step()
    iteration = (time.perf_counter() - started) / iterations
    path = Path(tempfile.mkdtemp()) / "state.pt"
    history = History(step=list(range(200)), seconds=[0.0] * 200, loss=[1.0] * 200, rel_l2=[1.0] * 200)
    keeper = StateKeeper(FileTrainingState(path), parameters, loss, history, lambda: 1.0)
    started = time.perf_counter()
    for _ in range(saves):
        keeper.save(1000, 500, optimizer.state_dict())
    save = (time.perf_counter() - started) / saves
    return {"derivatives": derivatives, "parameters": sum(p.numel() for p in parameters),
            "iteration_ms": 1e3 * iteration, "save_ms": 1e3 * save, "state_mb": path.stat().st_size / 1e6,
            "percent_per_period": 100 * save / (STATE_EVERY * iteration)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS, help="where to write (%(default)s)")
    args = parser.parse_args(argv)
    rows = [measure(path) for path in ("compiled", "autograd")]
    table = markdown_table(
        ["derivatives", "parameters", "ms per iteration", "ms per save", "state MB", f"cost per {STATE_EVERY} iterations"],
        [[r["derivatives"], r["parameters"], f"{r['iteration_ms']:.1f}", f"{r['save_ms']:.1f}", f"{r['state_mb']:.1f}",
          f"{r['percent_per_period']:.2f}%"] for r in rows])
    write_results("state_cost", {"header": run_header(), "every": STATE_EVERY, "rows": rows}, table, args.results)
    print(table)


if __name__ == "__main__":
    main()
