"""The backtest's splits and scores, on planted runs (tests/forecast_fakes.py) and on
rows whose scores are worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
from forecast_fakes import planted_runs

from phasewatch.analysis.backtest import FRACTIONS, backtest, forecast_time, score, split
from phasewatch.analysis.forecast import Target


def _axes(runs):
    return {h.run: {"seed": i % 6, "width": [32, 64, 128][(i // 6) % 3]} for i, h in enumerate(runs)}


def test_splits_hold_out_whole_seeds_or_whole_configurations_a_third_of_them():
    runs = planted_runs(36, seed=0)
    axes = _axes(runs)
    for seed in range(4):
        train, test = split(runs, axes, "seed", seed)
        held = {axes[h.run]["seed"] for h in test}
        assert len(held) == 2 and not held & {axes[h.run]["seed"] for h in train} and len(train) + len(test) == 36
        train, test = split(runs, axes, "config", seed)
        held = {axes[h.run]["width"] for h in test}
        assert len(held) == 1 and not held & {axes[h.run]["width"] for h in train}
    assert split(runs, axes, "seed", 0) == split(runs, axes, "seed", 0)


def test_forecast_time_is_the_last_probe_step_at_or_before_the_fraction():
    run = planted_runs(1, seed=0, never_share=0.0)[0]
    run.truth = 1000.0
    assert forecast_time(run, 0.25) == 250.0 and forecast_time(run, 0.1) == 100.0
    run.truth = None
    assert forecast_time(run, 0.5) == 1500.0  # of the run's end (3,000)


def _row(run, fraction, t, truth, step, low=None, high=None, probability=None):
    return {
        "run": run,
        "fraction": fraction,
        "t": t,
        "truth": truth,
        "step": step,
        "low": low,
        "high": high,
        "probability": probability,
    }


def test_scores_worked_by_hand():
    rows = [
        # run a (T = 100): wrong at 0.1, then within ±20 % from 0.25 on: lead 75 steps, 0.75 of T
        _row("a", 0.1, 10, 100, 300, 200, 400, 0.9),
        _row("a", 0.25, 25, 100, 110, 90, 130, 0.9),
        _row("a", 0.5, 50, 100, 95, 90, 99, 0.2),
        # run b (T = 200): right at 0.1 only, then wrong: no lead
        _row("b", 0.1, 20, 200, 210, 100, 300, 0.6),
        _row("b", 0.25, 50, 200, 400, 300, 500, 0.6),
        _row("b", 0.5, 100, 200, None, None, None, 0.0),
        # run c never transitions: one alarm in two forecasts
        _row("c", 0.1, 300, None, 900, 800, 1000, 0.7),
        _row("c", 0.25, 750, None, None, None, None, 0.1),
    ]
    scored = score(rows)
    assert scored["median_lead_steps"] == pytest.approx((75 + 0) / 2)
    assert scored["median_lead_share"] == pytest.approx((0.75 + 0) / 2)
    assert scored["runs_ever_within"] == 1
    assert scored["coverage"] == pytest.approx(2 / 5)  # a: no, yes, no; b: yes, no (b at 0.5 made none)
    assert scored["hit_rate"] == pytest.approx(4 / 6) and scored["false_alarm_rate"] == pytest.approx(1 / 2)
    assert scored["forecasts_made"] == "5/6"
    errors = [abs(np.log(s / t)) for s, t in [(300, 100), (110, 100), (95, 100), (210, 200), (400, 200)]]
    assert scored["median_log_error"] == pytest.approx(np.median(errors))


def test_backtest_on_planted_runs_finds_the_precursor_and_its_family():
    runs = planted_runs(48, seed=5)
    result = backtest(runs, _axes(runs), Target.parse("grokking"))
    assert set(result["splits"]) == {"seed", "config"} and result["fractions"] == list(FRACTIONS)
    for by in ("seed", "config"):
        forecasters = result["splits"][by]["forecasters"]
        lead = {name: scored["median_lead_share"] for name, scored in forecasters.items()}
        assert lead["precursors"] > lead["target extrapolation"], by
        # the weight-decay clock has no weight decay to read here: it makes no forecast
        assert forecasters["weight-decay clock"]["forecasts_made"].startswith("0/")
        ablation = result["splits"][by]["ablation"]
        assert ablation["fourier_ipr"]["median_log_error"] > forecasters["precursors"]["median_log_error"]
