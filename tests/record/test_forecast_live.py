"""The live forecast: what a listener records at each probe equals the forecast made afterwards
from the stored run (two paths to one history), a resumed listener replays exactly, and a
fitted forecaster travels with the run."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from forecast_fakes import GRID, NOISE, PRECURSOR, TARGET_METRIC, planted_run, planted_runs

from phasewatch.analysis.forecast import History, Target, probe_grid
from phasewatch.analysis.precursors import Precursors
from phasewatch.config import EventConfig
from phasewatch.errors import UserError
from phasewatch.probes import ProbeResult
from phasewatch.probes.training import FORECAST
from phasewatch.record import Recorder
from phasewatch.record.forecast import LiveForecast, load_forecaster
from phasewatch.report.common import curves
from phasewatch.store import Run


@pytest.fixture(scope="module")
def fitted():
    return Precursors().fit(planted_runs(24, seed=1), Target.parse("grokking"))


def _record(run: Run, planted: History, forecaster, steps) -> None:
    """The planted run as a loop would record it: the target and noise metrics with `record`
    (per step, as a training loop's loss), the precursor as a probe's scalar."""
    recorder = Recorder(run, None, [], set(GRID), detection=EventConfig(), listeners=[LiveForecast(forecaster, run, end=3000)])
    for i, step in enumerate(steps):
        recorder.record(int(step), {TARGET_METRIC: planted.curves[TARGET_METRIC][1][i], NOISE: planted.curves[NOISE][1][i]})
        recorder.record_probe(int(step), ProbeResult({PRECURSOR: float(planted.curves[PRECURSOR][1][i])}))
    recorder.close()
    run.unlock()


def test_the_live_forecasts_equal_the_forecasts_from_the_stored_run(tmp_path, fitted):
    planted = planted_run(0, 900.0, np.random.default_rng(3))
    run = Run.create(tmp_path, "live", experiment="watch", config={"train": {"steps": 3000}}, seed=0)
    _record(run, planted, fitted, GRID)
    data = curves(Run.open(tmp_path, "live"))
    stored = {name: c for name, c in data.items() if not FORECAST.matches(name)}
    offline = History("live", stored, probe_grid(stored), 3000, {"train": {"steps": 3000}})
    steps, predicted = data[FORECAST.at("grokking", "step")]
    _, probability = data[FORECAST.at("grokking", "probability")]
    assert len(steps) == len(GRID) - 1  # every positive probe step
    for step, value, p in zip(steps, predicted, probability):
        made = fitted.forecast(offline, float(step))
        assert value == pytest.approx(made.step) and p == pytest.approx(made.probability)
    # and the forecast sharpens: past the precursor's move the predicted step is near the truth
    late = predicted[(steps >= 600) & (steps < 850)]
    assert np.median(np.abs(np.log(late / 900.0))) < np.log(1.3)


def test_a_resumed_listener_replays_the_stored_values_before_its_start(tmp_path, fitted):
    planted = planted_run(0, 900.0, np.random.default_rng(3))
    run = Run.create(tmp_path, "resumed", experiment="watch", config={}, seed=0)
    _record(run, planted, fitted, GRID[GRID < 500])
    listener = LiveForecast(fitted, Run.open(tmp_path, "resumed"), start=300, end=3000)
    history = listener.history()
    assert history.grid.tolist() == GRID[GRID < 300].tolist()
    for name in (TARGET_METRIC, PRECURSOR, NOISE):
        assert history.curves[name][1].tolist() == pytest.approx(planted.curves[name][1][GRID < 300].tolist())


def test_a_fitted_forecaster_loads_from_its_json_file_and_bad_files_are_refused(tmp_path, fitted):
    path = tmp_path / "f.json"
    path.write_text(json.dumps(fitted.to_dict()))
    planted = planted_run(0, 900.0, np.random.default_rng(3))
    assert load_forecaster(path).forecast(planted, 700.0) == fitted.forecast(planted, 700.0)
    with pytest.raises(UserError, match="does not exist"):
        load_forecaster(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text('{"forecaster": "precursors"}')
    with pytest.raises(UserError, match="is not a fitted forecaster"):
        load_forecaster(tmp_path / "bad.json")
    assert math.isfinite(fitted.forecast(planted, 700.0).step)


def test_a_run_without_the_forecasters_metrics_is_warned_once_and_forecasts_nothing(tmp_path, fitted):
    run = Run.create(tmp_path, "bare", experiment="watch", config={}, seed=0)
    listener = LiveForecast(fitted, run, end=3000)
    recorder = Recorder(run, None, [], set(GRID), detection=EventConfig(), listeners=[listener])
    with pytest.warns(UserWarning, match=f"records no {PRECURSOR}") as caught:
        for step in GRID[:5]:
            recorder.record(int(step), {TARGET_METRIC: 0.0})
            recorder.record_probe(int(step), ProbeResult({}))
    recorder.close()
    run.unlock()
    assert len(caught) == 1
    assert not [name for name in curves(Run.open(tmp_path, "bare")) if FORECAST.matches(name)]


def test_a_run_with_the_forecasters_metrics_is_not_warned(tmp_path, fitted, recwarn):
    planted = planted_run(0, 900.0, np.random.default_rng(3))
    run = Run.create(tmp_path, "full", experiment="watch", config={}, seed=0)
    _record(run, planted, fitted, GRID[:5])
    assert not [w for w in recwarn if "records no" in str(w.message)]
