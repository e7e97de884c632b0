"""The `phasewatch` commands that fit a model over many runs: `scaling fit` (a scaling law) and
`forecast backtest|fit` (forecasters of a transition, analysis/forecast.py). Part of cli.py's
parser; the same rules: bad input → one line, exit 2."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from phasewatch.analysis.backtest import backtest, group_of
from phasewatch.analysis.forecast import Target
from phasewatch.analysis.precursors import FORECASTERS
from phasewatch.analysis.scaling import FORMS, STARTS, VARIABLES, fit_scaling_law, read_points
from phasewatch.errors import UserError
from phasewatch.probes.behaviour import TEST_LOSS
from phasewatch.report.backtest import write_backtest_page
from phasewatch.report.scaling import write_scaling_page
from phasewatch.store.atomic import atomic_write_bytes, atomic_write_json
from phasewatch.store.sweeps import sweep_path
from phasewatch.sweep.forecast import sweep_histories
from phasewatch.sweep.scale import scaling_points


def add_fit_commands(commands) -> None:
    scaling = commands.add_parser(
        "scaling",
        help="fit a scaling law (Chinchilla approach 3, or Kaplan's) to a CSV of runs, with bootstrap intervals",
        description="Example: phasewatch scaling fit points.csv --form chinchilla --json",
    )
    scaling.add_argument("action", choices=["fit"], help="fit: fit the law and write its page")
    scaling.add_argument(
        "csv",
        metavar="CSV|SWEEP",
        help="one row per run: columns N (parameters), D (tokens), C (FLOPs), loss; or a sweep in the store, "
        "whose finished runs are the points (their parameters, tokens trained on and last --metric)",
    )
    scaling.add_argument("--metric", default=TEST_LOSS.name, help="with a sweep: the loss each run gives (its last value)")
    scaling.add_argument(
        "--form", default="chinchilla", choices=FORMS, help="chinchilla: L = E + A/N^α + B/D^β; kaplan: L = E + (X_c/X)^α"
    )
    scaling.add_argument("--variable", default="N", choices=VARIABLES, help="with --form kaplan: X, the column the law is in")
    scaling.add_argument("--resamples", type=int, default=1000, metavar="K", help="bootstrap resamples (0: no intervals)")
    scaling.add_argument("--seed", type=int, default=0, help="the bootstrap's seed")
    scaling.add_argument("--level", type=float, default=0.95, help="the intervals' coverage (default 0.95)")
    scaling.add_argument(
        "--starts", default=str(STARTS), metavar="K|all", help=f"L-BFGS-B from the K best grid points (default {STARTS}) or all"
    )
    scaling.add_argument("--json", action="store_true", help="print the fit as JSON (E, A, B, alpha, beta, intervals)")
    scaling.add_argument("--out", metavar="FILE", help="the page (default: <store>/scaling/<CSV name>-<form>.html)")

    forecast = commands.add_parser(
        "forecast",
        help="forecast a transition from its precursors: backtest forecasters on a sweep's runs, or fit one for live use",
        description="Examples: phasewatch forecast backtest grokking-forecast --target grokking --json;  "
        "phasewatch forecast fit grokking-forecast --target grokking --out grok.json, then "
        "phasewatch run grokking-mlp --forecast grok.json",
    )
    forecast.add_argument(
        "action",
        choices=["backtest", "fit"],
        help="backtest: score every forecaster on held-out runs; fit: one forecaster on every run",
    )
    forecast.add_argument("sweep", metavar="SWEEP", help="a sweep in the store: its finished runs are the data")
    forecast.add_argument(
        "--target",
        required=True,
        metavar="KIND|METRIC>=LEVEL",
        help="an event kind (grokking, induction_onset) or a crossing (test/accuracy>=0.9)",
    )
    forecast.add_argument("--forecaster", default="precursors", choices=sorted(FORECASTERS), help="with fit: which forecaster")
    forecast.add_argument(
        "--seed", type=int, default=0, help="with backtest: which third of the seeds and configurations is held out"
    )
    forecast.add_argument("--json", action="store_true", help="with backtest: print the whole result as JSON")
    forecast.add_argument(
        "--out",
        metavar="FILE",
        help="backtest: the page (default <store>/forecast/SWEEP-TARGET.html); fit: the forecaster's JSON (required)",
    )


def _scaling(args: argparse.Namespace, root) -> None:
    """`phasewatch scaling fit CSV`: the fit's page, and its parameters (JSON with --json) on stdout."""
    if args.starts == "all":
        starts = None
    elif args.starts.isdigit() and int(args.starts) > 0:
        starts = int(args.starts)
    else:
        raise UserError(f"--starts: {args.starts!r} is not allowed (a positive count, or all)")
    from_sweep = not Path(args.csv).is_file() and sweep_path(root, args.csv, ".json").is_file()
    if not from_sweep and not Path(args.csv).is_file():
        raise UserError(f"CSV: {args.csv!r} is not a file, nor a sweep in {root}")
    data = scaling_points(root, args.csv, args.metric) if from_sweep else read_points(args.csv)  # a sweep: a point per run
    fit = fit_scaling_law(
        data, form=args.form, variable=args.variable, resamples=args.resamples, seed=args.seed, level=args.level, starts=starts
    )
    if from_sweep:  # written once the fit stands: bad input leaves nothing behind
        atomic_write_bytes(root / "scaling" / f"{args.csv}-points.csv", data.to_csv(index=False).encode())
    stem = Path(args.csv).stem
    out = Path(args.out) if args.out else root / "scaling" / f"{stem}-{args.form}.html"
    path = write_scaling_page(fit, data, out, title=stem)
    if args.json:
        print(json.dumps(fit.to_json(), indent=2))
        return
    for key, value in fit.params.items():
        low, high = fit.intervals.get(key, (math.nan, math.nan))
        print(f"{key:>8} {value:.6g}" + (f"   [{low:.6g}, {high:.6g}]" if fit.intervals else ""))
    print(f"page: {path}")


def _forecast(args: argparse.Namespace, root) -> None:
    """`phasewatch forecast backtest|fit SWEEP --target T`."""
    target = Target.parse(args.target)
    histories, axes = sweep_histories(root, args.sweep, target)
    if args.action == "fit":
        if not args.out:
            raise UserError("forecast fit: --out FILE is required (where the fitted forecaster's JSON goes)")
        if not any(h.truth is not None for h in histories):
            raise UserError(f"--target: no run of sweep {args.sweep!r} reaches {target.text!r}; nothing to learn from")
        # Calibrated on held-out configurations: a live run is most often a new one.
        groups = [group_of(axes[h.run], "config") for h in histories]
        fitted = FORECASTERS[args.forecaster]().fit(histories, target, groups)
        atomic_write_json(Path(args.out), fitted.to_dict())
        print(f"forecaster: {args.out}")
        return
    result = backtest(histories, axes, target, seed=args.seed)
    out = Path(args.out) if args.out else root / "forecast" / f"{args.sweep}-{target.name}.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_backtest_page(result, out, f"forecasting {target.text} on {args.sweep}")
    atomic_write_bytes(out.with_suffix(".json"), json.dumps(result, indent=1).encode())
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(backtest_table(result))
    print(f"page: {out}")


def _show(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _row(name: str, s: dict) -> str:
    within = f"{s['runs_ever_within']}/{s['runs_with_target']}"
    return (
        f"{name:<40} {_show(s['median_lead_share']):>6} {_show(s['median_lead_steps'], 0):>6} {within:>9}"
        f" {_show(s['median_log_error']):>6} {s['forecasts_made']:>9} {_show(s['coverage']):>6} {_show(s['hit_rate']):>5}"
        f" {_show(s['false_alarm_rate']):>6} {_show(s['brier']):>6}"
    )


def backtest_table(result: dict) -> str:
    """A backtest (analysis/backtest.py) as text: per split, a row per forecaster and per ablation."""
    header = f"{'forecaster':<40} {'lead/T':>6} {'lead':>6} {'within':>9} {'|logE|':>6} {'made':>9} {'cover':>6} {'hits':>5} {'falseA':>6} {'brier':>6}"
    lines = []
    for by, split in result["splits"].items():
        if "skipped" in split:
            lines.append(f"held out by {by}: {split['skipped']}")
            continue
        lines += [f"held out by {by}: {split['train_runs']} training runs, {split['held_out_runs']} held out", header]
        lines += [_row(name, scored) for name, scored in split["forecasters"].items()]
        lines += [_row(f"  precursors without {family}", scored) for family, scored in sorted(split["ablation"].items())]
        errors = "; ".join(
            f"{name}: " + " ".join(f"{k}→{_show(v)}" for k, v in scored["median_log_error_by_fraction"].items())
            for name, scored in split["forecasters"].items()
        )
        lines += [f"median |log error| by share of the way to the target: {errors}", ""]
    return "\n".join(lines)


FIT_COMMANDS = {"scaling": _scaling, "forecast": _forecast}
