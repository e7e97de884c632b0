"""`phasewatch forecast`: bad input refused in one line, and backtest → fit → a live run end to end
on a small real sweep (`phasewatch scaling` is tested in tests/test_cli.py)."""

import json

import pytest

from phasewatch.cli import main
from phasewatch.probes.training import FORECAST
from phasewatch.store import Run, list_runs

SWEEP = """
name = "forecast-small"
experiment = "grokking-mlp"
[set]
p = 23
"train.steps" = 150
"train.checkpoint_every" = 150
"probes.names" = ["behaviour", "weight_norm"]
"probes.every" = 10
"events.watch" = ["train/*", "test/*"]
"events.structure_metrics" = []
[grid]
train_fraction = [0.3, 0.5, 0.7]
seed = [0, 1, 2]
"""
TARGET = "test/accuracy>=0.6"


@pytest.mark.parametrize(
    "argv, says",
    [
        (["forecast", "backtest", "nosuch", "--target", "grokking"], "nosuch"),
        (["forecast", "backtest", "nosuch", "--target", "grok king"], "--target: 'grok king' is not allowed"),
        (["forecast", "predict", "nosuch", "--target", "grokking"], "invalid choice"),
        (["run", "grokking-mlp", "--forecast", "/nonexistent.json"], "--forecast: file '/nonexistent.json' does not exist"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, says, tmp_path, capsys):
    assert main(["--store", str(tmp_path / "store"), *argv]) == 2
    err = capsys.readouterr().err
    assert says in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "store").exists() or list_runs(tmp_path / "store").empty  # nothing half-written


@pytest.mark.slow
def test_backtest_fit_and_a_live_run(tmp_path, capsys):
    store = str(tmp_path / "store")
    sweep = tmp_path / "small.toml"
    sweep.write_text(SWEEP)
    assert main(["--store", store, "sweep", str(sweep), "--workers", "2", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["--store", store, "forecast", "backtest", "forecast-small", "--target", TARGET, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["target"] == TARGET and set(result["splits"]) == {"seed", "config"}
    scored = result["splits"]["seed"]["forecasters"]
    assert set(scored) == {"target extrapolation", "precursors", "weight-decay clock"}
    for forecaster in scored.values():
        assert {"median_lead_steps", "median_log_error", "coverage", "false_alarm_rate", "rows"} <= set(forecaster)
    page = tmp_path / "store" / "forecast" / "forecast-small-test_accuracy_ge_0.6.html"
    assert page.is_file() and page.with_suffix(".json").is_file()
    assert main(["--store", store, "forecast", "fit", "forecast-small", "--target", TARGET]) == 2  # --out is required
    fitted = tmp_path / "fitted.json"
    assert main(["--store", store, "forecast", "fit", "forecast-small", "--target", TARGET, "--out", str(fitted)]) == 0
    assert json.loads(fitted.read_text())["forecaster"] == "precursors"
    argv = ["--store", store, "run", "grokking-mlp", "--set", "p=23", "--set", "train.steps=150", "--name", "live"]
    argv += ["--set", 'probes.names=["behaviour", "weight_norm"]', "--set", "probes.every=10", "--forecast", str(fitted)]
    assert main([*argv, "--no-progress"]) == 0
    run = Run.open(store, "live")
    names = run.metric_names()
    assert FORECAST.at("test_accuracy_ge_0.6", "probability") in names
    assert run.analysis("forecaster")["forecaster"] == "precursors"
    assert 'id="forecast"' in (run.path / "report.html").read_text()
