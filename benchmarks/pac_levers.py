"""PAC-Net's levers against LoRA on the transfer benchmark's pairs (issue 38, item 2).

Each family and seed trains one source exactly as `transfer.py` does (same settings, budgets,
pairs); then LoRA and PAC-Net with each lever on its own move it to the near and far targets:
freed weights chosen by sensitivity (|w| over the rms of the targets' loss gradients), whole
neurons freed, each target's own biases, Allocate given the source's full quasi-Newton budget,
the levers together, calibration by lm (Levenberg-Marquardt) in place of SSBroyden, and lm
steps that finish SSBroyden's calibration. Relative L2 against each family's reference on its standard grid.

    python benchmarks/pac_levers.py              # 8 families x 1 seed, every variant (over an hour on 2 cores)
    python benchmarks/pac_levers.py --seeds 0,1,2
    python benchmarks/pac_levers.py --quick      # the harness on tiny budgets
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import asdict, replace
from typing import NamedTuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from _common import RESULTS, map_jobs, markdown_table, run_header, write_results
from pinn_pac.runs import TransferSettings, solve, transfer
from pinn_pac.runs.plots import save_figure
from pinn_pac.solver.train import Budget
from pinn_pac.transfer import PAC
from transfer import configuration, job_problem, rows_of

#: Calibration by lm (Levenberg-Marquardt on the freed weights): steps in place of the
#: benchmark's quasi-Newton iterations (an lm step costs about 4 SSBroyden iterations), and the
#: count the ODEs' targets need (their loss stands for ~100 steps before it drops).
LM_STEPS, LONG_LM_STEPS = 120, 400
#: lm steps that finish a calibration (`--calibrate-finish`) where a variant asks for them.
FINISH_STEPS = 60
#: The Allocate every lever was first measured against (the command line's default before the
#: long Allocate became it), and the options of that PAC-Net: no lm steps of its own, every
#: target from the source (the transfer benchmark's work).
SHORT_ALLOCATE = Budget(adam_steps=0, iterations=800)
BASE_OPTIONS = {"lm_finish": 0, "warm_start": "zero"}


class Variant(NamedTuple):
    """A PAC-Net variant (`options` None: LoRA): its method options, whether Allocate gets the
    source's quasi-Newton budget, how many lm steps calibrate each target in place of the
    quasi-Newton iterations (0: none), and how many lm steps go on from where its quasi-Newton
    iterations end (0: none)."""

    options: dict | None
    long_allocate: bool = False
    lm_steps: int = 0
    finish_steps: int = 0

    @property
    def pac_options(self) -> dict | None:
        """PAC-Net's options as this variant runs it (None: LoRA), from `BASE_OPTIONS`."""
        return None if self.options is None else {**BASE_OPTIONS, **self.options}


VARIANTS = {
    "lora": Variant(None),
    "pac": Variant({}),
    "pac sensitivity": Variant({"free_by": "sensitivity"}),
    "pac neurons": Variant({"scope": "neurons"}),
    "pac own biases": Variant({"own_biases": True}),
    "pac long allocate": Variant({}, long_allocate=True),
    "pac sensitivity + own biases + long allocate": Variant({"free_by": "sensitivity", "own_biases": True},
                                                            long_allocate=True),
    "pac lm": Variant({}, lm_steps=LM_STEPS),
    "pac long allocate lm": Variant({}, long_allocate=True, lm_steps=LM_STEPS),
    "pac + lm finish": Variant({}, finish_steps=FINISH_STEPS),
    "pac long allocate + lm finish": Variant({}, long_allocate=True, finish_steps=FINISH_STEPS),
    "pac lm 400": Variant({}, lm_steps=LONG_LM_STEPS),
    "pac long allocate lm 400": Variant({}, long_allocate=True, lm_steps=LONG_LM_STEPS),
    "pac long allocate + lm finish 400": Variant({}, long_allocate=True, finish_steps=LONG_LM_STEPS),
}


def variant_budgets(variant: Variant, base: TransferSettings, source_iterations: int,
                    short_allocate: Budget = SHORT_ALLOCATE) -> TransferSettings:
    """The transfer budgets a variant runs: the benchmark's, with its Allocate (`short_allocate`,
    or the source's iterations where long) and calibration."""
    iterations = source_iterations if variant.long_allocate else short_allocate.iterations
    base = replace(base, allocate=replace(short_allocate, iterations=iterations))
    if variant.lm_steps:
        base = replace(base, calibrate=Budget(adam_steps=0, iterations=variant.lm_steps, optimizer="lm"))
    if variant.finish_steps:
        base = replace(base, calibrate=replace(base.calibrate, finish=variant.finish_steps))
    return base


def short_allocate(quick: bool, base: TransferSettings) -> Budget:
    """The Allocate of the variants that are not "long": the quick harness's own, else `SHORT_ALLOCATE`."""
    return base.allocate if quick else SHORT_ALLOCATE


def run_job(job: tuple[str, int, bool, tuple[str, ...]]) -> dict:
    """One family and seed: its source, then each variant on the near and far targets."""
    family, seed, quick, variants = job
    torch.set_num_threads(1)
    config, settings, source, targets, pair_of, base = job_problem(family, seed, quick)
    source_run = solve(source, settings, base.source, progress=False)
    rows = []
    for label in variants:
        variant = VARIANTS[label]
        method = "lora" if variant.options is None else PAC(**variant.pac_options)
        budgets = variant_budgets(variant, base, config["source"].iterations, short_allocate(quick, base))
        for run in transfer(source, targets, settings, budgets, (method,),
                            progress=False, source_run=source_run):
            for row in rows_of(run, family, pair_of, seed, label):
                history = row.pop("history")
                if variant.finish_steps:  # the error where the quasi-Newton iterations ended
                    row["calibrated_rel_l2"] = history["rel_l2"][history["step"].index(budgets.calibrate.iterations)]
                rows.append({**row, "source_rel_l2_trained": source_run.record.rel_l2})
    print(f"{family} seed {seed} done", flush=True)
    return {"family": family, "seed": seed, "source_rel_l2": source_run.record.rel_l2, "rows": rows}


def medians(rows: list[dict]) -> dict[tuple[str, str], dict[str, tuple[float, float, int]]]:
    """Per pair and variant: its median target error, LoRA's median on the same seeds, the seeds."""
    errors: dict[tuple, dict[str, dict[int, float]]] = {}
    for row in rows:
        errors.setdefault((row["family"], row["pair"]), {}).setdefault(row["variant"], {})[row["seed"]] = row["rel_l2"]
    result = {}
    for pair, by_variant in errors.items():
        lora = by_variant["lora"]
        result[pair] = {label: (statistics.median(seeds.values()), statistics.median(lora[s] for s in seeds), len(seeds))
                        for label, seeds in by_variant.items()}
    return result


def lever_table(rows: list[dict]) -> tuple[list[str], list[list]]:
    """Per pair: each variant's median target error (over its seeds) and whether it is below
    LoRA's on the same seeds (*); the best PAC-Net variant run on every seed, against LoRA."""
    labels = [label for label in VARIANTS if any(r["variant"] == label for r in rows)]
    table = []
    for (family, pair), by_variant in medians(rows).items():
        most = max(n for _, _, n in by_variant.values())
        full = [label for label in by_variant if label != "lora" and by_variant[label][2] == most]
        best = min(full, key=lambda label: by_variant[label][0])
        cells = [f"{by_variant[label][0]:.2e}" + ("*" if by_variant[label][0] < by_variant[label][1] else "")
                 for label in labels]
        table.append([family, pair, *cells, best if by_variant[best][0] < by_variant["lora"][0] else "lora"])
    return ["family", "pair", *labels, "best that keeps the source (variants on every seed)"], table


def wins(rows: list[dict]) -> dict[str, str]:
    """Per PAC-Net variant: on how many pairs its median error is below LoRA's on the same seeds."""
    by_pair = medians(rows)
    counts = {}
    for label in VARIANTS:
        if label == "lora" or not any(r["variant"] == label for r in rows):
            continue
        won = sum(m[label][0] < m[label][1] for m in by_pair.values())
        seeds = sorted({r["seed"] for r in rows if r["variant"] == label})
        counts[label] = f"{won} (seeds {', '.join(map(str, seeds))})"
    return counts


def source_table(rows: list[dict]) -> tuple[list[str], list[list]]:
    """The allocated source's error per variant (median over families' ratios to the trained source)."""
    table = []
    for label in VARIANTS:
        ratios = [r["source_rel_l2_after"] / r["source_rel_l2_trained"] for r in rows
                  if r["variant"] == label and r["pair"] == "near"]
        if not ratios:
            continue
        seconds = [r["seconds"] for r in rows if r["variant"] == label]
        prepare = [r["prepare_seconds"] for r in rows if r["variant"] == label and r["pair"] == "near"]
        first = next(r for r in rows if r["variant"] == label)
        table.append([label, f"{statistics.median(ratios):.2f} [{min(ratios):.2f}, {max(ratios):.2f}]",
                      f"{first['trainable']} ({first['family']})", f"{statistics.median(prepare):.1f}",
                      f"{statistics.median(seconds):.1f}"])
    return ["variant", "source error after / trained (median [min, max])", "trainable per target",
            "prepare s (median)", "s per target (median)"], table


def plot(rows: list[dict], path) -> None:
    """Each variant's median target error over LoRA's, per pair (below 1: PAC-Net wins)."""
    by_pair = medians(rows)
    pairs = sorted(by_pair)
    labels = [label for label in VARIANTS if label != "lora" and any(r["variant"] == label for r in rows)]
    figure, axis = plt.subplots(figsize=(10, 4.5))
    for k, label in enumerate(labels):
        ratios = [by_pair[pair][label][0] / by_pair[pair][label][1] for pair in pairs]
        seeds = by_pair[pairs[0]][label][2]
        axis.scatter([i + (k - len(labels) / 2) * 0.1 for i in range(len(pairs))], ratios, s=18,
                     label=f"{label} ({seeds} seed{'s' if seeds > 1 else ''})")
    axis.axhline(1.0, color="black", linewidth=0.8)
    axis.set_yscale("log")
    axis.set_xticks(range(len(pairs)), [f"{f} {p}" for f, p in pairs], fontsize=7, rotation=40, ha="right")
    axis.set_ylabel("target rel L2 / LoRA's (median over seeds)")
    axis.legend(fontsize=7)
    save_figure(figure, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0", help="comma-separated seeds (%(default)s)")
    parser.add_argument("--quick", action="store_true", help="one pair, tiny budgets; prints, writes nothing")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help="variants to run (default: all); rows of other variants and seeds are kept from "
                             "results/pac_levers.json")
    parser.add_argument("--render", action="store_true", help="only rewrite the table and figure from the JSON")
    args = parser.parse_args()
    if args.render:
        print(render(json.loads((RESULTS / "pac_levers.json").read_text())))
        return
    config = configuration(args.quick)
    seeds = [int(s) for s in args.seeds.split(",")]
    variants = tuple(args.variants.split(","))
    if unknown := sorted(set(variants) - set(VARIANTS)):
        parser.error(f"unknown variants {unknown}; choose from {', '.join(VARIANTS)}")
    jobs = [(family, seed, args.quick, variants) for seed in seeds for family in config["families"]]
    started = time.perf_counter()
    results = map_jobs(run_job, jobs, args.workers)
    wall = time.perf_counter() - started
    rows = [row for result in results for row in result["rows"]]
    runs = [{"header": run_header(), "wall_seconds": wall, "seeds": seeds, "variants": list(variants),
             "sources": [{k: v for k, v in r.items() if k != "rows"} for r in results]}]
    path = RESULTS / "pac_levers.json"
    if path.exists() and not args.quick:  # keep the rows this run did not make
        earlier = json.loads(path.read_text())
        rows += [r for r in earlier["rows"] if (r["variant"], r["seed"]) not in
                 {(v, seed) for v in variants for seed in seeds}]
        runs = earlier["runs"] + runs
    recorded = TransferSettings(allocate=config["allocate"], calibrate=config["calibrate"])
    data = {"header": runs[-1]["header"], "runs": runs, "settings": asdict(config["settings"]),
            "budgets": {k: asdict(config[k]) for k in ("source", "allocate", "calibrate")},
            "variants": {label: {"options": variant.pac_options,
                                 **{phase: asdict(getattr(budgets, phase)) for phase in ("allocate", "calibrate")}}
                         for label, variant in VARIANTS.items()
                         for budgets in [variant_budgets(variant, recorded, config["source"].iterations,
                                                         short_allocate(args.quick, recorded))]},
            "rows": rows, "wins_over_lora": wins(rows)}
    text = render(data, write=not args.quick)
    print(text)


def render(data: dict, write: bool = True) -> str:
    """pac_levers.md's text (written, with the JSON and the figure, where `write`)."""
    rows, budgets = data["rows"], data["budgets"]
    won = "; ".join(f"{label} {count}" for label, count in wins(rows).items())
    made = "; ".join(f"`{r['header']['command']}` on {r['header']['date']} ({r['header']['machine']}), "
                     f"{r['wall_seconds'] / 60:.1f} min" for r in data["runs"])
    columns, table = lever_table(rows)
    text = (f"Runs: {made}. The transfer benchmark's pairs, settings and budgets (source, allocate "
            f"{data['variants']['pac']['allocate']['iterations']} or, long, {budgets['source']['iterations']}, calibrate "
            f"{budgets['calibrate']['iterations']} quasi-Newton iterations, or {LM_STEPS} lm steps for the lm variants "
            f"({LONG_LM_STEPS} for 'lm {LONG_LM_STEPS}'); 'lm finish': {FINISH_STEPS} lm steps after them, "
            f"{LONG_LM_STEPS} for 'lm finish {LONG_LM_STEPS}'); relative L2 "
            f"against each family's "
            f"reference, median over the seeds each variant ran (* below LoRA's median on those seeds); jobs in "
            f"worker processes of one thread. 'prepare s' is Allocate's (sensitivity's gradients not counted).\n\n"
            f"Pairs (of {len(table)}) on which each PAC-Net variant beats LoRA: {won}.\n\n"
            + markdown_table(columns, table) + "\n\n" + markdown_table(*source_table(rows)))
    if write:
        write_results("pac_levers", data, text)
        plot(rows, RESULTS / "pac_levers.png")
    return text

if __name__ == "__main__":
    main()
