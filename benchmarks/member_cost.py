"""What a new family member costs: `transfer --from` a trained source against solving each
member from scratch, as a user runs both.

For each case (a family and its levers) a source is trained once with the calibration levers
of issue 22 (each target starts from the nearest member calibrated before it, nearest first,
trains on fewer RAD-placed points and stops at a loss level, a rule that needs no reference,
or at an error against the reference), with one first target. A copy of that run then gets
the new members with `pinn-pac transfer --from RUN --targets ...`. Beside it:

* one scratch solve, `pinn-pac solve` at one member stopped at a stated error (Burgers: the
  transfer's median error; diffusion: 1e-4), the cost a member by transfer is measured against;
* the naive loop: `pinn-pac solve` of every new member, stopped at the transfer's median error.

Wall seconds are whole commands; training seconds are the records' (the first target of a
`--from` run pays the one-off compile of the calibration path). One process at a time.

    python benchmarks/member_cost.py                   # about 2 hours on 2 cores
    python benchmarks/member_cost.py --cases diffusion-error-stop   # one case
    python benchmarks/member_cost.py --cases diffusion-2000 --no-naive   # one case, no naive loop
    python benchmarks/member_cost.py --render          # table and figure from results/member_cost.json
    python benchmarks/member_cost.py --quick --results DIR   # the harness on tiny budgets (the tests run it)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
from pathlib import Path

from _common import RESULTS, ROOT, markdown_table, pinn_pac, run_header, write_results  # first: see _common

from pinn_pac.runs.checkpoint import write_json

#: PAC-Net as these cases were measured: 800 Allocate iterations, no lm steps of its own, and
#: the calibration budget for every target (the defaults until the long Allocate, the lm
#: finish and member steps became them).
PAC_BEFORE = ["--allocate-iterations", "800", "--lm-finish", "0", "--member-steps", "0"]
#: The prune these cases were measured with (the default until PAC-Net's became "output").
MEASURED_WITH = ["--scope", "global", *PAC_BEFORE]


def levers(target_points: int, stop: str, value: str, method: list[str] = MEASURED_WITH,
           warm_start: str | None = "nearest") -> list[str]:
    """A case's calibration levers: `method`'s flags, the warm start (None: the method's
    default), `target_points` RAD-placed points and a stop (`loss`: a loss level; `error`: the
    error against the reference) at `value`."""
    start = ["--warm-start", warm_start] if warm_start else []
    return [*method, *start, "--target-points", str(target_points), f"--calibrate-target-{stop}", value]


CASES = {
    "burgers": {
        "source": "nu=0.01/pi", "first": "nu=0.02/pi", "targets": "nu=0.012/pi..0.03/pi:4",
        "levers": levers(4000, "loss", "5e-7"),
        "scratch_at": {"nu": "0.02/pi"}, "scratch_error": "median",
    },
    "diffusion": {
        "source": "kappa=0.1", "first": "kappa=0.12", "targets": "kappa=0.05..0.2:16:log",
        "levers": levers(1000, "loss", "1e-6"),
        "scratch_at": {"kappa": "0.1"}, "scratch_error": 1e-4,
    },
}
#: The same diffusion family with twice the target points.
CASES["diffusion-2000"] = {**CASES["diffusion"], "family": "diffusion", "levers": levers(2000, "loss", "1e-6")}
#: Burgers on 2,000 points, each member stopped at 1e-4 against the reference.
CASES["burgers-error-stop"] = {**CASES["burgers"], "family": "burgers", "levers": levers(2000, "error", "1e-4")}
#: 1000 points, each member stopped at the error the scratch solve stops at (1e-4, against
#: the family's reference: the same rule on both sides) in place of a loss level.
CASES["diffusion-error-stop"] = {**CASES["diffusion"], "family": "diffusion", "levers": levers(1000, "error", "1e-4")}
#: The Burgers case with PAC-Net's default prune (the output scope, 30% freed), with half the
#: weights freed, and with every weight fine-tuned, from the source or from the nearest member:
#: is the freed set the cost?
CASES["burgers-output"] = {**CASES["burgers"], "family": "burgers", "levers": levers(4000, "loss", "5e-7", PAC_BEFORE)}
CASES["burgers-ratio-0.5"] = {**CASES["burgers"], "family": "burgers",
                              "levers": levers(4000, "loss", "5e-7", ["--ratio", "0.5", *PAC_BEFORE])}
CASES["burgers-finetune"] = {**CASES["burgers"], "family": "burgers",
                             "levers": levers(4000, "loss", "5e-7", ["--method", "finetune"], warm_start=None)}
CASES["burgers-finetune-nearest"] = {**CASES["burgers"], "family": "burgers",
                                     "levers": levers(4000, "loss", "5e-7", ["--method", "finetune"])}
#: Fine-tuning by continuation: each member starts on the secant through its two nearest
#: members, with the quasi-Newton matrix the nearest member's training ended with.
CASES["burgers-finetune-continuation"] = {
    **CASES["burgers"], "family": "burgers",
    "levers": levers(4000, "loss", "5e-7", ["--method", "finetune"], warm_start="continuation")}
#: The same on all 8,000 points and down to a loss of 1e-7: a lower error E, where a scratch
#: solve to E costs more. Is a member cheaper relative to it there?
CASES["burgers-finetune-continuation-8000"] = {
    **CASES["burgers"], "family": "burgers",
    "levers": levers(8000, "loss", "1e-7", ["--method", "finetune"], warm_start="continuation")}
#: PAC-Net as it comes (its default prune, every point, each target from the source), each target
#: calibrated by 120 Levenberg-Marquardt steps in place of SSBroyden's 2,500 iterations
#: (benchmarks/pac_gauss_newton.py).
CASES["burgers-lm"] = {**CASES["burgers"], "family": "burgers",
                       "levers": ["--calibrate-optimizer", "lm", "--calibrate-iterations", "120", "--warm-start", "zero",
                                  *PAC_BEFORE]}
#: The error-stop cases (nearest start, fewer points, each member stopped at 1e-4 against the
#: reference, the scratch solve's rule) calibrated by up to 120 lm steps (lm records, and so
#: checks, every 25 steps).
LM = ["--calibrate-optimizer", "lm", "--calibrate-iterations", "120"]
CASES["diffusion-error-stop-lm"] = {**CASES["diffusion-error-stop"], "levers": [*levers(1000, "error", "1e-4"), *LM]}
CASES["burgers-error-stop-lm"] = {**CASES["burgers-error-stop"], "levers": [*levers(2000, "error", "1e-4"), *LM]}
#: PAC-Net's default prune, each target from the nearest member on 4,000 RAD-placed points and
#: calibrated by a fixed 80 (or 120) lm steps: no stop at all, so no reference and no loss level.
NEAREST_LM = ["--warm-start", "nearest", "--target-points", "4000", "--calibrate-optimizer", "lm", *PAC_BEFORE]
CASES["burgers-nearest-lm"] = {**CASES["burgers"], "family": "burgers",
                               "levers": [*NEAREST_LM, "--calibrate-iterations", "80"]}
CASES["burgers-nearest-lm-120"] = {**CASES["burgers"], "family": "burgers",
                                   "levers": [*NEAREST_LM, "--calibrate-iterations", "120"]}
#: PAC-Net at every default, no lever set: a member as `transfer --from` makes it out of the
#: box (the first line of issue 38 as written): each target from its nearest member, by
#: `--member-steps` lm steps where that member lies within the family's reach.
CASES["burgers-defaults"] = {**CASES["burgers"], "family": "burgers", "levers": []}
CASES["diffusion-defaults"] = {**CASES["diffusion"], "family": "diffusion", "levers": [], "scratch_error": "median"}


def family_of(name: str) -> str:
    return CASES[name].get("family", name)


#: --quick: the harness on tiny networks, points and budgets, three members a family.
QUICK_TARGETS = {"burgers": "nu=0.012/pi..0.03/pi:3", "diffusion": "kappa=0.05..0.2:3:log"}

QUICK_NETWORK = ["--width", "8", "--depth", "2", "--points", "200", "--condition-points", "32", "--rad-every", "20",
                 "--rad-candidates", "1000", "--derivatives", "autograd"]
QUICK_TRANSFER = [*QUICK_NETWORK, "--source-adam", "20", "--source-iterations", "30", "--allocate-iterations", "10",
                  "--calibrate-iterations", "20", "--target-points", "100"]
QUICK_SOLVE = [*QUICK_NETWORK, "--adam", "20", "--iterations", "30"]


def records(run_dir: Path) -> list[dict]:
    return json.loads((run_dir / "results.json").read_text())


def solve_member(family: str, coefficients: dict, error: float, out: Path, options: list[str]) -> dict:
    """`pinn-pac solve` of one member from scratch, stopped at `error`: its command and cost."""
    flags = [part for name, value in coefficients.items() for part in (f"--{name}", str(value))]
    command = ["solve", family, *flags, "--target-error", f"{error:.3g}", *options]
    wall = pinn_pac([*command, "--out", str(out)])
    record = records(out)[0]
    return {"command": "pinn-pac " + " ".join(command), "wall_seconds": wall, "coefficients": record["coefficients"],
            "seconds": record["seconds"], "rel_l2": record["rel_l2"], "stopped_because": record["stopped_because"]}


def measure_case(name: str, folder: Path, naive: bool, quick: bool, save) -> dict:
    case, family = CASES[name], family_of(name)
    if folder.exists():
        shutil.rmtree(folder)
    base, grown = folder / "source", folder / "from"
    source_command = ["transfer", family, "--source", case["source"], "--targets", case["first"], *case["levers"],
                      *(QUICK_TRANSFER if quick else [])]
    solve_options = QUICK_SOLVE if quick else []
    result = {"source_command": "pinn-pac " + " ".join(source_command),
              "source_wall_seconds": pinn_pac([*source_command, "--out", str(base)])}
    shutil.copytree(base, grown)
    command = ["transfer", "--from", os.path.relpath(grown, ROOT), "--targets",
               QUICK_TARGETS[family] if quick else case["targets"]]
    wall = pinn_pac(command)
    known = len(records(base))
    result["transfer"] = {"command": "pinn-pac " + " ".join(command), "wall_seconds": wall,
                          "members": records(grown)[known:]}
    median = statistics.median(r["rel_l2"] for r in result["transfer"]["members"])
    save(result)
    error = median if case["scratch_error"] == "median" else case["scratch_error"]
    result["scratch"] = solve_member(family, case["scratch_at"], error, folder / "scratch", solve_options)
    save(result)
    if naive:
        result["naive"] = []
        for k, member in enumerate(result["transfer"]["members"]):
            result["naive"].append(solve_member(family, member["coefficients"], median, folder / f"naive{k}",
                                                solve_options))
            save(result)
    return result


def render(data: dict, directory: Path) -> None:
    rows = []
    for name, case in data["cases"].items():
        transfer, scratch = case.get("transfer"), case.get("scratch")
        if transfer is None or scratch is None:
            continue
        ways = [("transfer --from", f"`{transfer['command']}`", transfer["wall_seconds"], transfer["members"]),
                ("one scratch solve", f"`{scratch['command']}`", scratch["wall_seconds"], [scratch])]
        if case.get("naive"):
            ways.append(("naive loop", f"`pinn-pac solve {family_of(name)} ... --target-error E`, each member",
                         sum(n["wall_seconds"] for n in case["naive"]), case["naive"]))
        for way, command, wall, members in ways:
            errors, seconds = [m["rel_l2"] for m in members], sum(m["seconds"] for m in members)
            rows.append([name, way, command, len(members), f"{wall:.0f}", f"{seconds:.1f}",
                         f"{seconds / len(members):.1f}", f"{statistics.median(errors):.2e}", f"{max(errors):.2e}",
                         sum(e > 1e-4 for e in errors), f"{seconds / len(members) / scratch['seconds']:.2f}",
                         f"{seconds / scratch['seconds']:.2f}"])
    made = "; ".join(f"{name}: `{case['header']['command']}` on {case['header']['date']}"
                     for name, case in data["cases"].items())
    notes = (f"Made case by case: {made}. Each source once (not counted below): " + "; ".join(
        f"`{case['source_command']}`, {case['source_wall_seconds']:.0f} s" for case in data["cases"].values())
        + ". Training s: the records' seconds (a `--from` run's first target includes the one-off compile of "
        "the calibration path); the ratios: training seconds per member, and of all members together, against "
        "the one scratch solve's. E is the transfer's median error.")
    columns = ["case", "way", "command", "members", "wall s", "training s, all", "training s per member",
               "median rel L2", "worst rel L2", "members above 1e-4", "ratio per member to one scratch solve",
               "ratio of all to one scratch solve"]
    write_results("member_cost", data, notes + "\n\n" + markdown_table(columns, rows), directory)
    plot(data, directory / "member_cost.png")


def plot(data: dict, path: Path) -> None:
    """Each member's error against the cumulative training seconds, by transfer and by the naive loop."""
    from matplotlib.figure import Figure

    from pinn_pac.runs.plots import save_figure

    cases = [(name, case) for name, case in data["cases"].items() if "transfer" in case and "scratch" in case]
    columns = min(len(cases), 4)
    rows = -(-len(cases) // columns)
    figure = Figure(figsize=(6 * columns, 4 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax in axes[len(cases):]:
        ax.set_visible(False)
    for ax, (name, case) in zip(axes, cases):
        for way, members, style in (("transfer --from", case["transfer"]["members"], "o"),
                                    ("naive loop", case.get("naive", []), "s")):
            if members:
                cumulative = [sum(m["seconds"] for m in members[: k + 1]) for k in range(len(members))]
                ax.loglog(cumulative, [m["rel_l2"] for m in members], style, mfc="none", label=way)
        ax.axvline(case["scratch"]["seconds"], color="gray", ls=":", label="one scratch solve")
        ax.axhline(1e-4, color="gray", ls="-", lw=0.5)
        ax.set(xlabel="cumulative training seconds (each member's error where it finished)",
               ylabel="member relative L2", title=name)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    save_figure(figure, path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES), help="cases to run (%(default)s)")
    parser.add_argument("--no-naive", dest="naive", action="store_false", help="skip the naive loop")
    parser.add_argument("--quick", action="store_true", help="the harness on tiny budgets, 3 members a family")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where to write (%(default)s)")
    parser.add_argument("--render", action="store_true", help="only rewrite the table and figure from the JSON")
    args = parser.parse_args(argv)
    path = args.results / "member_cost.json"
    if args.render:
        render(json.loads(path.read_text()), args.results)
        return
    names = args.cases.split(",")
    unknown = sorted(set(names) - set(CASES))
    if unknown:
        parser.error(f"unknown cases {', '.join(unknown)}; choose from {', '.join(CASES)}")
    # Cases not run now keep their earlier results; each case carries its own machine header.
    data = json.loads(path.read_text()) if path.exists() else {"cases": {}}
    data["header"] = run_header()
    for name in names:
        def save(result, name=name):  # the measurements so far, kept as they come
            data["cases"][name] = {"header": data["header"], **result}
            write_json(path, data)
        measure_case(name, args.results / "member_cost" / name, args.naive, args.quick, save)
        render(data, args.results)


if __name__ == "__main__":
    main()
