"""DeepXDE 1.15's own Burgers example against pinn-pac, on the same machine and threads.

Both libraries are measured against pinn-pac's Cole-Hopf reference on the same 256 x 100
grid (x in [-1, 1], t in [0, 0.99]), every 100 (DeepXDE) or 25 (pinn-pac) optimizer
iterations, the clock running from the first step and through the measurements. Runs
alternate: DeepXDE on the source viscosity, pinn-pac on the source, DeepXDE on the target
from scratch, then pinn-pac's PAC-Net calibration and warm-start fine-tuning on the target
(from the pinn-pac source just trained). Every run stops at the same wall-clock cap.

DeepXDE runs exactly its example (examples/pinn_forward/Burgers.py: 3x20 tanh, Glorot
normal, 2,540 + 80 + 160 random points, float32, Adam lr 1e-3 for 15,000 iterations, then
L-BFGS), except that L-BFGS reports every 100 iterations instead of 1,000, so that its error
can be sampled as finely as pinn-pac's. pinn-pac runs its command-line defaults, and on the
source also DeepXDE's network, points, dtype and optimizer schedule.

    pip install deepxde==1.15.0    # optional; only this benchmark needs it
    python benchmarks/peers/deepxde_burgers.py       # about 22 minutes on 2 cores
    python benchmarks/peers/deepxde_burgers.py --seed 1 --derivatives autograd
"""

from __future__ import annotations

import argparse
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
from pinn_pac.cli import SOLVE_BUDGET  # noqa: E402
from pinn_pac.derivatives import DERIVATIVE_METHODS  # noqa: E402
from pinn_pac.evaluate import Evaluator  # noqa: E402
from pinn_pac.runs import Settings, TransferSettings, solve, transfer  # noqa: E402
from pinn_pac.train import Budget  # noqa: E402

THRESHOLDS = (1e-2, 1e-3)


def deepxde_run(nu: float, evaluator: Evaluator, cap: float, seed: int) -> dict:
    """DeepXDE's Burgers example at viscosity `nu`; error against time, stopped at `cap` s."""
    import deepxde as dde

    dde.config.set_random_seed(seed)
    dde.optimizers.config.LBFGS_options["iter_per_step"] = 100
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
        def __init__(self) -> None:
            super().__init__()
            self.last = -1

        def on_epoch_end(self) -> None:
            step = self.model.train_state.step
            if step // 100 == self.last // 100:
                return
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
    if time.perf_counter() - started < cap:
        model.compile("L-BFGS")
        model.train(callbacks=[ErrorLog()], verbose=0)
    return log


def error_at(log: dict, seconds: float) -> float:
    """The last recorded error at or before `seconds`."""
    errors = [e for s, e in zip(log["seconds"], log["rel_l2"]) if s <= seconds]
    return errors[-1] if errors else math.nan


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source-seconds", type=float, default=240.0)
    parser.add_argument("--target-seconds", type=float, default=180.0)
    parser.add_argument("--allocate-seconds", type=float, default=45.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--results", type=Path, default=Path(__file__).resolve().parents[1] / "results")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--derivatives", choices=DERIVATIVE_METHODS, default="compiled",
                        help="pinn-pac's derivative path (%(default)s, the command line's default)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    source, target = create("burgers", nu=0.01 / math.pi), create("burgers", nu=0.02 / math.pi)
    source_eval, target_eval = Evaluator(source), Evaluator(target)
    runs: dict[str, dict] = {}

    runs["deepxde, source from scratch"] = deepxde_run(source.coefficients["nu"], source_eval, args.source_seconds, args.seed)
    print("deepxde source done", flush=True)
    settings = Settings(seed=args.seed, derivative_method=args.derivatives)
    budget = Budget(adam_steps=SOLVE_BUDGET.adam_steps, iterations=100_000, max_seconds=args.source_seconds)
    source_run = solve(source, settings, budget, progress=False)
    runs["pinn-pac, source from scratch"] = source_run.history.as_dict()
    print("pinn-pac source done", flush=True)
    matched = Settings(width=20, depth=3, dtype="float32", n_interior=2540, n_condition=120, seed=args.seed,
                       derivative_method=args.derivatives)
    matched_budget = Budget(adam_steps=15000, iterations=100_000, max_seconds=args.source_seconds)
    runs["pinn-pac, source from scratch, DeepXDE's network and points"] = solve(
        source, matched, matched_budget, progress=False).history.as_dict()
    print("pinn-pac matched source done", flush=True)
    runs["deepxde, target from scratch"] = deepxde_run(target.coefficients["nu"], target_eval, args.target_seconds, args.seed)
    print("deepxde target done", flush=True)
    transfer_settings = TransferSettings(
        allocate=Budget(adam_steps=0, iterations=400, max_seconds=args.allocate_seconds),
        calibrate=Budget(adam_steps=0, iterations=100_000, max_seconds=args.target_seconds))
    pac, finetune = transfer(source, [target], settings, transfer_settings, ("pac", "finetune"),
                             progress=False, source_run=source_run)
    key = next(k for k in pac.histories if k.startswith("pac nu="))
    runs["pinn-pac, target by PAC-Net calibration"] = pac.histories[key].as_dict()
    runs["pinn-pac, target by fine-tuning"] = finetune.histories[key.replace("pac", "finetune", 1)].as_dict()
    allocate_seconds = pac.histories[next(k for k in pac.histories if "prepare" in k)].seconds[-1]

    rows = []
    for name, log in runs.items():
        cap = args.source_seconds if "source" in name else args.target_seconds
        rows.append({"run": name, **{f"seconds_to_{t:g}": seconds_to(log, t) for t in THRESHOLDS},
                     "rel_l2_at_cap": error_at(log, cap), "cap_seconds": cap, "history": log})

    def ratio(slow: str, fast: str, threshold: float = 1e-2) -> float | None:
        a, b = (next(r for r in rows if r["run"] == n)[f"seconds_to_{threshold:g}"] for n in (slow, fast))
        return a / b if a and b else None

    ratios = {
        "deepxde / pinn-pac, source to 1e-2": ratio("deepxde, source from scratch", "pinn-pac, source from scratch"),
        "deepxde / pinn-pac with DeepXDE's network and points, source to 1e-2":
            ratio("deepxde, source from scratch", "pinn-pac, source from scratch, DeepXDE's network and points"),
        "deepxde scratch / pinn-pac PAC calibration, target to 1e-2":
            ratio("deepxde, target from scratch", "pinn-pac, target by PAC-Net calibration"),
        "deepxde scratch / pinn-pac fine-tuning, target to 1e-2":
            ratio("deepxde, target from scratch", "pinn-pac, target by fine-tuning"),
    }
    for name, value in ratios.items():
        print(f"{name}: {'not reached by both' if value is None else f'{value:.1f}x'}")

    def fmt(value):
        return "never" if value is None else f"{value:.1f}"

    table = markdown_table(
        ["run", "s to 1e-2", "s to 1e-3", "rel L2 at the cap", "cap (s)"],
        [[r["run"], fmt(r["seconds_to_0.01"]), fmt(r["seconds_to_0.001"]), f"{r['rel_l2_at_cap']:.2e}",
          f"{r['cap_seconds']:g}"] for r in rows],
    )
    notes = (f"Source nu = 0.01/pi, target nu = 0.02/pi; seed {args.seed}; {args.threads} torch threads; "
             f"relative L2 on the 256 x 100 reference grid. pinn-pac: 8x20 tanh, float64, 8,000 Sobol points, "
             f"{args.derivatives} derivatives (compile time included in its seconds), "
             f"{SOLVE_BUDGET.adam_steps} Adam steps then L-BFGS; the PAC-Net source was pruned (30%) and "
             f"allocated for {allocate_seconds:.0f} s before calibration (not counted in the target's seconds). "
             "DeepXDE: its example as shipped (float32, 3x20, 2,540 points); pinn-pac was also run with "
             "DeepXDE's settings (3x20 tanh, float32, 2,540 Sobol points, 120 per condition, 15,000 Adam "
             "steps at lr 1e-3, then L-BFGS). Ratios: "
             + "; ".join(f"{k}: {'-' if v is None else f'{v:.1f}x'}" for k, v in ratios.items()) + ".")
    # Results made before the compiled path existed used autograd and carry no suffix.
    name = "peers_deepxde_burgers" + (f"_seed{args.seed}" if args.seed else "") + (
        "" if args.derivatives == "autograd" else f"_{args.derivatives}")
    write_results(name, {"header": run_header(), "ratios": ratios, "rows": rows,
                         "allocate_seconds": allocate_seconds}, notes + "\n\n" + table, args.results)
    plot(rows, args.results / f"{name}.png")


def plot(rows: list[dict], path: Path) -> None:
    from pinn_pac.plots import save_figure  # imported first: it selects the Agg backend

    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(12, 4))
    for ax, role in zip(axes, ("source", "target")):
        for row in (r for r in rows if role in r["run"]):
            ax.semilogy(row["history"]["seconds"], row["history"]["rel_l2"], label=row["run"])
        ax.axhline(1e-2, color="gray", lw=0.8, ls=":")
        ax.set(xlabel="wall seconds", ylabel="relative L2 error", title=f"Burgers {role}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    save_figure(figure, path)


if __name__ == "__main__":
    main()
