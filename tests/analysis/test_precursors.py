"""The precursor forecaster on planted transitions (tests/forecast_fakes.py): it finds a planted
precursor and the baseline cannot, loses it when the precursor's family is dropped, adds nothing
from noise metrics, covers about nine truths in ten, survives JSON, and calibrates by group."""

from __future__ import annotations

import json

import numpy as np
import pytest
from forecast_fakes import END, GRID, PRECURSOR, planted_run, planted_runs

from phasewatch.analysis.forecast import History, Target, TargetExtrapolation
from phasewatch.analysis.precursors import Precursors, from_dict
from phasewatch.errors import UserError

GROKKING = Target.parse("grokking")


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
