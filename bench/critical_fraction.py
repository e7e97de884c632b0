"""Tian's law for when grokking happens (Tian 2025, "Li2"): the critical train fraction against the
group size M. The built-in `grokking-critical-fraction` sweep (`grokking-mlp` at 6 primes × 12
train fractions × 2 seeds, 600 steps) decides per (M, seed) the smallest fraction from which every
larger one generalises (final test accuracy ≥ the regions' level, 0.9), takes the critical fraction
as the geometric mean of it and the fraction below, and fits log f_c against three laws with one
constant each — f_c = c·ln M / M (Tian: c = 2.7482), c/√M, c — and the free power law c·M^−k
(`analysis/delay.delay_fit`, the grokking delay's power-law fit), with 90 % bootstrap intervals
over the (M, seed) points.

    .venv/bin/python bench/critical_fraction.py --seed 1 [--store runs-critical] [--workers 2]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import pandas as pd

from phasewatch.analysis.delay import delay_fit
from phasewatch.analysis.regions import LEVEL
from phasewatch.report.phase_diagram import member_table
from phasewatch.sweep import load_sweep, run_sweep

TIAN = 2.7482
LAWS = {"c·ln M / M": lambda m: np.log(m) / m, "c/√M": lambda m: 1 / np.sqrt(m), "c (constant)": lambda m: np.ones_like(m)}


def critical(group: pd.DataFrame) -> float:
    """The geometric mean of the smallest fraction from which all larger ones generalise and the
    fraction below it; NaN when none or all generalise (the grid does not bracket it)."""
    group = group.sort_values("train_fraction")
    ok = (group["final"] >= LEVEL).to_numpy()
    fractions = group["train_fraction"].to_numpy()
    if ok.all() or not ok.any() or not ok[-1]:
        return math.nan
    first = len(ok) - int(np.argmin(ok[::-1]))  # the first index of the all-generalising tail
    return math.sqrt(fractions[first] * fractions[first - 1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", default="runs-critical")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1, help="the bootstrap's seed")
    parser.add_argument("--resamples", type=int, default=2000)
    args = parser.parse_args()
    sweep = load_sweep("grokking-critical-fraction")
    began = time.perf_counter()
    print(f"sweep {sweep.name}: {run_sweep(sweep, args.store, workers=args.workers)}, {time.perf_counter() - began:.0f} s")
    table = member_table(args.store, sweep.name)
    grid = table.pivot_table(index="train_fraction", columns="p", values="final", aggfunc="mean")
    print("\nfinal test accuracy, mean over seeds (rows: train fraction, columns: M)")
    print(grid.round(2).to_string())
    points = pd.DataFrame([{"M": m, "seed": s, "f_c": critical(g)} for (m, s), g in table.groupby(["p", "seed"])]).dropna()
    points["tian"] = TIAN * np.log(points.M) / points.M
    print("\ncritical train fraction per (M, seed), beside Tian's 2.7482·ln M / M")
    print(points.round(3).to_string(index=False))
    if len(points) < 3:
        print("too few bracketed critical fractions to fit")
        return
    m, y = points.M.to_numpy(float), np.log(points.f_c.to_numpy())
    rng = np.random.default_rng(args.seed)
    print(f"\nfits of log f_c ({len(points)} points; 90 % bootstrap over points, {args.resamples} resamples):")
    for name, law in LAWS.items():
        log_c = float(np.mean(y - np.log(law(m))))  # least squares with one free constant
        rss = float(np.sum((y - log_c - np.log(law(m))) ** 2))
        draws = [np.mean((y - np.log(law(m)))[rows]) for rows in rng.integers(0, len(y), (args.resamples, len(y)))]
        low, high = np.exp(np.percentile(draws, [5, 95]))
        aic = len(y) * math.log(rss / len(y)) + 2
        print(f"  {name:14} c = {math.exp(log_c):.3f} [{low:.3f}, {high:.3f}]   RSS {rss:.3f}   AIC {aic:.1f}")
    power = delay_fit(m, points.f_c.to_numpy(), resamples=args.resamples, seed=args.seed)  # the same power-law fit
    assert power is not None  # 3 points or more, 6 distinct M
    rss = float(np.sum((y - math.log(10) * power["intercept"] - power["slope"] * np.log(m)) ** 2))
    aic = len(y) * math.log(rss / len(y)) + 4
    tian_k = -np.polyfit(np.log(m), np.log(np.log(m) / m), 1)[0]
    print(
        f"  {'c·M^−k':14} k = {-power['slope']:.3f} [{-power['slope_high']:.3f}, {-power['slope_low']:.3f}]   RSS {rss:.3f}   "
        f"AIC {aic:.1f}  (ln M / M: k ≈ {tian_k:.2f} here)"
    )


if __name__ == "__main__":
    main()
