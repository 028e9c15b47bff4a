"""Any coefficient in a second: a trained family answers coefficients between its members.

For each case a family is trained once as a user makes one (`pinn-pac transfer FAMILY
--targets RANGE`, defaults). Then 20 coefficients between its members, none of them a member,
are answered as `pinn-pac predict RUN --model NAME=X --tolerance T` answers them: the reduced
basis over the members (`pinn_pac.runs.family_answer`), and, where its error indicator (no
reference) is above T, a member calibrated there and added to the family (in a copy of the
run; later coefficients then answer from the grown family). Each answer is measured against
the family's reference on its standard grid. Beside them, one scratch solve at the middle
coefficient, as a user runs it (`pinn-pac solve`, defaults), and one stopped at the tolerance
against the reference (a stop no user has): the cost the 20 answers are measured against.

    python benchmarks/family_answer.py             # about 40 minutes on 2 cores
    python benchmarks/family_answer.py --cases diffusion
    python benchmarks/family_answer.py --render    # table and figure from results/family_answer.json
    python benchmarks/family_answer.py --search    # identify --from searching the committed families

With --search: for 5 of the 20 coefficients, 2,000 clean samples of the reference at random
points of its standard grid (seed 0), and the start `identify --from FAMILY` finds for them: the
best-fitting member, and the coefficient the family search finds between the members
(`pinn_pac.runs.identify_job.search_family`), each's relative error in the coefficient.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import time
from pathlib import Path

from _common import RESULTS, markdown_table, pinn_pac, run_header, write_results  # first: see _common

from equations import create
from pinn_pac.runs.assemble import evaluator_for
from pinn_pac.runs.checkpoint import write_json
from pinn_pac.runs.folder_jobs import Runtime, add_members
from pinn_pac.runs.identify_job import best_member, family_start
from pinn_pac.solver.observations import read_observations
from pinn_pac.runs.predict import load_model
from pinn_pac.runs.reload import load_runs, saved_settings

#: Each family as a user trains it (the source is a member too), the range the 20 coefficients
#: span, and the tolerance of `predict --tolerance` (None: answers only, no calibration).
CASES = {
    "burgers": {"family": "burgers", "name": "nu", "low": 0.005 / math.pi, "high": 0.05 / math.pi,
                "members": ["--targets", "nu=0.005/pi..0.05/pi:8:log"], "tolerance": 1e-3},
    "diffusion": {"family": "diffusion", "name": "kappa", "low": 0.05, "high": 0.2,
                  "members": ["--source", "kappa=0.05", "--targets", "kappa=0.07937005259841,kappa=0.12599210498949,kappa=0.2"],
                  "tolerance": None},
}
QUERIES = 20
#: Samples of the reference the family search fits, and which queries it is run at.
SEARCH_SAMPLES = 2000
SEARCHED = slice(2, QUERIES, 4)


def queries(low: float, high: float) -> list[float]:
    """20 coefficients spread evenly in log between `low` and `high`, each in the middle of
    its twentieth (so none is a member of a log-spaced family of fewer than 20)."""
    ratio = math.log(high / low)
    return [low * math.exp(ratio * (k + 0.5) / QUERIES) for k in range(QUERIES)]


def build_family(case: dict, folder: Path) -> dict:
    """Train the case's family once (kept in `folder` between runs of this script)."""
    command = ["transfer", case["family"], *case["members"]]
    if not (folder / "checkpoint.pt").exists():
        if folder.exists():
            shutil.rmtree(folder)
        wall = pinn_pac([*command, "--out", str(folder)])
    else:
        wall = None
    records = json.loads((folder / "results.json").read_text())
    return {"command": "pinn-pac " + " ".join(command), "wall_seconds": wall,
            "members": [{"coefficients": r["coefficients"], "rel_l2": r["rel_l2"], "seconds": r["seconds"]}
                        for r in records]}


def answer_all(case: dict, family: Path, grown: Path) -> list[dict]:
    """Each query answered as `predict --tolerance` answers it, in a copy of the family."""
    if grown.exists():
        shutil.rmtree(grown)
    shutil.copytree(family, grown)
    settings = saved_settings(load_runs(grown)[0].metadata)
    answers = []
    for value in queries(case["low"], case["high"]):
        wanted = f"{case['name']}={value:.17g}"
        model = load_model(grown, wanted)
        answer = model.answer
        row = {"coefficient": value, "answer_seconds": answer.seconds, "indicator": answer.indicator,
               "answer_rel_l2": evaluator_for(model.equation, settings)(model.network).rel_l2,
               "calibrated": case["tolerance"] is not None and answer.indicator > case["tolerance"],
               "calibrate_seconds": 0.0}
        if row["calibrated"]:
            started = time.perf_counter()
            add_members(grown, [model.equation.coefficients], Runtime(progress=False))
            row["calibrate_seconds"] = time.perf_counter() - started
            model = load_model(grown, wanted)
        row["rel_l2"] = evaluator_for(model.equation, settings)(model.network).rel_l2
        row["seconds"] = row["answer_seconds"] + row["calibrate_seconds"]
        answers.append(row)
        print(f"{wanted}: indicator {row['indicator']:.1e}, answer {row['answer_rel_l2']:.2e}, "
              f"final {row['rel_l2']:.2e}, {row['seconds']:.2f} s", flush=True)
    return answers


def search_all(case: dict, family: Path) -> list[dict]:
    """`identify --from FAMILY`'s start for data at some queries: the best member and the search."""
    import numpy as np

    rows = []
    for value in queries(case["low"], case["high"])[SEARCHED]:
        truth = create(case["family"], **{case["name"]: value})
        grid = truth.standard_grid()
        reference = truth.reference(grid)
        rng = np.random.default_rng(0)
        index = [rng.integers(0, len(axis), SEARCH_SAMPLES) for axis in grid.values()]
        data = {name: np.asarray(axis)[i] for (name, axis), i in zip(grid.items(), index)}
        data["u"] = reference[tuple(index)]
        guess = create(case["family"])
        observations = read_observations(data, guess)
        member = best_member(family, guess, observations)
        started = time.perf_counter()
        searched = family_start(best_member(family, guess, observations), guess, [case["name"]], observations)
        seconds = time.perf_counter() - started
        row = {"coefficient": value, "member": member.coefficients[case["name"]], "member_misfit": member.misfit,
               "searched": searched.coefficients[case["name"]], "searched_misfit": searched.misfit,
               "seconds": seconds, "how": searched.searched}
        rows.append(row)
        print(f"{case['name']}={value:.6g}: member {row['member']:.6g}, searched {row['searched']:.6g} "
              f"in {seconds:.1f} s", flush=True)
    return rows


def scratch_solves(case: dict, folder: Path) -> list[dict]:
    """One scratch solve at the middle query as a user runs it, and one stopped at the tolerance."""
    value = queries(case["low"], case["high"])[QUERIES // 2]
    solves = []
    stops = [("defaults", [])]
    if case["tolerance"] is not None:
        stops.append(("stopped at the tolerance", ["--target-error", f"{case['tolerance']:g}"]))
    for label, extra in stops:
        command = ["solve", case["family"], f"--{case['name']}", f"{value:.17g}", *extra]
        out = folder / f"scratch-{len(solves)}"
        if out.exists():
            shutil.rmtree(out)
        wall = pinn_pac([*command, "--out", str(out)])
        record = json.loads((out / "results.json").read_text())[0]
        solves.append({"label": label, "command": "pinn-pac " + " ".join(command), "wall_seconds": wall,
                       "seconds": record["seconds"], "rel_l2": record["rel_l2"]})
        shutil.rmtree(out)
    return solves


def render(data: dict, directory: Path) -> None:
    rows = []
    for name, case in data["cases"].items():
        answers = case["answers"]
        total = sum(a["seconds"] for a in answers)
        for solve in case["scratch"]:
            tolerance = "none (no calibration)" if case["tolerance"] is None else f"{case['tolerance']:g}"
            rows.append([name, tolerance, f"{max(a['answer_seconds'] for a in answers):.2f}",
                         sum(a["calibrated"] for a in answers),
                         f"{sorted(a['rel_l2'] for a in answers)[QUERIES // 2]:.2e}",
                         f"{max(a['rel_l2'] for a in answers):.2e}",
                         sum(a["rel_l2"] > (case["tolerance"] or 1e-4) for a in answers), f"{total:.1f}",
                         f"`{solve['command']}`: {solve['seconds']:.1f} s, {solve['rel_l2']:.1e}",
                         f"{total / solve['seconds']:.2f}"])
    columns = ["family", "tolerance", "slowest answer s", "calibrated", "median rel L2", "worst rel L2",
               "above the tolerance (none: above 1e-4)", "all 20 s", "one scratch solve", "all 20 / scratch"]
    lines = [markdown_table(columns, rows), ""]
    for name, case in data["cases"].items():
        members = ", ".join(f"{m['rel_l2']:.1e}" for m in case["family"]["members"])
        wall = f", {case['family']['wall_seconds']:.0f} s" if case["family"]["wall_seconds"] else ""
        lines += [f"## {name}", "", f"Family: `{case['family']['command']}`{wall}; members' rel L2 {members}.", "",
                  markdown_table(["coefficient", "answer s", "indicator", "answer rel L2", "calibrated", "final rel L2",
                                  "s"],
                                 [[f"{a['coefficient']:.6g}", f"{a['answer_seconds']:.2f}", f"{a['indicator']:.1e}",
                                   f"{a['answer_rel_l2']:.2e}", "yes" if a["calibrated"] else "",
                                   f"{a['rel_l2']:.2e}", f"{a['seconds']:.1f}"] for a in case["answers"]]), ""]
    for name, rows in data.get("search", {}).items():
        made = data["search_header"]
        lines += [f"## identify --from the {name} family: where it starts", "",
                  f"Made by `{made['command']}` on {made['date']} ({made['machine']}). {SEARCH_SAMPLES:,} clean samples of the reference at random points of its standard grid (seed 0); "
                  "relative error of the start's coefficient; seconds of the whole start (every member's misfit, "
                  "then the search).", "",
                  markdown_table(["true coefficient", "best member", "its error", "family search", "its error",
                                  "misfit: member, search", "s"],
                                 [[f"{r['coefficient']:.6g}", f"{r['member']:.6g}",
                                   f"{abs(r['member'] / r['coefficient'] - 1):.1e}", f"{r['searched']:.6g}",
                                   f"{abs(r['searched'] / r['coefficient'] - 1):.1e}",
                                   f"{r['member_misfit']:.1e}, {r['searched_misfit']:.1e}", f"{r['seconds']:.1f}"]
                                  for r in rows]), ""]
    intro = ("Seconds: an answer's compute (the reduced basis and its indicator, not loading the run); a "
             "calibration's whole `transfer --from` in this process (training, references, reports). Errors: "
             "relative L2 against the family's reference on its standard grid, float64, seed 0.")
    write_results("family_answer", data, intro + "\n\n" + "\n".join(lines), directory)
    plot(data, directory / "family_answer.png")


def plot(data: dict, path: Path) -> None:
    """Each answer's error and its indicator across the family's range."""
    from matplotlib.figure import Figure

    from pinn_pac.runs.plots import save_figure

    cases = list(data["cases"].items())
    figure = Figure(figsize=(6 * len(cases), 4), layout="constrained")
    for ax, (name, case) in zip(figure.subplots(1, len(cases), squeeze=False)[0], cases):
        answers = case["answers"]
        x = [a["coefficient"] for a in answers]
        ax.loglog(x, [a["answer_rel_l2"] for a in answers], "o", mfc="none", label="reduced basis, rel L2")
        ax.loglog(x, [a["indicator"] for a in answers], "x", label="indicator (no reference)")
        ax.loglog(x, [a["rel_l2"] for a in answers], ".", label="final (calibrated where flagged)")
        members = case["family"]["members"]
        for m in members:
            ax.axvline(next(iter(m["coefficients"].values())), color="gray", lw=0.5)
        if case["tolerance"] is not None:
            ax.axhline(case["tolerance"], color="red", ls=":", label="tolerance")
        ax.set(xlabel=f"{CASES[name]['name']} (gray: trained members)", ylabel="relative L2", title=name)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    save_figure(figure, path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES), help="cases to run (%(default)s)")
    parser.add_argument("--render", action="store_true", help="only rewrite the table and figure from the JSON")
    parser.add_argument("--search", action="store_true",
                        help="only measure identify --from's family search on the committed families")
    args = parser.parse_args(argv)
    path = RESULTS / "family_answer.json"
    if args.render:
        render(json.loads(path.read_text()), RESULTS)
        return
    names = args.cases.split(",")
    unknown = sorted(set(names) - set(CASES))
    if unknown:
        parser.error(f"unknown cases {', '.join(unknown)}; choose from {', '.join(CASES)}")
    data = json.loads(path.read_text()) if path.exists() else {"cases": {}}
    folder = RESULTS / "family_answer"
    if args.search:
        data["search_header"] = run_header()
        data.setdefault("search", {}).update({name: search_all(CASES[name], folder / name) for name in names})
        write_json(path, data)
        render(data, RESULTS)
        return
    data["header"] = run_header()
    for name in names:
        case = CASES[name]
        family = build_family(case, folder / name)
        answers = answer_all(case, folder / name, folder / f"{name}-answered")
        result = {"header": data["header"], "tolerance": case["tolerance"], "family": family, "answers": answers}
        result["scratch"] = scratch_solves(case, folder)
        data["cases"][name] = result
        write_json(path, data)
    render(data, RESULTS)


if __name__ == "__main__":
    main()
