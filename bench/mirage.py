"""The metric mirage, measured two ways on the same answers (Schaeffer, Miranda & Koyejo 2023):

1. across model size: a built-in size sweep (10 widths, the same steps each: `addition-sizes`,
   where the carry is learned abruptly, or `lookup-sizes`, memorised values); each
   metric's final value against the parameter count, its breakthroughness across sizes, and the
   phase detector run over log-parameters with the mirage verdict (analysis/mirage.py) for every
   change it dates on exact match or the multiple-choice grade;
2. across training: the verdicts of the runs' own events (detected again, with the current rule).

Also Schaeffer et al.'s mechanism: exact match against p^L, p the per-token accuracy.

    .venv/bin/python bench/mirage.py [--sweep addition-sizes|lookup-sizes] [--seed K] [--store runs-mirage] [--workers 2]

`--seed` picks the members of that seed when the sweep has a seed axis (`lookup-sizes`: the
preset was chosen on seed 0, report seed 1); `addition-sizes` has the preset's seed only.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

import numpy as np
import pandas as pd

from phasewatch.analysis import detect_events
from phasewatch.analysis.mirage import breakthroughness, judge_events
from phasewatch.probes.answers import CONTINUOUS, EXACT_MATCH, MULTIPLE_CHOICE
from phasewatch.record.detection import detection_of, find_events
from phasewatch.store import Run, store_root
from phasewatch.store.sweeps import read_record
from phasewatch.sweep import load_sweep, run_sweep

METRICS = (EXACT_MATCH.name, MULTIPLE_CHOICE.name, *CONTINUOUS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", default="runs-mirage")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sweep", default="addition-sizes", choices=["addition-sizes", "lookup-sizes"])
    parser.add_argument("--seed", type=int, default=None, help="the members of this seed (a sweep with a seed axis)")
    args = parser.parse_args()
    sweep = load_sweep(args.sweep)
    began = time.perf_counter()
    print(f"sweep {sweep.name}: {run_sweep(sweep, args.store, workers=args.workers)}, {time.perf_counter() - began:.0f} s")
    root = store_root(args.store)
    members = read_record(root, sweep.name)["members"]
    runs = [Run.open(root, m["run"]) for m in members if args.seed is None or m.get("seed", args.seed) == args.seed]
    if args.seed is not None and "seed" not in sweep.axes:
        print(f"{sweep.name} has no seed axis: its runs are the preset's seed {runs[0].config['seed']}")
    rows, verdicts = [], Counter()
    for run in runs:
        find_events(run, detection_of(run))  # the verdicts of the current rule, whenever the run was made
        row = {"N": int(run.info["parameters"]), "d_model": run.config["model"]["d_model"]}
        row |= {metric: float(run.metric(metric)[1][-1]) for metric in METRICS}
        rows.append(row)
        for event in run.events:
            if "verdict" in event:
                verdicts[(event["metric"], event["verdict"])] += 1
    table = pd.DataFrame(rows).sort_values("N")
    table["p^L"] = table["answer/token_accuracy"] ** answer_length(runs[0].config["task"])
    pd.set_option("display.width", 250)
    print("\nfinal values by model size (p^L: per-token accuracy to the answer's length, Schaeffer et al.'s exact-match model)")
    print(table.rename(columns=lambda c: c.replace("answer/", "")).round(4).to_string(index=False))
    print(f"\nbreakthroughness across the {len(table)} sizes (BIG-bench; sign: + rises with size):")
    for metric in METRICS:
        print(f"  {metric:24} {breakthroughness(table[metric].to_numpy()):9.2f}")
    curves = {metric: (table["N"].to_numpy(), table[metric].to_numpy()) for metric in METRICS}
    events = [e for e in detect_events(curves) if e["metric"] in (EXACT_MATCH.name, MULTIPLE_CHOICE.name)]
    judge_events(events, curves, {EXACT_MATCH.name: CONTINUOUS, MULTIPLE_CHOICE.name: CONTINUOUS})
    print("\nchanges dated over log-parameters on the discontinuous metrics, and their verdicts:")
    for event in events:
        print(
            f"  {event['metric']}: at N ≈ {event['step']:,} [{event['step_low']:,}, {event['step_high']:,}], "
            f"{event['before']:.3f} → {event['after']:.3f}: {event['verdict']}"
            + (f" (persists on {', '.join(event['persists_on'])})" if event["persists_on"] else "")
        )
    if not events:
        print("  none")
    print("\nverdicts of the runs' own events over training steps (metric, verdict: count):")
    for (metric, verdict), count in sorted(verdicts.items()):
        print(f"  {metric}, {verdict}: {count}")
    gap = np.abs(table[EXACT_MATCH.name] - table["p^L"])
    print(f"\nexact match vs p^L: largest gap {gap.max():.3f} (at d_model {int(table.d_model.iloc[int(gap.argmax())])})")


def answer_length(task: dict) -> int:
    """L, the answer's tokens: n + 1 for n-digit addition, the value's digits for lookup."""
    return task["answer_digits"] if task["name"] == "lookup" else task["digits"] + 1


if __name__ == "__main__":
    main()
