"""The grokking phase diagram (the built-in `grokking-diagram` sweep: train fraction × weight
decay × 3 seeds of `grokking-mlp`), printed as tables: each cell's region and how many of its runs
are in it, the mean step of the `grokking` event and how many runs have it, and the grokking delay
against lr × weight decay (pooled, and per train fraction). Points already in --store are not
run again (the sweep heals), so a second call only prints.

    .venv/bin/python bench/phase_diagram.py [--store DIR] [--workers 2] [--sweep grokking-diagram]

Writes the page too: <store>/sweeps/grokking-diagram.html.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from phasewatch.analysis.delay import delay_fit
from phasewatch.report.phase_diagram import cells, member_table, write_phase_diagram
from phasewatch.sweep import load_sweep, run_sweep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", default="runs-diagram")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sweep", default="grokking-diagram")
    args = parser.parse_args()
    sweep = load_sweep(args.sweep)
    print(f"sweep {sweep.name}: {run_sweep(sweep, args.store, workers=args.workers)}")
    print(f"page: {write_phase_diagram(args.store, sweep.name, x='train_fraction', y='weight_decay')}")
    table = member_table(args.store, sweep.name)
    grid = cells(table, "train_fraction", "weight_decay")
    grid["cell"] = [f"{r.region[:5] if r.region else '-'} {r.in_region}/{r.runs}" for r in grid.itertuples()]
    grid["grok"] = [f"{10**r.log_step:.0f} ({r.with_event})" if r.with_event else "-" for r in grid.itertuples()]
    pd.set_option("display.width", 250)
    print(f"\nregions ({table['region'].value_counts().to_dict()}), rows: weight decay, columns: train fraction")
    print(grid.pivot(index="weight_decay", columns="train_fraction", values="cell").to_string())
    print("\ngrokking step (mean of log-steps; runs with the event)")
    print(grid.pivot(index="weight_decay", columns="train_fraction", values="grok").to_string())
    print("\ngrokking delay (steps from train saturation to the event) against lr × weight decay:")
    fits = [("pooled", table)] + [(f"train_fraction {f}", group) for f, group in table.groupby("train_fraction")]
    for label, group in fits:
        fit = delay_fit(group["lr_wd"].to_numpy(), group["delay"].to_numpy())
        if fit is not None:
            print(
                f"  {label}: slope {fit['slope']:.2f} (90 % bootstrap {fit['slope_low']:.2f} to {fit['slope_high']:.2f}), "
                f"{fit['runs']} runs; mean delay by weight decay "
                + ", ".join(f"{wd:g}: {np.nanmean(d):.0f}" for wd, d in group.groupby("weight_decay")["delay"] if d.notna().any())
            )


if __name__ == "__main__":
    main()
