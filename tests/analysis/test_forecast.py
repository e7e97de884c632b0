"""The target-extrapolation baseline and the weight-decay clock against closed forms, and what every
forecaster shares (targets, histories, probe grids), on planted curves (tests/forecast_fakes.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from forecast_fakes import TARGET_METRIC, planted_run, planted_runs, rise

from phasewatch.analysis.forecast import History, Target, TargetExtrapolation, WeightDecayClock, probe_grid
from phasewatch.errors import UserError
from phasewatch.probes.training import TRAIN_ACCURACY

GROKKING = Target.parse("grokking")


def test_target_parses_a_kind_and_a_crossing_and_refuses_anything_else():
    assert GROKKING.kind == "grokking" and GROKKING.name == "grokking"
    crossing = Target.parse("test/accuracy>=0.9")
    assert (crossing.metric, crossing.level, crossing.name) == ("test/accuracy", 0.9, "test_accuracy_ge_0.9")
    steps, values = np.array([0, 10, 20, 30]), np.array([0.1, 0.5, 0.95, 0.99])
    assert crossing.reached({"test/accuracy": (steps, values)}, []) == (20.0, "test/accuracy")
    events = [
        {"kind": "grokking", "step": 70, "metric": "test/accuracy"},
        {"kind": "grokking", "step": 40, "metric": "test/loss"},
        {"kind": "x", "step": 1, "metric": "test/accuracy"},
    ]
    assert GROKKING.reached({}, events) == (40.0, "test/loss")  # the first, and the metric dating it
    assert GROKKING.reached({}, []) is None
    with pytest.raises(UserError, match="--target"):
        Target.parse("grokking; rm -rf")


def test_probe_grid_is_the_probe_steps_not_the_per_step_curve_nor_a_sparse_one():
    every = np.arange(0, 101)
    probes = np.arange(0, 101, 10)
    sparse = np.arange(0, 101, 50)
    data = {"train/loss": (every, every * 0.0), "a/b": (probes, probes * 0.0), "llc/mean": (sparse, sparse * 0.0)}
    assert probe_grid(data).tolist() == probes.tolist()


def test_history_reads_a_per_step_metric_at_the_probe_steps_up_to_t():
    steps = np.arange(0, 50)
    history = History("r", {"train/accuracy": (steps, steps / 100)}, np.array([0, 10, 20, 30, 40]), 49)
    at, values = history.upto("train/accuracy", 25)
    assert at.tolist() == [0, 10, 20] and values.tolist() == [0.0, 0.1, 0.2]


def test_extrapolation_finds_the_midpoint_of_a_logistic_once_the_rise_is_under_way():
    forecaster = TargetExtrapolation().fit(planted_runs(40, seed=1), GROKKING)
    run = planted_run(0, 1000.0, np.random.default_rng(5))
    # At 0.9·T the rise is ~21 % done (width 0.08 in log-step): the midpoint is extrapolated.
    made = forecaster.forecast(run, 900.0)
    assert made is not None and abs(made.step / 1000 - 1) < 0.05
    # At 0.5·T nothing has moved: no step is forecast, and no alarm.
    early = forecaster.forecast(run, 500.0)
    assert early is not None and math.isinf(early.step) and early.probability == 0.0


def test_extrapolation_of_a_crossing_solves_the_fitted_logistic_for_the_level():
    steps = np.arange(0, 2001, 10)
    values = 0.05 + 0.95 * rise(steps, 800.0, width=0.3)  # an exact curve: the fit is the curve
    history = History("r", {TARGET_METRIC: (steps, values)}, steps, 2000, {}, None)
    forecaster = TargetExtrapolation()
    forecaster.target, forecaster.metric, forecaster.ceiling = Target.parse(f"{TARGET_METRIC}>=0.5"), TARGET_METRIC, 1.0
    level = 0.5
    q = (level - 0.05) / 0.95
    expected = 800.0 * math.exp(0.3 * math.log(q / (1 - q)))
    log_hat = forecaster.log_step(history, 700.0)
    assert abs(math.exp(log_hat) / expected - 1) < 0.05


def test_weight_decay_clock_recovers_a_planted_power_law_and_declines_without_decay():
    rng = np.random.default_rng(0)
    histories = []
    for i, (lr, wd) in enumerate([(1e-2, 0.3), (1e-2, 1.0), (1e-2, 3.0), (3e-3, 1.0), (3e-2, 1.0)]):
        saturated = 20 + 10 * i
        truth = saturated + 4.0 * (1 / (lr * wd)) ** 0.7
        steps = np.arange(0, 2001)
        accuracy = np.where(steps >= saturated, 1.0, 0.5)
        config = {"train": {"lr": lr, "weight_decay": wd, "steps": 2000}}
        histories.append(
            History(f"r{i}", {TRAIN_ACCURACY.name: (steps, accuracy)}, steps[::10], 2000, config, truth, TARGET_METRIC)
        )
        rng.random()
    clock = WeightDecayClock()
    clock.fit_model(histories, GROKKING)
    assert clock.slope == pytest.approx(0.7, abs=1e-9) and math.exp(clock.intercept) == pytest.approx(4.0)
    assert math.exp(clock.log_step(histories[2], 50.0)) == pytest.approx(histories[2].truth)
    # Before train accuracy saturates, the wait is counted from now.
    assert math.exp(clock.log_step(histories[2], 10.0)) == pytest.approx(10 + 4.0 * (1 / 0.03) ** 0.7)
    histories[0].config["train"]["weight_decay"] = 0.0
    assert clock.log_step(histories[0], 100.0) is None
