"""Our own scale ladder: the built-in `scale-ladder` sweep (the grammar transformer at 7 widths ×
4 training lengths, fresh sentences every step), then L(N, D) = E + A/N^α + B/D^β fitted to the
runs' final held-out losses with bootstrap intervals, and the compute-optimal allocation it implies.
Points already in --store are not run again (the sweep heals), so a second call only fits.

    .venv/bin/python bench/scale_ladder.py --seed 1 [--store runs-ladder] [--workers 2]

Writes <store>/scaling/scale-ladder-chinchilla.html and the points as scale-ladder-points.csv.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from phasewatch.analysis.scaling import fit_scaling_law
from phasewatch.report.scaling import write_scaling_page
from phasewatch.store import store_root
from phasewatch.sweep import load_sweep, run_sweep
from phasewatch.sweep.scale import scaling_points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", default="runs-ladder")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1, help="the bootstrap's seed")
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()
    sweep = load_sweep("scale-ladder")
    began = time.perf_counter()
    counts = run_sweep(sweep, args.store, workers=args.workers)
    print(f"sweep {sweep.name}: {counts}, {time.perf_counter() - began:.0f} s wall on {args.workers} workers")
    points = scaling_points(args.store, sweep.name)
    root = store_root(args.store)
    (root / "scaling").mkdir(parents=True, exist_ok=True)
    points.to_csv(root / "scaling" / "scale-ladder-points.csv", index=False)
    span = points.N.max() / points.N.min()
    print(f"{len(points)} points: N {points.N.min():,}–{points.N.max():,} ({span:.0f}×), D {points.D.min():,}–{points.D.max():,}")
    print(points.pivot_table(index="N", columns="D", values="loss").round(4).to_string())
    fit = fit_scaling_law(points, resamples=args.resamples, seed=args.seed)
    print(f"\nL(N, D) = E + A/N^α + B/D^β, {fit.resamples} resamples (seed {args.seed}), fit {fit.seconds:.1f} s:")
    for key in ("E", "A", "alpha", "B", "beta"):
        low, high = fit.intervals[key]
        print(f"  {key:6} {fit.params[key]:10.4g}   95 % [{low:.4g}, {high:.4g}]")
    residual = np.log(fit.predict(points.N.to_numpy(), points.D.to_numpy())) - np.log(points.loss.to_numpy())
    print(f"  residuals of log L: rms {np.sqrt(np.mean(residual**2)):.4f}, largest {np.abs(residual).max():.4f}")
    budgets = np.geomspace(points.C.min(), points.C.max(), 3)
    optimum = fit.compute_optimal(budgets)
    for c, n, d, ratio in zip(budgets, optimum["N_opt"], optimum["D_opt"], optimum["tokens_per_parameter"]):
        print(f"  compute-optimal at C = {c:.2e}: N {n:,.0f}, D {d:,.0f}, {ratio:.1f} tokens per parameter")
    print(f"page: {write_scaling_page(fit, points, root / 'scaling' / 'scale-ladder-chinchilla.html', title='scale-ladder')}")


if __name__ == "__main__":
    main()
