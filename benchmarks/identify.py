"""Unknown coefficients from few noisy samples, from scratch and from a trained family.

For each problem: samples of the scipy reference at the true coefficients (random points of
the standard grid for PDEs, random times for ODEs), clean and with Gaussian noise of 1% of
each output's standard deviation (Raissi et al. 2019's convention); `identify` from the
starting guess with a fresh network (scratch), and from the best-fitting member of a family
trained beforehand with `pinn-pac transfer` (its cost is not counted: the family exists), for
3 seeds (network, points and noise). Reported: each coefficient's relative error, the
approximate standard error, seconds, and the ratio of the seconds each start took to reach
scratch's final error (the largest relative error over the unknowns).

    python benchmarks/identify.py                       # every problem, 3 seeds (over an hour on 2 cores)
    python benchmarks/identify.py --problems lotka-volterra --seeds 0
    python benchmarks/identify.py --data-weights 0.1,1,10 --problems lotka-volterra,burgers --seeds 0
    python benchmarks/identify.py --problems oscillator,lotka-volterra --data-weight 0.1 --results benchmarks/results/identify/weight0.1

With --data-weights: the scratch start only, at 1% noise, once per weight of the data misfit
against the physics loss (results in identify_weights.*).
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from _common import RESULTS, markdown_table, run_header, write_results  # first: see _common

from equations import Equation, family
from pinn_pac.runs import Settings
from pinn_pac.runs.identify_job import best_member, identify
from pinn_pac.runs.plots import save_figure
from pinn_pac.solver.observations import DEFAULT_DATA_WEIGHT, read_observations

PI = math.pi


@dataclass
class Problem:
    name: str
    truth: dict[str, float]
    start: dict[str, float]
    samples: int
    #: The family `--from` starts from: `pinn-pac transfer --source ... --targets ...`.
    family_source: str
    family_targets: str
    settings: Settings = field(default_factory=Settings)

    @property
    def unknowns(self) -> list[str]:
        return list(self.start)


#: ODEs train on 2,000 collocation points (one input); PDEs on the default 8,000.
ODE = Settings(derivative_method="compiled", n_interior=2000)
PDE = Settings(derivative_method="compiled")
PROBLEMS = {
    "burgers": Problem("burgers", {"nu": 0.01 / PI}, {"nu": 0.03 / PI}, 2000,
                       "nu=0.02/pi", "nu=0.005/pi,nu=0.04/pi", PDE),
    "oscillator": Problem("oscillator", {"zeta": 0.1, "omega": 20.0}, {"zeta": 0.2, "omega": 15.0}, 200,
                          "zeta=0.15,omega=17", "zeta=0.05,omega=23;zeta=0.2,omega=25", ODE),
    "reaction-diffusion": Problem("reaction-diffusion", {"nu": 3.0, "rho": 5.0}, {"nu": 1.0, "rho": 2.0}, 2000,
                                  "nu=2,rho=4", "nu=4,rho=6;nu=2.5,rho=6", PDE),
    "lotka-volterra": Problem("lotka-volterra", {"alpha": 2 / 3, "beta": 4 / 3, "gamma": 1.0, "delta": 1.0},
                              {"alpha": 1.0, "beta": 1.0, "gamma": 1.5, "delta": 0.7}, 200,
                              "alpha=0.8,beta=1.2,gamma=1.2,delta=0.8",
                              "alpha=0.6,beta=1.4,gamma=0.9,delta=1.1;alpha=1,beta=1,gamma=1.5,delta=0.7", ODE),
}
NOISES = (0.0, 0.01)


def samples(truth: Equation, count: int, noise: float, seed: int) -> dict[str, np.ndarray]:
    """`count` samples of the reference at `truth`, each output with `noise` times its
    standard deviation of Gaussian noise."""
    rng = np.random.default_rng([seed, 7])
    grid = truth.standard_grid()
    if len(truth.inputs) == 1:
        (name,) = truth.inputs
        low, high = truth.domain[name]
        points = {name: np.sort(rng.uniform(low, high, count))}
        values = np.asarray(truth.reference(points)).reshape(count, -1)
    else:
        mesh = np.meshgrid(*(grid[name] for name in truth.inputs), indexing="ij")
        chosen = rng.choice(mesh[0].size, count, replace=False)
        points = {name: axis.ravel()[chosen] for name, axis in zip(truth.inputs, mesh)}
        reference = np.asarray(truth.reference(grid))
        values = reference.reshape(mesh[0].size, -1)[chosen]
    outputs = {}
    for k, name in enumerate(truth.outputs):
        column = values[:, k]
        outputs[name] = column + noise * column.std() * rng.standard_normal(count)
    return {**points, **outputs}


def family_command(problem: Problem) -> list[str]:
    """The `pinn-pac transfer` arguments that train the family `--from` starts from: the
    command's defaults but the points. (Saved cases keep the command their family was
    trained with: those made before PAC-Net's default prune became "output" name `--scope global`.)"""
    return ["transfer", problem.name, "--source", problem.family_source, "--targets", problem.family_targets,
            "--points", str(problem.settings.n_interior)]


def build_family(problem: Problem, folder: Path) -> Path:
    """The family `--from` starts from, trained once (kept in `folder` between runs)."""
    if not (folder / "checkpoint.pt").is_file():
        subprocess.run([sys.executable, "-m", "pinn_pac.cli", *family_command(problem), "--out", str(folder), "--quiet"],
                       check=True)
    return folder


def coefficient_errors(values: dict[str, float], truth: dict[str, float]) -> dict[str, float]:
    return {name: abs(values[name] / truth[name] - 1) for name in values}


def seconds_to_error(history, truth: dict[str, float], error: float) -> float | None:
    """Seconds of the first recorded step whose largest relative coefficient error is <= `error`."""
    for k, seconds in enumerate(history.seconds):
        if max(abs(history.tracked[n][k] / truth[n] - 1) for n in truth) <= error:
            return seconds
    return None


def run_case(problem: Problem, noise: float, seed: int, family_dir: Path,
             data_weight: float = DEFAULT_DATA_WEIGHT) -> dict:
    truth = family(problem.name)(**problem.truth)
    data = samples(truth, problem.samples, noise, seed)
    start = truth.with_coefficients(**problem.start)
    observations = read_observations(data, truth)
    settings = replace(problem.settings, seed=seed)
    scratch = identify(start, observations, problem.unknowns, settings, data_weight=data_weight, progress=False)
    began = time.perf_counter()
    member = best_member(family_dir, start, observations)
    search = time.perf_counter() - began
    warm = identify(start, observations, problem.unknowns, replace(member.settings, seed=seed), data_weight=data_weight,
                    start_from=member, progress=False)
    case = {"problem": problem.name, "noise": noise, "seed": seed, "samples": problem.samples, "data_weight": data_weight,
            "member": member.coefficients, "member_search_seconds": search}
    for label, run, extra in (("scratch", scratch, 0.0), ("from", warm, search)):
        errors = coefficient_errors(run.identified, problem.truth)
        case[label] = {"identified": run.identified, "errors": errors, "worst": max(errors.values()),
                       "standard_errors": run.standard_errors if isinstance(run.standard_errors, dict) else None,
                       "seconds": run.seconds + extra, "rel_l2": run.rel_l2, "data_misfit": run.data_misfit,
                       "path": {"seconds": [s + extra for s in run.history.seconds], **run.history.tracked}}
        case[label]["history"] = run.history
    target = case["scratch"]["worst"]
    reach = {label: seconds_to_error(case[label].pop("history"), problem.truth, target) for label in ("scratch", "from")}
    reach["from"] = None if reach["from"] is None else reach["from"] + search
    case["seconds_to_scratch_error"] = reach
    case["ratio"] = None if reach["from"] is None else reach["from"] / reach["scratch"]
    return case


def table(cases: list[dict]) -> str:
    rows = []
    for c in cases:
        for label in ("scratch", "from"):
            run = c[label]
            errors = ", ".join(f"{n} {e:.1e}" for n, e in run["errors"].items())
            se = run["standard_errors"]
            spread = "-" if se is None else ", ".join(
                f"{n} {se[n] / abs(run['identified'][n]):.1e}" for n in se)
            ratio = "" if label == "scratch" else ("never" if c["ratio"] is None else f"{c['ratio']:.2f}")
            rows.append([c["problem"], f"{100 * c['noise']:.0f}%", c["seed"], label, errors, spread,
                         f"{run['seconds']:.1f}", ratio])
    return markdown_table(["problem", "noise", "seed", "start", "relative error", "std error / value (approx.)",
                           "seconds", "from / scratch seconds to scratch's error"], rows)


def summary(cases: list[dict]) -> str:
    lines = []
    for name in dict.fromkeys(c["problem"] for c in cases):
        for noise in NOISES:
            group = [c for c in cases if c["problem"] == name and c["noise"] == noise]
            if not group:
                continue
            worst = {label: max(c[label]["worst"] for c in group) for label in ("scratch", "from")}
            ratios = [c["ratio"] for c in group if c["ratio"] is not None]
            never = sum(c["ratio"] is None for c in group)
            lines.append(f"- {name}, {100 * noise:.0f}% noise, {len(group)} seeds: worst coefficient error "
                         f"{worst['scratch']:.1e} from scratch, {worst['from']:.1e} from the family; seconds to "
                         f"scratch's error, from / scratch: median "
                         f"{np.median(ratios) if ratios else math.nan:.2f}"
                         + (f" ({never} never reached it)" if never else ""))
    return "\n".join(lines)


def plot(cases: list[dict], path: Path) -> None:
    """Each case's largest relative coefficient error against seconds, both starts."""
    problems = list(dict.fromkeys(c["problem"] for c in cases))
    figure = Figure(figsize=(4.8 * len(problems), 4))
    axes = np.atleast_1d(figure.subplots(1, len(problems)))
    for ax, name in zip(axes, problems):
        truth = PROBLEMS[name].truth
        for c in (c for c in cases if c["problem"] == name):
            for label, color in (("scratch", "tab:blue"), ("from", "tab:orange")):
                path_ = c[label]["path"]
                worst = [max(abs(path_[n][k] / truth[n] - 1) for n in truth) for k in range(len(path_["seconds"]))]
                ax.semilogy(path_["seconds"], worst, color=color, ls="-" if c["noise"] == 0 else "--", lw=1,
                            label=f"{label}, {100 * c['noise']:.0f}% noise" if c["seed"] == 0 else None)
        ax.set(xlabel="seconds", ylabel="largest relative coefficient error", title=name)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    save_figure(figure, path)


def weight_study(names: list[str], seeds: list[int], weights: list[float], results: Path) -> None:
    """Each problem from scratch at 1% noise with each data weight: the choice of the default."""
    header, rows, cases = run_header(), [], []
    for name in names:
        problem = PROBLEMS[name]
        truth = family(name)(**problem.truth)
        start = truth.with_coefficients(**problem.start)
        for seed in seeds:
            observations = read_observations(samples(truth, problem.samples, 0.01, seed), truth)
            for weight in weights:
                run = identify(start, observations, problem.unknowns, replace(problem.settings, seed=seed),
                               data_weight=weight, progress=False, with_standard_errors=False)
                errors = coefficient_errors(run.identified, problem.truth)
                cases.append({"problem": name, "seed": seed, "data_weight": weight, "errors": errors,
                              "seconds": run.seconds, "data_misfit": run.data_misfit,
                              "residual_loss": run.residual_loss})
                rows.append([name, seed, weight, ", ".join(f"{n} {e:.1e}" for n, e in errors.items()),
                             f"{max(errors.values()):.1e}", f"{run.data_misfit:.2e}", f"{run.residual_loss:.2e}",
                             f"{run.seconds:.1f}"])
                print(rows[-1], flush=True)
    text = markdown_table(["problem", "seed", "data weight", "relative error", "worst", "data misfit",
                           "physics loss", "seconds"], rows)
    write_results("identify_weights", {"header": header, "cases": cases}, text, results)
    print(text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", default=",".join(PROBLEMS), help="comma-separated (%(default)s)")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated (%(default)s)")
    parser.add_argument("--families", type=Path, default=Path("runs/identify-families"),
                        help="where the trained families are kept between runs (%(default)s)")
    parser.add_argument("--results", type=Path, default=RESULTS / "identify", help="where to write (%(default)s)")
    parser.add_argument("--first-seed-only", default="", help="comma-separated problems run with the first seed only")
    parser.add_argument("--keep", action="store_true",
                        help="keep the saved cases of the problems not run now (their commands stay in the JSON)")
    parser.add_argument("--data-weight", type=float, default=DEFAULT_DATA_WEIGHT,
                        help="the data misfit's weight for both starts (%(default)s, identify's default)")
    parser.add_argument("--data-weights", default=None, help="comma-separated: study the data weight instead")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.problems.split(",") if n.strip()]
    seeds = [int(s) for s in args.seeds.split(",")]
    args.results.mkdir(parents=True, exist_ok=True)
    if args.data_weights:
        weight_study(names, seeds, [float(w) for w in args.data_weights.split(",")], args.results)
        return
    header = run_header()
    cases, families, earlier = [], {}, []
    saved = args.results / "identify.json"
    if args.keep and saved.is_file():
        previous = json.loads(saved.read_text())
        earlier = [c for c in previous["cases"] if c["problem"] not in names]
        families = {n: f for n, f in previous["families"].items() if n not in names}
        header["earlier"] = [*previous["header"].get("earlier", []),
                             {k: v for k, v in previous["header"].items() if k != "earlier"}]
    for name in names:
        problem = PROBLEMS[name]
        began = time.perf_counter()
        family_dir = build_family(problem, args.families / name)
        families[name] = {"command": "pinn-pac " + " ".join(shlex.quote(part) for part in family_command(problem)),
                          "seconds_here": time.perf_counter() - began}
        for noise in NOISES:
            for seed in seeds[:1] if name in args.first_seed_only.split(",") else seeds:
                case = run_case(problem, noise, seed, family_dir, args.data_weight)
                cases.append(case)
                write_results("identify", {"header": header, "families": families, "cases": earlier + cases},
                              table(earlier + cases), args.results)  # kept as it goes
                print(f"{name} noise {noise:.0%} seed {seed}: scratch {case['scratch']['worst']:.2e} in "
                      f"{case['scratch']['seconds']:.1f} s, from {case['from']['worst']:.2e} in "
                      f"{case['from']['seconds']:.1f} s (member {case['member']}), ratio {case['ratio']}", flush=True)
    cases = earlier + cases
    text = table(cases) + "\n\n" + summary(cases)
    if header.get("earlier"):
        text += "\n\nCases of other problems kept from: " + "; ".join(
            f"`{h['command']}` ({h['date']})" for h in header["earlier"])
    write_results("identify", {"header": header, "families": families, "cases": cases}, text, args.results)
    plot(cases, args.results / "identify.png")
    print(text)


if __name__ == "__main__":
    main()
