"""The forecast cone in a run's report and a backtest's page, from planted data."""

from __future__ import annotations

import numpy as np

from phasewatch.analysis.backtest import score
from phasewatch.probes.training import FORECAST
from phasewatch.report.backtest import write_backtest_page
from phasewatch.report.forecast import cone_figure, forecast_targets


def _forecast_curves(target: str) -> dict:
    steps = np.arange(10, 400, 10)
    predicted = np.where(steps < 150, 300.0, 210.0)
    return {
        FORECAST.at(target, "step"): (steps, predicted),
        FORECAST.at(target, "low"): (steps, predicted * 0.8),
        FORECAST.at(target, "high"): (steps, predicted * 1.25),
        FORECAST.at(target, "probability"): (steps, np.clip(steps / 200, 0, 1)),
        "test/accuracy": (steps, np.zeros(len(steps))),
    }


def test_the_cone_draws_the_forecast_its_band_the_present_and_the_truth():
    data = _forecast_curves("grokking")
    assert forecast_targets(data) == ["grokking"]
    fig = cone_figure(data, [{"kind": "grokking", "step": 200}, {"kind": "loss_cliff", "step": 90}])
    names = [trace.name for trace in fig.data]
    assert names == ["grokking: 90 %", "grokking: forecast", "grokking happened", "grokking: P", "now"]
    forecast = fig.data[1]
    assert list(forecast.y[:2]) == [300.0, 300.0] and forecast.y[-1] == 210.0
    assert list(fig.data[2].y) == [200, 200]  # the grokking event, not the loss cliff
    assert cone_figure({"test/accuracy": data["test/accuracy"]}, []) is None


def test_the_backtest_page_has_every_split_and_forecaster_and_escapes_names(tmp_path):
    rows = [
        {"run": "a", "fraction": 0.5, "t": 50, "truth": 100, "step": 110, "low": 90, "high": 130, "probability": 0.9},
        {"run": "b", "fraction": 0.5, "t": 500, "truth": None, "step": None, "low": None, "high": None, "probability": 0.1},
    ]
    scored = score(rows)
    split = {"train_runs": 10, "held_out_runs": 2, "forecasters": {"<b>bold</b>": scored}, "ablation": {"weight_norm": scored}}
    result = {"target": "grokking", "splits": {"seed": split, "config": {"skipped": "nothing held out"}}}
    html = write_backtest_page(result, tmp_path / "page.html", "forecasting grokking").read_text()
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and "<b>bold</b>" not in html
    assert "held out by seed" in html and "nothing held out" in html and "precursors without weight_norm" in html
    assert 'id="calibration-seed"' in html and 'id="error-seed"' in html
