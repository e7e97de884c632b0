"""The structure window (analysis/structure.py): synthetic rise-then-fall curves with known
crossings, the rule's refusals (rise only, small fall, fall without an ETF fall, noise), the
collapse of inherited structure, and the real UFM (coupled and plain) through `find_events`."""

import json

import numpy as np
import pytest
from analysis_curves import probe_grid, step_curve

from phasewatch import config as configuration
from phasewatch.analysis import structure_events, structure_window
from phasewatch.analysis.structure import MIN_RISE, running_median
from phasewatch.store import Run
from phasewatch.train import train
from phasewatch.train.prepare import prepare

GRID = probe_grid(30000, 1000, 80)
DENSE = np.arange(30001)
RISE_MID, FALL_MID = 100, 5000


def transient(steps, fall: float = 0.45):
    """Rises 0.02 → 0.52 around step 100 (0.6 decades 10-90 %), falls by `fall` around step 5000."""
    return step_curve(steps, RISE_MID, 0.6, 0.02, 0.52) - step_curve(steps, FALL_MID, 0.8, 0.0, fall)


def etf(steps, fall: float = 0.8):
    return step_curve(steps, FALL_MID, 0.8, 1.2, 1.2 - fall)


def true_crossing(curve: np.ndarray, level: float, start: int = 0) -> float:
    """Where the dense noise-free curve first passes `level` after `start` (either direction)."""
    side = np.sign(curve[start:] - level)
    i = start + int(np.flatnonzero(side != side[0])[0])
    return i - 1 + (level - curve[i - 1]) / (curve[i] - curve[i - 1])


def test_rise_then_fall_is_dated_at_its_known_crossings():
    dense = transient(DENSE)
    peak = int(np.argmax(dense))
    rise_half = (dense[0] + dense[peak]) / 2
    fall_half = (dense[peak] + dense[-1]) / 2
    want = {"crystallisation": true_crossing(dense, rise_half), "collapse": true_crossing(dense, fall_half, peak)}
    events = structure_events(GRID, transient(GRID), metric="a", etf=(GRID, etf(GRID)))
    assert [e["kind"] for e in events] == ["crystallisation", "collapse"]
    for event in events:
        assert event["step_low"] <= want[event["kind"]] <= event["step_high"]
        assert abs(np.log10(event["step"] / want[event["kind"]])) < 0.01  # interpolation on the probe grid
        assert event["onset"] < event["step"] < event["end"] and event["width"] == event["end"] - event["onset"]
        assert event["peak_value"] == pytest.approx(dense[peak], abs=1e-3)
        assert abs(np.log10(event["peak_step"] / peak)) < 0.15  # the plateau is flat: any probe on it
    rise, fall = events
    # 10-90 % of a 0.6-decade logistic centred at step 100: 10^(2 ± 0.3) - 1 (onset, end)
    assert rise["onset"] == pytest.approx(10**1.7, rel=0.05) and rise["end"] == pytest.approx(10**2.3, rel=0.05)
    assert fall["before"] == pytest.approx(0.52, abs=0.01) and fall["after"] == pytest.approx(0.07, abs=0.01)
    assert fall["etf_at_peak"] > 1.1 and fall["etf_after"] < 0.5
    assert structure_window(events) == {
        "metric": "a",
        "start": rise["step"],
        "end": fall["step"],
        "peak_step": rise["peak_step"],
        "peak_value": rise["peak_value"],
    }


@pytest.mark.parametrize("seed", range(10))
def test_noisy_rise_then_fall_is_dated_within_its_interval(seed):
    rng = np.random.default_rng(seed)
    dense = transient(DENSE)
    peak = int(np.argmax(dense))
    values = transient(GRID) + rng.normal(0, 0.02, len(GRID))
    values[len(GRID) // 3] += 0.5  # one wild probe on the plateau must not become the peak
    events = structure_events(GRID, values, metric="a", etf=(GRID, etf(GRID) + rng.normal(0, 0.02, len(GRID))))
    assert [e["kind"] for e in events] == ["crystallisation", "collapse"]
    rise, fall = events
    assert rise["step_low"] <= true_crossing(dense, (dense[0] + dense[peak]) / 2) <= rise["step_high"]
    assert fall["step_low"] <= true_crossing(dense, (dense[peak] + dense[-1]) / 2, peak) <= fall["step_high"]
    assert rise["peak_value"] < 0.6  # not the wild probe (0.52 + 0.5)


def test_rise_only_crystallises_without_collapse():
    values = step_curve(GRID, RISE_MID, 0.6, 0.02, 0.52)
    events = structure_events(GRID, values, metric="a", etf=(GRID, etf(GRID)))
    assert [e["kind"] for e in events] == ["crystallisation"]
    assert structure_window(events)["end"] is None


def test_a_small_fall_is_no_collapse():
    events = structure_events(GRID, transient(GRID, fall=0.2), metric="a")  # 40 % of the rise
    assert [e["kind"] for e in events] == ["crystallisation"]


@pytest.mark.parametrize("etf_fall", [0.0, -0.3, 0.05])  # flat, rising, falling by 4 % only
def test_fall_without_etf_fall_is_no_collapse(etf_fall):
    events = structure_events(GRID, transient(GRID), metric="a", etf=(GRID, etf(GRID, fall=etf_fall)))
    assert [e["kind"] for e in events] == ["crystallisation"]


def test_fall_with_no_etf_curve_is_judged_on_alignment_alone():
    assert [e["kind"] for e in structure_events(GRID, transient(GRID), metric="a")] == ["crystallisation", "collapse"]


def inherited(steps):
    """Structure inherited from the inputs (setting 1): 0.14, a small rise to 0.17 around
    step 30, then a fall to 0.03 around step 150."""
    return step_curve(steps, 30, 0.3, 0.14, 0.17) - step_curve(steps, 150, 0.5, 0.0, 0.14)


def test_inherited_structure_collapses_without_a_crystallisation():
    events = structure_events(GRID, inherited(GRID), metric="a", etf=(GRID, step_curve(GRID, 150, 0.5, 0.8, 0.4)))
    assert [e["kind"] for e in events] == ["collapse"]  # the 0.03 rise is below MIN_RISE
    dense = inherited(DENSE)
    peak = int(np.argmax(dense))
    assert events[0]["step_low"] <= true_crossing(dense, (dense[peak] + dense[-1]) / 2, peak) <= events[0]["step_high"]
    assert structure_window(events) == {
        "metric": "a",
        "start": None,
        "end": events[0]["step"],
        "peak_step": events[0]["peak_step"],
        "peak_value": events[0]["peak_value"],
    }
    assert structure_events(GRID, inherited(GRID), metric="a", etf=(GRID, etf(GRID, fall=0.0))) == []


def test_a_curve_that_only_falls_collapses_from_its_first_probe():
    values = step_curve(GRID, 1000, 0.6, 0.3, 0.02)
    [fall] = structure_events(GRID, values, metric="a", etf=(GRID, step_curve(GRID, 1000, 0.6, 1.2, 0.5)))
    assert fall["kind"] == "collapse" and fall["peak_step"] == 0
    assert fall["step_low"] <= 1000 <= fall["step_high"]


def test_a_relaxation_less_than_half_way_to_zero_is_no_collapse():
    values = step_curve(GRID, 1000, 0.6, 0.3, 0.22)  # falls by 0.08 > MIN_RISE, but 0.22 is far from 0
    assert structure_events(GRID, values, metric="a", etf=(GRID, etf(GRID))) == []


@pytest.mark.parametrize("sigma", [1e-3, 0.01, 0.05, 0.2])
def test_pure_noise_gives_nothing(sigma):
    rng = np.random.default_rng(int(sigma * 1e4))
    for grid in (GRID, probe_grid(3000, 25, 30)):
        for _ in range(20):
            assert structure_events(grid, rng.normal(0.1, sigma, len(grid)), metric="a") == []


def test_flat_control_below_min_rise_gives_nothing():
    # the plain UFM's alignment: a few thousandths, drifting
    values = 0.003 * np.exp(-GRID / 50.0) + 0.5 * MIN_RISE * step_curve(GRID, 300, 1.0, 0.0, 1.0)
    assert structure_events(GRID, values, metric="a") == []


def test_short_or_empty_curves_give_nothing():
    assert structure_events([], [], metric="a") == []
    assert structure_events([0, 1, 2], [0.0, 0.5, 0.0], metric="a") == []
    assert structure_window([]) is None


def test_running_median_shrinks_at_the_ends():
    assert running_median(np.array([5.0, 1.0, 3.0, 2.0]), 3).tolist() == [3.0, 3.0, 2.0, 2.5]


# ---- the real UFM -------------------------------------------------------------------------------

WINDOWED = ["semantic_alignment/features", "semantic_alignment/classifier"]


def _ufm_run(root, name: str, *settings: str):
    _, config = configuration.resolve(
        "ufm",
        None,
        ["steps=3000", "every=500", "device=cpu", f"structure_windows={json.dumps(WINDOWED)}", "fit_ufm=false", *settings],
    )
    run = Run.create(root, name, experiment="ufm", config=config.model_dump(mode="json"), seed=config.seed)
    train(run, prepare(config), show_progress=False)
    return run, config


@pytest.fixture(scope="module")
def ufm_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    return {"coupled": _ufm_run(root, "coupled"), "plain": _ufm_run(root, "plain", "plain=true", "steps=2000")}


def test_coupled_ufm_crystallises_and_collapses_in_3000_steps(ufm_runs):
    run, _ = ufm_runs["coupled"]
    events = structure_events(*run.metric(WINDOWED[0]), metric=WINDOWED[0], etf=run.metric("etf_distance/features"))
    assert [e["kind"] for e in events] == ["crystallisation", "collapse"]
    rise, fall = events
    # measured: rise half done at step ≈ 40, peak 0.68 at step ≈ 250, alignment 0.12 by step 3000
    # (a fall of 83 % of the rise) while the ETF distance goes 1.25 → 0.71
    assert 20 <= rise["step"] <= 80 and 150 <= rise["peak_step"] <= 350 and rise["peak_value"] > 0.6
    assert 300 <= fall["step"] <= 1500 and fall["after"] < 0.2
    assert fall["etf_after"] < 0.75 * fall["etf_at_peak"]


def test_plain_ufm_shows_no_structure_event(ufm_runs):
    run, _ = ufm_runs["plain"]
    for metric in WINDOWED:
        site = metric.split("/")[1]
        assert structure_events(*run.metric(metric), metric=metric, etf=run.metric(f"etf_distance/{site}")) == []


def test_find_events_windows_alignment_and_keeps_generic_detection_elsewhere(ufm_runs, monkeypatch):
    from functools import partial

    from phasewatch.analysis import fit_ufm
    from phasewatch.record import detection

    # a small library keeps this fast; the default one is tested in test_ufm_fit.py
    monkeypatch.setattr(detection, "fit_ufm", partial(fit_ufm, ratios=(30.0, 100.0), horizon=3000))

    def fitting(config, fit: bool):
        return config.model_copy(update={"events": config.events.model_copy(update={"fit_ufm": fit})})

    run, config = ufm_runs["coupled"]
    events = detection.find_events(run, fitting(config, True).events)
    assert run.events == events
    windowed = [(e["kind"], e["metric"]) for e in events if e["metric"] in WINDOWED]
    assert sorted(windowed) == sorted((k, m) for k in ("crystallisation", "collapse") for m in WINDOWED)
    assert any(e["metric"] == "train/loss" for e in events)  # the generic detector still runs
    fit = run.analysis("ufm_fit")
    assert set(fit) == {"metric", "r", "time_scale", "amplitude", "offset", "r2", "steps", "predicted"}
    assert fit["metric"] == WINDOWED[0] and fit["r"] == 100.0 and fit["r2"] > 0.99

    plain, plain_config = ufm_runs["plain"]
    assert not [e for e in detection.find_events(plain, fitting(plain_config, False).events) if e["metric"] in WINDOWED]
    assert plain.analysis("ufm_fit") is None


def test_a_small_rise_that_multiplies_its_start_is_a_crystallisation_and_its_fall_a_collapse():
    """Setting 2 on a hard seed: b 0.010 → 0.054 → 0.011, below MIN_RISE in absolute terms."""
    rng = np.random.default_rng(0)
    transient = 0.010 + 0.044 * step_curve(GRID, 150, 0.4, 0.0, 1.0) - 0.043 * step_curve(GRID, 2000, 0.5, 0.0, 1.0)
    events = structure_events(GRID, transient + rng.normal(0, 0.0005, len(GRID)), metric="a")
    assert [e["kind"] for e in events] == ["crystallisation", "collapse"]
    # the same absolute rise from a high level is not structure: it does not double it
    assert structure_events(GRID, 0.3 + transient + rng.normal(0, 0.0005, len(GRID)), metric="a") == []
    # nor is a doubling lost in noise
    noisy = transient + rng.normal(0, 0.01, len(GRID))
    assert [e["kind"] for e in structure_events(GRID, noisy, metric="a")] == []
