"""When the induction head forms, against the transformer's width. The built-in `induction-widths`
sweep (the `induction` preset at d_model 32–128, 2 heads, 3 seeds, 4,000 steps) dates each run's
`induction_onset` on the induction score; this prints the onset per run and fits a power law
onset ∝ d_model^b (`analysis/delay.delay_fit`, the grokking delay's fit) with a 90 % bootstrap
interval over runs. Runs without an onset are counted, not dropped silently.

    .venv/bin/python bench/induction_onset.py --seed 1 [--store runs-induction] [--workers 2]
"""

from __future__ import annotations

import argparse
import time

from phasewatch.analysis.delay import delay_fit
from phasewatch.probes.attention import INDUCTION
from phasewatch.report.phase_diagram import member_table
from phasewatch.sweep import load_sweep, run_sweep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", default="runs-induction")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1, help="the bootstrap's seed")
    parser.add_argument("--resamples", type=int, default=2000)
    args = parser.parse_args()
    sweep = load_sweep("induction-widths")
    began = time.perf_counter()
    print(f"sweep {sweep.name}: {run_sweep(sweep, args.store, workers=args.workers)}, {time.perf_counter() - began:.0f} s")
    table = member_table(args.store, sweep.name, event=INDUCTION.rise or "", metric=INDUCTION.at("max"))
    print(f"\n{INDUCTION.rise} step per run (NaN: none dated), final {INDUCTION.at('max')}")
    print(table[["d_model", "seed", "state", "event_step", "final"]].sort_values(["d_model", "seed"]).to_string(index=False))
    per_width = table.groupby("d_model").agg(
        runs=("run", "size"), onsets=("event_step", "count"), mean_onset=("event_step", "mean")
    )
    print("\nper width\n" + per_width.round(0).to_string())
    fit = delay_fit(table["d_model"].to_numpy(), table["event_step"].to_numpy(), resamples=args.resamples, seed=args.seed)
    if fit is None:
        print("too few onsets to fit")
        return
    print(
        f"\nonset ∝ d_model^b over {fit['runs']} runs: b = {fit['slope']:.2f} [{fit['slope_low']:.2f}, {fit['slope_high']:.2f}] "
        f"(90 % bootstrap over runs, {args.resamples} resamples)"
    )


if __name__ == "__main__":
    main()
