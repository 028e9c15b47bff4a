"""Every transfer method on the same work: families, near and far targets, several seeds.

For each family and seed one source network is trained; every method then moves it to a
near and a far target with the same budget (the same quasi-Newton iterations; step budgets
only, no time caps, so the same command gives the same errors on any load). Burgers also
runs a few-target-points variant (every target trains on 200 points) and a PAC-Net ablation
(prune ratio, lambda, Allocate on or off); every family also runs PAC-Net with the global
prune beside its default scope. Errors are relative L2 against each family's
reference on its standard grid. Jobs (family x seed) run in two
worker processes of one torch thread each, so every timing is a one-core timing.

    python benchmarks/transfer.py                # about an hour on 2 cores
    python benchmarks/transfer.py --methods pac  # re-run one method, keep the others' rows
    python benchmarks/transfer.py --methods pac --no-ablations  # and keep PAC-Net's ablation rows
    python benchmarks/transfer.py --quick        # the harness on tiny budgets (the tests run it)
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import asdict, replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from _common import RESULTS, map_jobs, markdown_table, run_header, seconds_to, write_results
from equations import Equation, create
from pinn_pac.runs.coefficients import parse_assignments
from pinn_pac.runs.plots import save_figure
from equations import coefficient_key
from pinn_pac.runs import Settings, TransferRun, TransferSettings, solve, transfer
from pinn_pac.solver.train import Budget
from pinn_pac.transfer import METHODS, PAC, TransferMethod, make_method

#: family: (source, {pair: target}). Near targets are a small step, far ones a large step.
PAIRS = {
    "burgers": ("nu=0.02/pi", {"near": "nu=0.025/pi", "far": "nu=0.01/pi"}),
    "convection": ("beta=10", {"near": "beta=12", "far": "beta=15"}),
    "reaction": ("rho=5", {"near": "rho=6", "far": "rho=10"}),
    "van-der-pol": ("mu=1", {"near": "mu=1.2", "far": "mu=2"}),
    "diffusion": ("kappa=0.1", {"near": "kappa=0.12", "far": "kappa=0.2"}),
    "allen-cahn": ("d=0.001", {"near": "d=0.0012", "far": "d=0.002"}),
    "helmholtz": ("a2=4", {"near": "a2=4.25", "far": "a2=5"}),
    "oscillator": ("omega=20", {"near": "omega=22", "far": "omega=30"}),
}
THRESHOLDS = (1e-2, 1e-3)
#: PAC-Net's own rows from the run that made the ablation rows, where this run kept those
#: (`--no-ablations`) and PAC-Net has changed since: what the ablations are compared with.
BASELINE = "ablation baseline"
#: The prune scope the scope ablation runs beside PAC-Net's default one.
OTHER_SCOPE = "global"
DEFAULT_PAC = f"default (ratio={PAC.Options().ratio:g}, lambda={PAC.Options().penalty:g}, scope {PAC.Options().scope})"
FEW_POINTS = 200
RATIOS = (0.2, 0.3, 0.5, 0.7, 0.9)
PENALTIES = (1e-6, 1e-4, 1e-2)


def configuration(quick: bool) -> dict:
    if quick:
        return {
            "settings": Settings(width=8, depth=2, n_interior=128, n_condition=32),
            "source": Budget(adam_steps=30, iterations=20),
            "allocate": Budget(adam_steps=0, iterations=5),
            "calibrate": Budget(adam_steps=0, iterations=10),
            "families": {"burgers": (PAIRS["burgers"][0], {"near": PAIRS["burgers"][1]["near"]})},
            "seeds": [0], "few_points": 32, "ratios": (0.3, 0.7), "penalties": (1e-4,),
        }
    source = Budget(adam_steps=1000, iterations=2000, adam_lr=5e-3)
    return {
        "settings": Settings(width=20, depth=4, n_interior=2000, n_condition=128),
        "source": source,
        # One-off preparations (PAC-Net's Allocate, the parametric range training) run as long
        # as the source's quasi-Newton training, as the command line's default does: at 800
        # iterations Allocate cost the sources a factor of 1.4-9 (benchmarks/pac_levers.py).
        "allocate": replace(TransferSettings().allocate, iterations=source.iterations),
        "calibrate": Budget(adam_steps=0, iterations=500),
        "families": PAIRS, "seeds": [0, 1, 2], "few_points": FEW_POINTS,
        "ratios": RATIOS, "penalties": PENALTIES,
    }


def describe(budget: Budget) -> str:
    cap = f", cap {budget.max_seconds:g} s" if budget.max_seconds else ""
    return f"{budget.adam_steps} Adam + {budget.iterations} {budget.optimizer}{cap}"


def rows_of(run: TransferRun, family: str, pair_of: dict[str, str], seed: int, variant: str) -> list[dict]:
    source = run.records[0]
    prepared = run.histories.get(f"{run.method.name} prepare {coefficient_key(run.source)}")
    rows = []
    for record in run.records[1:]:
        key = coefficient_key(create(family, **record.coefficients))
        history = run.histories[f"{run.method.name} {key}"].as_dict()
        rows.append({
            "family": family, "pair": pair_of[key], "target": key, "seed": seed, "variant": variant,
            "method": run.method.name, "options": run.method.options_dict(),
            "rel_l2": record.rel_l2, "start_rel_l2": record.start_rel_l2,
            "source_rel_l2_before": source.rel_l2, "source_rel_l2_after": record.source_rel_l2_after,
            "trainable": record.trainable_params, "stored": record.stored_params,
            "seconds": record.seconds, "prepare_seconds": prepared.seconds[-1] if prepared else 0.0,
            **{f"seconds_to_{t:g}": seconds_to(history, t) for t in THRESHOLDS},
            "history": history,
        })
    return rows


#: Every method moves the source itself to each target (a warm start from the other target,
#: PAC-Net's default in one process, would give the far target a nearer start than methods
#: without one have).
FROM_SOURCE = {"warm_start": "zero"}


def from_source(method: TransferMethod | str) -> TransferMethod:
    """`method` (a name: with its defaults) starting every target from the source."""
    if not isinstance(method, str):
        return method
    takes = {f.name for f in METHODS[method].option_fields()}
    return make_method(method, **{k: v for k, v in FROM_SOURCE.items() if k in takes})


def job_problem(family: str, seed: int, quick: bool) -> tuple[dict, Settings, Equation, list[Equation],
                                                              dict[str, str], TransferSettings]:
    """A job's configuration, settings, source, targets, each target's pair name (by its key)
    and budgets."""
    config = configuration(quick)
    settings = replace(config["settings"], seed=seed)
    source_text, pairs = config["families"][family]
    source = create(family, **parse_assignments(source_text)[0])
    targets = [source.with_coefficients(**parse_assignments(text)[0]) for text in pairs.values()]
    pair_of = {coefficient_key(t): pair for t, pair in zip(targets, pairs)}
    base = TransferSettings(source=config["source"], allocate=config["allocate"], calibrate=config["calibrate"])
    return config, settings, source, targets, pair_of, base


def run_job(job: tuple[str, int, bool, tuple[str, ...], bool]) -> dict:
    """One family and seed: source, the methods, and (Burgers) few points and PAC's ablation."""
    family, seed, quick, methods, with_ablations = job
    torch.set_num_threads(1)
    config, settings, source, targets, pair_of, base = job_problem(family, seed, quick)
    started = time.perf_counter()
    source_run = solve(source, settings, base.source, progress=False)
    rows = []

    def add(variant, transfer_settings, methods, target_points=None):
        for run in transfer(source, targets, settings, transfer_settings, [from_source(m) for m in methods],
                            progress=False, source_run=source_run, target_points=target_points):
            rows.extend(rows_of(run, family, pair_of, seed, variant))

    add("all points", base, methods)
    ablations = "pac" in methods and with_ablations
    if ablations:  # the other prune scope, on every family: the choice of PAC-Net's default
        add(f"ablation scope={OTHER_SCOPE}", base, (PAC(scope=OTHER_SCOPE, **FROM_SOURCE),))
    if family == "burgers":
        add(f"{config['few_points']} target points", base, methods, target_points=config["few_points"])
    if family == "burgers" and ablations:
        for ratio in config["ratios"]:
            add(f"ablation ratio={ratio:g}", base, (PAC(ratio=ratio, **FROM_SOURCE),))
        for penalty in config["penalties"]:
            add(f"ablation lambda={penalty:g}", base, (PAC(penalty=penalty, **FROM_SOURCE),))
        no_allocate = replace(base, allocate=Budget(adam_steps=0, iterations=0))
        add("ablation no allocate", no_allocate, ("pac",))
    print(f"{family} seed {seed}: source rel L2 {source_run.record.rel_l2:.2e}, "
          f"{time.perf_counter() - started:.0f} s", flush=True)
    return {"family": family, "seed": seed, "source_rel_l2": source_run.record.rel_l2,
            "source_seconds": source_run.record.seconds, "rows": rows}


def spread(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2e}"
    return f"{statistics.median(values):.2e} [{min(values):.1e}, {max(values):.1e}]"


def reached(values: list[float | None]) -> str:
    hits = [v for v in values if v is not None]
    if not hits:
        return f"never (0/{len(values)})"
    return f"{statistics.median(hits):.1f} ({len(hits)}/{len(values)})"


def summary(rows: list[dict], variant: str) -> tuple[list[str], list[list]]:
    columns = ["family", "pair", "method", "target rel L2, median [min, max]", "source rel L2 after",
               "trainable", "stored / target", "seconds", "s to 1e-2 (runs)", "s to 1e-3 (runs)"]
    table = []
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        if row["variant"] == variant:
            groups.setdefault((row["family"], row["pair"], row["method"]), []).append(row)
    for (family, pair, method), group in groups.items():
        table.append([
            family, f"{pair} ({group[0]['target']})", method, spread([r["rel_l2"] for r in group]),
            spread([r["source_rel_l2_after"] for r in group]), group[0]["trainable"], group[0]["stored"],
            f"{statistics.median(r['seconds'] for r in group):.1f}",
            reached([r["seconds_to_0.01"] for r in group]), reached([r["seconds_to_0.001"] for r in group]),
        ])
    return columns, table


def ablation_table(rows: list[dict]) -> tuple[list[str], list[list]]:
    columns = ["setting", "pair", "target rel L2, median [min, max]", "source rel L2 (allocated)", "stored / target"]
    default = ablation_default(rows)
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        if row["family"] != "burgers" or row["method"] != "pac":
            continue
        if row["variant"] == default:
            groups.setdefault((DEFAULT_PAC, row["pair"]), []).append(row)
        elif row["variant"].startswith("ablation") and row["variant"] != BASELINE:
            groups.setdefault((row["variant"].removeprefix("ablation "), row["pair"]), []).append(row)
    return columns, [[name, pair, spread([r["rel_l2"] for r in group]),
                      spread([r["source_rel_l2_after"] for r in group]), group[0]["stored"]]
                     for (name, pair), group in groups.items()]


def baseline_note(rows: list[dict]) -> str:
    """What the ablation tables compare with, where the ablations come from an earlier run."""
    if ablation_default(rows) != BASELINE:
        return ""
    return ("These rows, the prune scope's table below, and the default beside them come from the earlier run "
            "that made the ablations (its PAC-Net and budgets, named above), not from this run's PAC-Net.\n\n")


def ablation_default(rows: list[dict]) -> str:
    """The variant of PAC-Net's rows the ablations are compared with: those of the run that
    made them (`BASELINE`) where this file keeps them from another run, else "all points"."""
    return BASELINE if any(r["variant"] == BASELINE for r in rows) else "all points"


def scope_table(rows: list[dict]) -> tuple[list[str], list[list]]:
    """Every family and pair: PAC-Net with its default prune scope beside the other scope."""
    default, other, baseline = PAC.Options().scope, OTHER_SCOPE, ablation_default(rows)
    groups: dict[tuple, dict[str, list[dict]]] = {}
    for row in rows:
        if row["method"] == "pac" and row["variant"] in (baseline, f"ablation scope={other}"):
            scope = default if row["variant"] == baseline else other
            groups.setdefault((row["family"], row["pair"]), {}).setdefault(scope, []).append(row)
    columns = ["family", "pair", *(f"{scope}: {what}" for scope in (default, other)
                                   for what in ("target rel L2", "source rel L2 (allocated)"))]
    table = [[family, pair, *(spread([r[key] for r in by_scope[scope]]) for scope in (default, other)
                              for key in ("rel_l2", "source_rel_l2_after"))]
             for (family, pair), by_scope in groups.items() if len(by_scope) == 2]
    return columns, table


def plot_error_against_time(rows: list[dict], path: Path) -> None:
    """Burgers, first seed: every method's target error against its training seconds."""
    first = min(r["seed"] for r in rows)
    chosen = [r for r in rows if r["family"] == "burgers" and r["seed"] == first and r["variant"] == "all points"]
    pairs = sorted({r["pair"] for r in chosen})
    figure, axes = plt.subplots(1, len(pairs), figsize=(6 * len(pairs), 4), squeeze=False)
    for ax, pair in zip(axes[0], pairs):
        here = [r for r in chosen if r["pair"] == pair]
        for row in here:
            ax.semilogy(row["history"]["seconds"], row["history"]["rel_l2"], label=row["method"],
                        lw=2.5 if row["method"] == "pac" else 1.2)
        ax.set(title=f"burgers, {pair} target ({here[0]['target']}), seed {first}",
               xlabel="seconds of per-target training (one core)", ylabel="relative L2 error")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    save_figure(figure, path)


def plot_source_against_target(rows: list[dict], path: Path) -> None:
    """Median target error against median source error after transfer, per method."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        if row["variant"] == "all points":
            groups.setdefault((row["method"], row["family"], row["pair"]), []).append(row)
    figure, ax = plt.subplots(figsize=(7, 5))
    colors = dict(zip(METHODS, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    markers = dict(zip(sorted({k[1] for k in groups}), "osD^v<>Ph"))
    for (method, family, pair), group in groups.items():
        ax.loglog(statistics.median(r["rel_l2"] for r in group),
                  statistics.median(r["source_rel_l2_after"] for r in group),
                  markers[family], color=colors[method], mfc="none" if pair == "far" else colors[method])
    for method, color in colors.items():
        ax.plot([], [], "s", color=color, label=method)
    for family, marker in markers.items():
        ax.plot([], [], marker, color="gray", label=family)
    ax.set(xlabel="target relative L2 (median over seeds)", ylabel="source relative L2 after transfer",
           title="forgetting against target accuracy (filled: near target, hollow: far)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    save_figure(figure, path)


def plot_ablation(rows: list[dict], path: Path) -> None:
    """PAC-Net on Burgers: each target's error and the allocated source's against the prune ratio."""
    chosen = [r for r in rows if r["family"] == "burgers" and r["variant"].startswith("ablation ratio=")]
    ratios = sorted({float(r["variant"].split("=")[1]) for r in chosen})
    figure, ax = plt.subplots(figsize=(7, 4.5))
    curves = {f"{pair} target": (pair, "rel_l2") for pair in sorted({r["pair"] for r in chosen})}
    curves["source (allocated)"] = (None, "source_rel_l2_after")
    for label, (pair, key) in curves.items():
        groups = [[r[key] for r in chosen if float(r["variant"].split("=")[1]) == ratio
                   and (pair is None or r["pair"] == pair)] for ratio in ratios]
        medians = [statistics.median(g) for g in groups]
        ax.errorbar(ratios, medians, yerr=[[m - min(g) for m, g in zip(medians, groups)],
                                           [max(g) - m for m, g in zip(medians, groups)]],
                    fmt="o-", capsize=3, label=label)
    ax.set_yscale("log")
    ax.set(xlabel="prune ratio (fraction of weights freed)", ylabel="relative L2 (median, min to max)",
           title="PAC-Net ablation on Burgers")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(figure, path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one pair, one seed, tiny budgets")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where to write (%(default)s)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes, one thread each")
    parser.add_argument("--render", action="store_true",
                        help="only rewrite transfer.md and the figures from RESULTS/transfer.json")
    parser.add_argument("--methods", default=",".join(METHODS),
                        help="methods to run, comma-separated (default: all); with a subset the other "
                             "methods' rows are kept from RESULTS/transfer.json and that run is named")
    parser.add_argument("--no-ablations", dest="ablations", action="store_false",
                        help="run no PAC-Net ablation; their rows are kept from RESULTS/transfer.json")
    args = parser.parse_args(argv)
    methods = tuple(args.methods.split(","))
    if unknown := [m for m in methods if m not in METHODS]:
        parser.error(f"unknown method {unknown[0]!r}; use some of {', '.join(METHODS)}")
    earlier = None
    if set(methods) != set(METHODS) or not args.ablations:
        if not (args.results / "transfer.json").exists():
            parser.error(f"--methods {args.methods} or --no-ablations keeps rows of "
                         f"{args.results / 'transfer.json'}, which does not exist")
        earlier = json.loads((args.results / "transfer.json").read_text())
    if args.render:
        render(json.loads((args.results / "transfer.json").read_text()), args.results, rerendered=True)
        return
    config = configuration(args.quick)
    jobs = [(family, seed, args.quick, methods, args.ablations)
            for seed in config["seeds"] for family in config["families"]]
    jobs.sort(key=lambda job: job[0] != "burgers")  # the longest jobs first, so the pool ends together
    started = time.perf_counter()
    results = map_jobs(run_job, jobs, args.workers)
    wall = time.perf_counter() - started
    data = {"header": run_header(), "wall_seconds": wall, "workers": args.workers,
            "settings": asdict(config["settings"]),
            "budgets": {k: asdict(config[k]) for k in ("source", "allocate", "calibrate")},
            "sources": [{k: v for k, v in r.items() if k != "rows"} for r in results],
            "rows": [row for result in results for row in result["rows"]]}
    if earlier:
        data = merged(data, earlier, methods, args.ablations)
    render(data, args.results)
    print(f"done in {wall / 60:.1f} min; wrote {args.results / 'transfer.md'}")


def merged(data: dict, earlier: dict, methods: tuple[str, ...], ablations: bool = True) -> dict:
    """This run's rows with the `earlier` run's rows of what this one did not run: the other
    methods, and PAC-Net's ablations where it ran none.

    Each kept row keeps the run it was made in (`kept`: one entry per earlier run, with its
    header and budgets). Each source is trained again here; whether its error equals the
    earlier run's to the bit says whether the kept rows would come out the same on this
    machine and code.
    """
    before = {(s["family"], s["seed"]): s["source_rel_l2"] for s in earlier["sources"]}
    same = [s["source_rel_l2"] == before.get((s["family"], s["seed"])) for s in data["sources"]]
    run = set(methods)

    def ran(row: dict) -> bool:
        return row["method"] in run and (ablations or not row["variant"].startswith("ablation"))

    kept_rows = [r for r in earlier["rows"] if not ran(r)]
    groups = kept_groups(earlier)
    if not ablations and "pac" in run and not any(r["variant"] == BASELINE for r in kept_rows):
        kept_rows += [{**r, "variant": BASELINE} for r in earlier["rows"]
                      if r["method"] == "pac" and r["variant"] == "all points"]
        next(g for g in groups if "pac" in g["made"])["made"].add(BASELINE)
    for group in groups:
        group["rows"] = sorted({label for r in kept_rows if (label := row_label(r)) in group["made"]})
    this = {"sources_reproduced": sum(same), "sources": len(same), "against": earlier["header"]["date"]}
    return {**data, "rows": data["rows"] + kept_rows,
            "kept": [{k: v for k, v in g.items() if k != "made"} for g in groups if g["rows"]],
            "reproduced": this}


def row_label(row: dict) -> str:
    """What a kept row is named by in the notes: its method, or its ablation."""
    return row["variant"] if row["variant"].startswith("ablation") else row["method"]


def recorded_kept(data: dict) -> list[dict]:
    """The runs a results file keeps rows of, as recorded: a list, or one dict in files made
    before kept rows named their runs."""
    kept = data.get("kept", [])
    return [kept] if isinstance(kept, dict) else kept


def kept_labels(group: dict) -> list[str]:
    """The row labels a recorded kept run made (older files name its methods only)."""
    return group.get("rows", group.get("methods", []))


def kept_groups(earlier: dict) -> list[dict]:
    """The runs the `earlier` results' rows were made in, each with the row labels it made
    ("made"): the earlier run itself, and the runs it kept rows of (an older file keeps one)."""
    older = recorded_kept(earlier)
    made_before = {label for group in older for label in kept_labels(group)}
    own = {row_label(r) for r in earlier["rows"]} - made_before
    groups = [{"header": earlier["header"], "wall_seconds": earlier["wall_seconds"],
               "budgets": earlier["budgets"], "made": own}]
    for group in older:
        groups.append({"header": group["header"], "wall_seconds": group["wall_seconds"],
                       "budgets": group.get("budgets"), "made": set(kept_labels(group))})  # None: not recorded
    return groups


def render(data: dict, directory: Path, rerendered: bool = False) -> None:
    """transfer.md and the figures from the measurements in `data` (as saved in transfer.json)."""
    rows, settings, budgets = data["rows"], data["settings"], {k: Budget(**v) for k, v in data["budgets"].items()}
    seeds = sorted({row["seed"] for row in rows})
    few = next(v for v in {row["variant"] for row in rows} if v.endswith("target points"))
    sections = [
        f"Relative L2 against each family's reference on its standard grid; median over seeds {seeds} "
        f"with [min, max]. Network {settings['depth']}x{settings['width']} tanh (depth x width), "
        f"{settings['dtype']}, {settings['n_interior']} interior points, "
        f"{settings.get('conditions', 'soft')} conditions where the family declares an exact form, "
        f"RAD every {settings.get('rad_every', 0)} iterations (0: fixed points). Budgets: source "
        f"{describe(budgets['source'])}; preparation (pac Allocate, parametric range training) "
        f"{describe(budgets['allocate'])}; every method per target {describe(budgets['calibrate'])}. "
        "'seconds' and 's to 1e-2' count the per-target training only; every job ran in its own "
        f"process on one torch thread, {data.get('workers', 2)} at a time. Whole run: {data['wall_seconds'] / 60:.1f} min."
        + (" Tables and figures re-rendered from transfer.json by `python benchmarks/transfer.py --render`."
           if rerendered else ""),
        *kept_notes(data),
        "## Best method per pair (lowest median target error)\n\n" + markdown_table(*ranking(rows)),
        "## All points\n\n" + markdown_table(*summary(rows, "all points")),
        f"## Few target points ({few.split()[0]} interior points per target, Burgers)\n\n"
        + markdown_table(*summary(rows, few)),
        "## PAC-Net ablation (Burgers)\n\n" + baseline_note(rows) + markdown_table(*ablation_table(rows)),
        "## PAC-Net's prune scope (median over seeds [min, max])\n\n" + markdown_table(*scope_table(rows)),
        "Sources: " + ", ".join(f"{r['family']} seed {r['seed']} {r['source_rel_l2']:.2e} "
                                f"({r['source_seconds']:.0f} s)" for r in data["sources"]),
    ]
    write_results("transfer", data, "\n\n".join(sections), directory)
    plot_error_against_time(rows, directory / "transfer_error_vs_time.png")
    plot_source_against_target(rows, directory / "transfer_source_vs_target.png")
    plot_ablation(rows, directory / "transfer_ablation.png")


def kept_notes(data: dict) -> list[str]:
    """One paragraph per earlier run whose rows this file keeps: which rows, the run, its
    budgets where they differ from this run's, and how many sources this run reproduced."""
    kept = recorded_kept(data)
    if not kept:
        return []
    notes = []
    for group in kept:
        header, budgets = group["header"], group.get("budgets") or {}
        differ = [f"{phase} {describe(Budget(**budget))}" for phase, budget in budgets.items()
                  if Budget(**budget) != Budget(**data["budgets"][phase])]
        labels = kept_labels(group)
        notes.append(f"Rows of {', '.join(labels)} are kept from an earlier run, `{header['command']}` on "
                     f"{header['date']} ({header['machine']}; whole run {group['wall_seconds'] / 60:.1f} min)"
                     + (f", whose budgets differed: {'; '.join(differ)}" if differ else "")
                     + (f"; PAC-Net's there ({BASELINE}) as that run's code made it, not as this run's"
                        if BASELINE in labels else "") + ".")
    reproduced = data.get("reproduced", kept[0])
    notes.append(f"This run trained every source again and {reproduced['sources_reproduced']} of "
                 f"{reproduced['sources']} source errors equal those of the run it kept rows from to the bit"
                 + ("." if reproduced["sources_reproduced"] == reproduced["sources"] else
                    ": the other sources differ (another machine or code), so places against the kept rows "
                    "compare methods on different sources of the same budgets and are indicative.")
                 + " Compare seconds across runs as ratios of their machines.")
    return ["\n\n".join(notes)]


def ranking(rows: list[dict]) -> tuple[list[str], list[list]]:
    """Per variant, family and pair: the best method by median target error, and PAC-Net's place."""
    groups: dict[tuple, dict[str, list[float]]] = {}
    for row in rows:
        if not row["variant"].startswith("ablation"):
            key = (row["variant"], row["family"], row["pair"])
            groups.setdefault(key, {}).setdefault(row["method"], []).append(row["rel_l2"])
    table = []
    for (variant, family, pair), methods in groups.items():
        medians = sorted((statistics.median(errors), name) for name, errors in methods.items())
        place = [name for _, name in medians].index("pac") + 1
        keeping = next((e, n) for e, n in medians if METHODS[n].keeps_source)
        table.append([variant, family, pair, f"{medians[0][1]} {medians[0][0]:.2e}",
                      f"{keeping[1]} {keeping[0]:.2e}", f"{dict((n, e) for e, n in medians)['pac']:.2e}",
                      f"{place} of {len(medians)}"])
    return ["points", "family", "pair", "best", "best that keeps the source exactly", "pac", "pac's place"], table


if __name__ == "__main__":
    main()
