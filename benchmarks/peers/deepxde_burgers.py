"""DeepXDE 1.15's own Burgers example against pinn-pac's default solve, on the same machine.

Both libraries are measured against pinn-pac's Cole-Hopf reference on the same 256 x 100
grid (x in [-1, 1], t in [0, 0.99]); the clock runs from the first step and through the
measurements. Per seed, DeepXDE runs first, then `pinn-pac solve burgers --nu 0.01/pi` with
its defaults (compile included in its seconds).

DeepXDE runs its example exactly as shipped (examples/pinn_forward/Burgers.py: 3x20 tanh,
Glorot normal, 2,540 + 80 + 160 random points, float32, Adam lr 1e-3 for 15,000 iterations,
then L-BFGS with DeepXDE's own options). Its error is sampled by a callback that only reads
the model: every 100 Adam steps, and wherever DeepXDE's L-BFGS hands control back (every
`iter_per_step` = 1,000 iterations as shipped), and once more when training ends. The example
ends after one L-BFGS call, which DeepXDE's own stopping rules may end early; the same run is
then continued by calling L-BFGS again, up to a cap, and both are reported: the example as
shipped (up to its end) and continued.

    pip install deepxde==1.15.0    # optional; only this benchmark needs it
    python benchmarks/peers/deepxde_burgers.py                 # about 21 minutes on 2 cores
    python benchmarks/peers/deepxde_burgers.py --seeds 0
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("DDE_BACKEND", "pytorch")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from _common import markdown_table, run_header, seconds_to, write_results  # noqa: E402
from equations import create  # noqa: E402
from pinn_pac.runs import SOLVE_BUDGET  # noqa: E402
from pinn_pac.solver.evaluate import Evaluator  # noqa: E402
from pinn_pac.runs import Settings, solve  # noqa: E402

THRESHOLDS = (1e-2, 1e-3, 1e-4)


def deepxde_run(nu: float, evaluator: Evaluator, cap: float, seed: int) -> dict:
    """DeepXDE's Burgers example at viscosity `nu`: its error against time as shipped (up to
    the end of its one L-BFGS call), and continued with further L-BFGS calls up to `cap` s."""
    import deepxde as dde

    dde.config.set_random_seed(seed)
    geomtime = dde.geometry.GeometryXTime(dde.geometry.Interval(-1, 1), dde.geometry.TimeDomain(0, 0.99))

    def pde(x, y):
        dy_x = dde.grad.jacobian(y, x, i=0, j=0)
        dy_t = dde.grad.jacobian(y, x, i=0, j=1)
        dy_xx = dde.grad.hessian(y, x, i=0, j=0)
        return dy_t + y * dy_x - nu * dy_xx

    bc = dde.icbc.DirichletBC(geomtime, lambda x: 0, lambda _, on_boundary: on_boundary)
    ic = dde.icbc.IC(geomtime, lambda x: -np.sin(np.pi * x[:, 0:1]), lambda _, on_initial: on_initial)
    data = dde.data.TimePDE(geomtime, pde, [bc, ic], num_domain=2540, num_boundary=80, num_initial=160)
    model = dde.Model(data, dde.nn.FNN([2] + [20] * 3 + [1], "tanh", "Glorot normal"))
    points = evaluator.points.astype(np.float32)
    log = {"seconds": [], "rel_l2": [], "step": []}

    class ErrorLog(dde.callbacks.Callback):
        """Reads the model's predictions; never touches its optimiser."""

        def __init__(self) -> None:
            super().__init__()
            self.last = -1

        def on_epoch_end(self) -> None:
            step = self.model.train_state.step
            if step // 100 != self.last // 100:
                self.sample(step)

        def on_train_end(self) -> None:
            if self.model.train_state.step != self.last:
                self.sample(self.model.train_state.step)

        def sample(self, step: int) -> None:
            self.last = step
            error = np.asarray(self.model.predict(points), dtype=np.float64).reshape(evaluator.reference.shape)
            elapsed = time.perf_counter() - started
            log["step"].append(int(step))
            log["seconds"].append(elapsed)
            log["rel_l2"].append(float(np.linalg.norm(error - evaluator.reference) / np.linalg.norm(evaluator.reference)))
            if elapsed >= cap:
                self.model.stop_training = True

    model.compile("adam", lr=1e-3)
    started = time.perf_counter()  # like pinn-pac's clock: from the first optimizer step
    model.train(iterations=15000, callbacks=[ErrorLog()], verbose=0)
    shipped_end = None
    # The example ends after one L-BFGS call. Then, until the cap, L-BFGS is called again
    # (DeepXDE restarts it from the current weights), as long as a call still moves it.
    while time.perf_counter() - started < cap and not model.stop_training:
        before = model.train_state.step
        model.compile("L-BFGS")
        model.train(callbacks=[ErrorLog()], verbose=0)
        if shipped_end is None:
            shipped_end = len(log["seconds"])
        if model.train_state.step == before:
            break
    return {"shipped": {key: values[:shipped_end] for key, values in log.items()}, "continued": log}


def speedup(deepxde: dict, pinn_pac: dict, threshold: float) -> tuple[float | None, str]:
    """DeepXDE's seconds to `threshold` over pinn-pac's, and how to print it. Where DeepXDE
    never gets there there is no ratio: it says where DeepXDE stopped instead."""
    slow, fast = seconds_to(deepxde, threshold), seconds_to(pinn_pac, threshold)
    if fast is None:
        return None, "pinn-pac never reached it"
    if slow is None:
        return None, (f"no ratio: DeepXDE never reached {threshold:g} (it stopped at {deepxde['rel_l2'][-1]:.1e} "
                      f"after {deepxde['seconds'][-1]:.0f} s); pinn-pac took {fast:.0f} s")
    return slow / fast, f"{slow / fast:.1f}x"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--cap", type=float, default=240.0,
                        help="wall-clock cap of each DeepXDE run, continued past its example's end")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--results", type=Path, default=Path(__file__).resolve().parents[1] / "results")
    parser.add_argument("--render", action="store_true", help="only rewrite the table and figure from the JSON")
    args = parser.parse_args(argv)
    if args.render:
        saved = json.loads((args.results / "peers_deepxde_burgers.json").read_text())
        return report(saved["rows"], saved["header"], args)
    torch.set_num_threads(args.threads)
    source = create("burgers", nu=0.01 / math.pi)
    evaluator = Evaluator(source)
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        deepxde = deepxde_run(source.coefficients["nu"], evaluator, args.cap, seed)
        runs = {"deepxde (its example as shipped)": deepxde["shipped"],
                f"deepxde, L-BFGS called again up to {args.cap:g} s": deepxde["continued"]}
        settings = Settings(seed=seed, derivative_method="compiled", threads=args.threads)  # the CLI's defaults
        runs["pinn-pac solve (defaults)"] = solve(source, settings, SOLVE_BUDGET, progress=False).history.as_dict()
        for name, log in runs.items():
            rows.append({"seed": seed, "run": name, **{f"seconds_to_{t:g}": seconds_to(log, t) for t in THRESHOLDS},
                         "final_rel_l2": log["rel_l2"][-1], "seconds": log["seconds"][-1], "history": log})
            print(f"seed {seed}, {name}: {log['rel_l2'][-1]:.2e} after {log['seconds'][-1]:.0f} s", flush=True)
    report(rows, run_header(), args)


def report(rows: list[dict], header: dict, args: argparse.Namespace) -> None:
    """Per seed, each DeepXDE run's seconds to 1e-3 over pinn-pac's; the table, JSON and figure."""
    ratios: dict[int, dict] = {}
    for seed in dict.fromkeys(r["seed"] for r in rows):
        mine = {r["run"]: r["history"] for r in rows if r["seed"] == seed}
        ours = mine.pop("pinn-pac solve (defaults)")
        ratios[seed] = {}
        for name, log in mine.items():
            ratio, text = speedup(log, ours, 1e-3)
            ratios[seed][name] = {"to_1e-3": ratio, "text": text}
            print(f"seed {seed}, {name}: {text}")

    def fmt(value):
        return "never" if value is None else f"{value:.1f}"

    table = markdown_table(
        ["seed", "run", *(f"s to {t:g}" for t in THRESHOLDS), "final rel L2", "seconds", "its s to 1e-3 / pinn-pac's"],
        [[r["seed"], r["run"], *(fmt(r[f"seconds_to_{t:g}"]) for t in THRESHOLDS), f"{r['final_rel_l2']:.2e}",
          f"{r['seconds']:.0f}", ratios[r["seed"]].get(r["run"], {}).get("text", "")] for r in rows],
    )
    notes = (f"Burgers nu = 0.01/pi; {args.threads} torch threads; relative L2 on the 256 x 100 reference grid. "
             "pinn-pac: its command-line defaults (4x20 tanh, float64, 8,000 points redrawn by RAD every 500 "
             f"iterations, exact initial and boundary values, {SOLVE_BUDGET.adam_steps} Adam steps then "
             f"{SOLVE_BUDGET.iterations} dense SSBroyden iterations, compiled derivatives, compile time included). "
             "DeepXDE: its example as shipped (float32, 3x20, 2,540 random points, soft conditions, Adam 15,000 "
             "steps then L-BFGS), error sampled every 100 Adam steps and every 1,000 L-BFGS iterations; "
             "'called again': the same run, with L-BFGS called again after the example's one call ends, until "
             f"the {args.cap:g} s cap or a call that no longer moves.")
    write_results("peers_deepxde_burgers", {"header": header, "ratios": ratios, "rows": rows},
                  notes + "\n\n" + table, args.results)
    plot(rows, args.results / "peers_deepxde_burgers.png")


def plot(rows: list[dict], path: Path) -> None:
    from pinn_pac.runs.plots import save_figure

    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(7, 4.2))
    names = list(dict.fromkeys(row["run"] for row in rows))
    colors = dict(zip(names, ["tab:orange", "tab:red", "tab:blue"]))
    widths = dict(zip(names, [4, 1, 1]))  # the shipped run is the start of the continued one: drawn under it
    for row in rows:
        ax.semilogy(row["history"]["seconds"], row["history"]["rel_l2"], color=colors[row["run"]],
                    lw=widths[row["run"]], label=row["run"] if row["seed"] == rows[0]["seed"] else None)
    for threshold in (1e-3,):
        ax.axhline(threshold, color="gray", lw=0.8, ls=":")
    ax.set(xlabel="wall seconds", ylabel="relative L2 error", title="Burgers nu = 0.01/pi, one line per seed")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(figure, path)


if __name__ == "__main__":
    main()
