"""The coupled-UFM fit (analysis/ufm_fit.py): the simulator is what `phasewatch run ufm`
records, a stretched and scaled library curve is recovered, noise fits badly."""

import numpy as np
import pytest

from phasewatch import config as configuration
from phasewatch.analysis import fit_ufm, simulate_alignment, ufm_library
from phasewatch.analysis.ufm_fit import RATIOS
from phasewatch.record import probe_steps
from phasewatch.store import Run
from phasewatch.train import train
from phasewatch.train.prepare import prepare

SMALL = {"ratios": (10.0, 30.0, 100.0), "horizon": 6000}  # a library that builds in a second or two


def test_simulator_matches_the_train_loop_at_every_probe(tmp_path):
    _, config = configuration.resolve(
        "ufm", None, ["steps=300", "every=100", "log_points=20", "device=cpu", "decay_ratio=30", "fit_ufm=false"]
    )
    run = Run.create(tmp_path, "u", experiment="ufm", config=config.model_dump(mode="json"), seed=0)
    train(run, prepare(config), show_progress=False)
    steps, recorded = run.metric("semantic_alignment/features")
    simulated = simulate_alignment([30.0], steps)[0]
    assert np.abs(simulated - recorded).max() < 1e-5  # float32 rounding; the curve moves 0 → 0.6


def test_fit_recovers_ratio_time_scale_and_scale_of_a_stretched_library_curve():
    steps = np.array(probe_steps(1500, 150, 50))
    alpha, r = 4.0, 30.0
    curve = simulate_alignment([r], np.round(alpha * steps).astype(int))[0]  # its own grid, not the library's
    fit = fit_ufm(steps, 0.1 + 0.5 * curve, metric="m", **SMALL)
    assert fit["r"] == r and fit["r2"] > 0.999
    assert abs(np.log10(fit["time_scale"] / alpha)) < 0.02
    assert fit["amplitude"] == pytest.approx(0.5, rel=0.03) and fit["offset"] == pytest.approx(0.1, abs=0.01)
    assert fit["steps"] == steps.tolist() and len(fit["predicted"]) == len(steps)
    assert np.abs(np.array(fit["predicted"]) - (0.1 + 0.5 * curve)).max() < 0.02
    assert set(fit) == {"metric", "r", "time_scale", "amplitude", "offset", "r2", "steps", "predicted"}


@pytest.mark.parametrize("seed", range(3))
def test_noise_fits_badly(seed):
    steps = np.array(probe_steps(20000, 1000, 80))
    values = np.random.default_rng(seed).normal(0.01, 0.005, len(steps))
    assert fit_ufm(steps, values, metric="m", **SMALL)["r2"] < 0.3


def test_flat_and_short_curves():
    steps = np.array(probe_steps(2000, 100, 30))
    flat = fit_ufm(steps, np.full(len(steps), 0.2), metric="m", **SMALL)
    assert flat["r2"] == 0.0 and flat["amplitude"] < 1e-9 and flat["predicted"] == pytest.approx([0.2] * len(steps))
    assert fit_ufm([0, 1], [0.0, 0.1], metric="m") is None


def test_a_falling_curve_gets_no_negative_amplitude():
    steps = np.array(probe_steps(2000, 100, 30))
    fit = fit_ufm(steps, 1.0 - simulate_alignment([30.0], steps)[0], metric="m", **SMALL)
    assert fit["amplitude"] >= 0 and fit["r2"] < 0.5


@pytest.mark.slow
def test_default_library_reproduces_the_spec_peaks():
    # docs/science/structure_before_collapse.md, 10^5 steps: peak b 0.67 / 0.68 / 0.68 / 0.68 / 0.56 / 0.13 for
    # r = 1, 10, 30, 100, 300, 1000; final b falls as r grows (the 2·10^4-step library: 0.53 … 0.005)
    steps, curves = ufm_library()
    peaks = dict(zip(RATIOS, curves.max(axis=1)))
    for r, want in {1.0: 0.67, 10.0: 0.68, 30.0: 0.68, 100.0: 0.68, 300.0: 0.56, 1000.0: 0.13}.items():
        assert peaks[r] == pytest.approx(want, abs=0.02)
    assert np.all(np.diff(curves[:, -1]) < 0)
    assert steps[-1] == 20_000
