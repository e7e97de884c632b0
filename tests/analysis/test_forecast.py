"""The forecasters against closed forms and planted transitions (tests/forecast_fakes.py)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from forecast_fakes import END, GRID, PRECURSOR, TARGET_METRIC, planted_run, planted_runs, rise

from phasewatch.analysis.forecast import (
    History,
    Precursors,
    Target,
    TargetExtrapolation,
    WeightDecayClock,
    from_dict,
    probe_grid,
)
from phasewatch.errors import UserError
from phasewatch.probes.training import TRAIN_ACCURACY

GROKKING = Target.parse("grokking")


def test_target_parses_a_kind_and_a_crossing_and_refuses_anything_else():
    assert GROKKING.kind == "grokking" and GROKKING.name == "grokking"
    crossing = Target.parse("test/accuracy>=0.9")
    assert (crossing.metric, crossing.level, crossing.name) == ("test/accuracy", 0.9, "test_accuracy_ge_0.9")
    steps, values = np.array([0, 10, 20, 30]), np.array([0.1, 0.5, 0.95, 0.99])
    assert crossing.step({"test/accuracy": (steps, values)}, []) == 20.0
    assert (
        GROKKING.step({}, [{"kind": "grokking", "step": 70}, {"kind": "grokking", "step": 40}, {"kind": "x", "step": 1}]) == 40.0
    )
    assert GROKKING.step({}, []) is None
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


def _share_right(forecaster, runs, fraction):
    right = []
    for run in runs:
        if run.truth is None:
            continue
        made = forecaster.forecast(run, float(GRID[GRID <= fraction * run.truth][-1]))
        right.append(made is not None and abs(made.step / run.truth - 1) <= 0.2)
    return float(np.mean(right))


@pytest.fixture(scope="module")
def planted():
    """(training runs, held-out runs, the precursor forecaster fitted on the training runs)."""
    train, held_out = planted_runs(60, seed=1), planted_runs(30, seed=2)
    return train, held_out, Precursors().fit(train, GROKKING)


def test_a_planted_precursor_forecasts_long_before_the_target_moves_and_the_baseline_cannot(planted):
    train, held_out, precursors = planted
    baseline = TargetExtrapolation().fit(train, GROKKING)
    # At 0.6·T the precursor has risen (at 0.5·T) but the target has not. Trees date T from the
    # precursor's move to within a few tens of per cent (piecewise constant over 45 runs).
    assert _share_right(precursors, held_out, 0.6) >= 0.6
    assert _share_right(baseline, held_out, 0.6) <= 0.1

    # Probability: high on runs that will transition, low on those that never do.
    def probability(run, t):
        return precursors.forecast(run, t).probability

    assert np.mean([probability(r, 0.6 * r.truth) for r in held_out if r.truth]) > 0.8
    assert np.mean([probability(r, 0.6 * END) for r in held_out if r.truth is None]) < 0.2


def test_without_the_precursor_family_the_lead_is_gone(planted):
    train, held_out, full = planted
    ablated = type("NoIpr", (Precursors,), {"dropped": ("fourier_ipr",)})().fit(train, GROKKING)
    assert PRECURSOR not in ablated.metrics
    assert _share_right(ablated, held_out, 0.6) <= _share_right(full, held_out, 0.6) - 0.2


def test_negative_control_noise_metrics_add_nothing_to_the_step_alone():
    """With no precursor planted, the metrics carry nothing: the forecaster does no better than
    the same one reading only the step (which knows something: the target has not happened yet)."""
    train, held_out = planted_runs(60, seed=1, precursor=False), planted_runs(30, seed=2, precursor=False)
    precursors = Precursors().fit(train, GROKKING)
    step_only = type("StepOnly", (Precursors,), {"dropped": ("fourier_ipr", "test", "weight_norm")})().fit(train, GROKKING)
    assert step_only.metrics == []
    assert _share_right(precursors, held_out, 0.6) <= _share_right(step_only, held_out, 0.6) + 0.1


def test_intervals_cover_about_nine_in_ten_held_out_truths(planted):
    _, held_out, forecaster = planted
    covered = []
    for run in held_out:
        if run.truth is None:
            continue
        for fraction in (0.25, 0.5, 0.75):
            made = forecaster.forecast(run, float(GRID[GRID <= fraction * run.truth][-1]))
            covered.append(made.low <= run.truth <= made.high)
    assert 0.75 <= np.mean(covered) <= 1.0


@pytest.mark.parametrize("kind", [TargetExtrapolation, Precursors])
def test_a_fitted_forecaster_survives_json_and_forecasts_the_same(kind, planted):
    train, _, precursors = planted
    fitted = precursors if kind is Precursors else kind().fit(train, GROKKING)
    loaded = from_dict(json.loads(json.dumps(fitted.to_dict())))
    run = planted_run(0, 700.0, np.random.default_rng(9))
    for t in (300.0, 500.0, 650.0):
        assert loaded.forecast(run, t) == fitted.forecast(run, t)


def test_an_unknown_forecaster_is_refused():
    with pytest.raises(UserError, match="forecaster: 'oracle' is not allowed"):
        from_dict({"forecaster": "oracle"})


def test_calibration_by_groups_keeps_a_group_out_of_its_own_residuals():
    """Twin runs (the same curves twice) in one group: folded by run, a twin is always in the
    training folds and the residuals are near zero; folded by group, they are honest."""
    runs = planted_runs(20, seed=7, never_share=0.0)
    twins = [History(f"{h.run}-twin", h.curves, h.grid, h.end, h.config, h.truth, h.truth_metric) for h in runs]
    histories, groups = runs + twins, [h.run for h in runs] * 2

    def spread(forecaster):
        r = np.concatenate([np.asarray(b) for b in forecaster.residuals.bins if b])
        return float(np.quantile(r, 0.95) - np.quantile(r, 0.05))

    by_run = Precursors().fit(histories, GROKKING)
    by_group = Precursors().fit(histories, GROKKING, groups)
    assert spread(by_group) > 1.5 * spread(by_run)
