"""Can a transition be forecast before it shows? Runs a built-in sweep (unless its runs are there),
then backtests every forecaster of analysis/forecast.py on held-out seeds and held-out
configurations (analysis/backtest.py) and prints the table that matters: per forecaster, the
median lead at which the predicted step is within ±20 % of the truth, the median error, interval
coverage at nominal 90 %, hits and false alarms — and the precursor ablation (each feature family
left out in turn). `--seed` draws which third of the seeds and configurations is held out.

    .venv/bin/python bench/forecast_backtest.py --sweep grokking-forecast --target grokking --seed 1
    .venv/bin/python bench/forecast_backtest.py --sweep induction-forecast --target induction_onset --seed 1
"""

from __future__ import annotations

import argparse
import math
import time
from collections import Counter
from pathlib import Path

from phasewatch.analysis.backtest import backtest
from phasewatch.analysis.forecast import Target, WeightDecayClock
from phasewatch.cli_fits import backtest_table
from phasewatch.report.backtest import write_backtest_page
from phasewatch.sweep import load_sweep, run_sweep
from phasewatch.sweep.forecast import sweep_histories


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sweep", default="grokking-forecast")
    parser.add_argument("--target", default="grokking")
    parser.add_argument("--store", default="runs-forecast")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1, help="which third of the seeds and configurations is held out")
    args = parser.parse_args()
    sweep = load_sweep(args.sweep)
    began = time.perf_counter()
    print(f"sweep {sweep.name}: {run_sweep(sweep, args.store, workers=args.workers)}, {time.perf_counter() - began:.0f} s")
    target = Target.parse(args.target)
    histories, axes = sweep_histories(args.store, sweep.name, target)
    reached = [h for h in histories if h.truth is not None]
    print(f"{len(histories)} runs, {len(reached)} with {target.text}, {len(histories) - len(reached)} without")
    print("dated on: " + ", ".join(f"{m} ({n})" for m, n in Counter(h.truth_metric for h in reached).items()))
    clock = WeightDecayClock()
    clock.fit_model(histories, target)
    if math.isfinite(clock.slope):
        print(f"weight-decay clock on every run: delay = {math.exp(clock.intercept):.3g} · (1/(lr·wd))^{clock.slope:.2f}")
    began = time.perf_counter()
    result = backtest(histories, axes, target, seed=args.seed)
    print(f"backtest: {time.perf_counter() - began:.0f} s, held-out draw --seed {args.seed}")
    print("\n" + backtest_table(result))
    page = Path(args.store) / "forecast" / f"{sweep.name}-{target.name}-seed{args.seed}.html"
    page.parent.mkdir(parents=True, exist_ok=True)
    print(f"page: {write_backtest_page(result, page, f'forecasting {target.text} on {sweep.name}')}")


if __name__ == "__main__":
    main()
