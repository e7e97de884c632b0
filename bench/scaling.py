"""Scaling-law fits: the Chinchilla fit beside the published ones, the start-grid shortcut against
the whole grid, the bootstrap's warm start against grid restarts, and planted-parameter recovery
with interval coverage.

    .venv/bin/python bench/scaling.py --seed 1 [--datasets 100] [--resamples 400] [--csv tests/data/chinchilla/points.csv]

Every line is printed by this script; the planted data are the Chinchilla points' own (N, D) with
Besiroglu et al.'s point estimates as the truth and log-normal noise of the real fit's residual
scale (σ = 0.005 on log L, --noise).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from phasewatch.analysis import scaling
from phasewatch.analysis.scaling import fit_scaling_law, read_points

HOFFMANN = {"A": 406.4, "B": 410.7, "E": 1.69, "alpha": 0.34, "beta": 0.28}
BESIROGLU = {"A": 482.01, "B": 2085.43, "E": 1.817, "alpha": 0.3478, "beta": 0.3658}
BESIROGLU_CI = {"A": (285, 744), "B": (1042, 5810), "E": (1.769, 1.871), "alpha": (0.317, 0.373), "beta": (0.331, 0.415)}
KEYS = ("A", "B", "E", "alpha", "beta")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--csv", default=str(Path(__file__).parents[1] / "tests" / "data" / "chinchilla" / "points.csv"))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--datasets", type=int, default=100, help="planted data sets for the coverage figure")
    parser.add_argument("--coverage-resamples", type=int, default=200)
    parser.add_argument("--noise", type=float, default=0.005)
    parser.add_argument("--full-grid", action="store_true", help="also run L-BFGS-B from all 4,500 grid points (minutes)")
    args = parser.parse_args()
    points = read_points(args.csv)

    fit = fit_scaling_law(points, resamples=args.resamples, seed=args.seed)
    print(f"Chinchilla approach 3 on {fit.points} points: {fit.starts} starts, {args.resamples} resamples, {fit.seconds:.2f} s")
    print(f"  {'':6} {'ours':>9} {'95 % bootstrap':>22} {'Besiroglu':>10} {'their 95 %':>16} {'Hoffmann':>9}")
    for key in KEYS:
        low, high = fit.intervals[key]
        b_low, b_high = BESIROGLU_CI[key]
        print(
            f"  {key:6} {fit.params[key]:9.4g} {f'[{low:.4g}, {high:.4g}]':>22} {BESIROGLU[key]:10.4g} "
            f"{f'[{b_low:g}, {b_high:g}]':>16} {HOFFMANN[key]:9.4g}"
        )
    optimum = fit.compute_optimal(np.array([1e21, 1e23, 5.76e23]))
    print(
        "  compute-optimal tokens per parameter at C = 1e21, 1e23, 5.76e23 (Chinchilla's budget): "
        + ", ".join(f"{r:.1f}" for r in optimum["tokens_per_parameter"])
    )

    log_x, log_loss = scaling._columns(points, ("N", "D"))
    grid = scaling.start_grid(2)
    began = time.perf_counter()
    values = scaling.objective(grid, log_x, log_loss)
    print(f"\nthe objective at all {len(grid):,} grid starts, vectorised: {1e3 * (time.perf_counter() - began):.1f} ms")
    if args.full_grid:
        whole = fit_scaling_law(points, resamples=0, starts=None)
        print(
            f"L-BFGS-B from every grid start: {whole.seconds:.1f} s, objective {whole.objective:.10g}; from the best "
            f"{scaling.STARTS}: {fit.seconds:.2f} s incl. bootstrap, objective {fit.objective:.10g}; largest parameter "
            f"difference {max(abs(whole.params[k] / fit.params[k] - 1) for k in KEYS):.1e} (relative)"
        )
    rng = np.random.default_rng(args.seed)
    lower, checked = 0, 50
    began = time.perf_counter()
    for _ in range(checked):
        rows = rng.integers(0, len(log_loss), len(log_loss))
        x, y = log_x[rows], log_loss[rows]
        _, warm = scaling._minimise(fit.theta[None], x, y)
        best = grid[np.argsort(scaling.objective(grid, x, y))[: scaling.STARTS]]
        _, searched = scaling._minimise(best, x, y)
        lower += searched < warm * (1 - 1e-9)
    print(
        f"bootstrap warm start: on {checked} resamples, L-BFGS-B from the best {scaling.STARTS} grid starts found a lower "
        f"objective than the warm start {lower} times ({time.perf_counter() - began:.0f} s)"
    )
    del values

    truth = {"E": 1.82, "A": 482.0, "B": 2085.0, "alpha": 0.348, "beta": 0.366}
    clean = truth["E"] + truth["A"] / points["N"] ** truth["alpha"] + truth["B"] / points["D"] ** truth["beta"]
    held = dict.fromkeys(KEYS, 0)
    errors: dict[str, list[float]] = {k: [] for k in KEYS}
    began = time.perf_counter()
    for _ in range(args.datasets):
        data = points.assign(loss=clean * np.exp(rng.normal(0, args.noise, len(points))))
        planted = fit_scaling_law(data, resamples=args.coverage_resamples, seed=int(rng.integers(1 << 30)), level=0.9)
        for key in KEYS:
            low, high = planted.intervals[key]
            held[key] += low <= truth[key] <= high
            errors[key].append(planted.params[key] / truth[key] - 1)
    print(
        f"\nplanted recovery: {args.datasets} data sets (Chinchilla's N, D; σ = {args.noise} on log L), "
        f"{args.coverage_resamples} resamples each, {time.perf_counter() - began:.0f} s"
    )
    for key in KEYS:
        e = np.array(errors[key])
        print(
            f"  {key:6} median relative error {np.median(e):+.3f} (IQR {np.percentile(e, 25):+.3f} to "
            f"{np.percentile(e, 75):+.3f}); 90 % interval held the truth {held[key]}/{args.datasets}"
        )


if __name__ == "__main__":
    main()
