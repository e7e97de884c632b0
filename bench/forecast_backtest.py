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
from phasewatch.report.backtest import write_backtest_page
from phasewatch.sweep import load_sweep, run_sweep
from phasewatch.sweep.forecast import sweep_histories


def show(x, digits: int = 2) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def row(name: str, s: dict) -> str:
    return (
        f"{name:<34} {show(s['median_lead_share']):>6} {show(s['median_lead_steps'], 0):>6} {s['runs_ever_within']:>4}/{s['runs_with_target']:<4}"
        f" {show(s['median_log_error']):>6} {s['forecasts_made']:>9} {show(s['coverage']):>6} {show(s['hit_rate']):>5}"
        f" {show(s['false_alarm_rate']):>6} {show(s['brier']):>6}"
    )


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
    header = f"{'forecaster':<34} {'lead/T':>6} {'lead':>6} {'within':>9} {'|logE|':>6} {'made':>9} {'cover':>6} {'hits':>5} {'falseA':>6} {'brier':>6}"
    for by, split in result["splits"].items():
        if "skipped" in split:
            print(f"\nheld out by {by}: {split['skipped']}")
            continue
        print(f"\nheld out by {by}: {split['train_runs']} training runs, {split['held_out_runs']} held out\n{header}")
        for name, scored in split["forecasters"].items():
            print(row(name, scored))
        for family, scored in sorted(split["ablation"].items()):
            print(row(f"  precursors without {family}", scored))
        errors = {f: s["median_log_error_by_fraction"] for f, s in split["forecasters"].items()}
        print(
            "median |log error| by share of the way to the target: "
            + "; ".join(
                f"{name}: " + " ".join(f"{k}→{show(v)}" for k, v in by_fraction.items()) for name, by_fraction in errors.items()
            )
        )
    page = Path(args.store) / "forecast" / f"{sweep.name}-{target.name}-seed{args.seed}.html"
    page.parent.mkdir(parents=True, exist_ok=True)
    print(f"\npage: {write_backtest_page(result, page, f'forecasting {target.text} on {sweep.name}')}")


if __name__ == "__main__":
    main()
