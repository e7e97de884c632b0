"""Scaling-law fits against the Chinchilla runs' published fits, planted laws and closed forms."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import approx_fprime, minimize_scalar

from phasewatch.analysis import scaling
from phasewatch.analysis.scaling import fit_scaling_law, read_points
from phasewatch.errors import UserError

CHINCHILLA = Path(__file__).parents[1] / "data" / "chinchilla" / "points.csv"
# tests/data/chinchilla/README.md: the same method computed independently with scipy on these 234 points
REFERENCE = {"A": 442.2, "B": 1270.6, "E": 1.7838, "alpha": 0.3426, "beta": 0.3420}
# Besiroglu et al. 2024's 95 % bootstrap intervals (on 240 points)
BESIROGLU = {"A": (285, 744), "B": (1042, 5810), "E": (1.769, 1.871), "alpha": (0.317, 0.373), "beta": (0.331, 0.415)}
PLANTED = {"E": 1.82, "A": 482.0, "B": 2085.0, "alpha": 0.348, "beta": 0.366}  # Besiroglu's point estimates


@pytest.fixture(scope="module")
def points() -> pd.DataFrame:
    return read_points(CHINCHILLA)


@pytest.fixture(scope="module")
def chinchilla(points):
    return fit_scaling_law(points, resamples=200, seed=0)


def planted_loss(n, d, p=PLANTED):
    return p["E"] + p["A"] / n ** p["alpha"] + p["B"] / d ** p["beta"]


def test_the_fit_reproduces_the_independent_reference_and_lies_inside_besiroglus_intervals(chinchilla):
    assert chinchilla.points == 234
    assert chinchilla.objective == pytest.approx(8.40e-4, rel=1e-3)
    for key, value in REFERENCE.items():
        assert chinchilla.params[key] == pytest.approx(value, rel=2e-3), key
        low, high = BESIROGLU[key]
        assert low <= chinchilla.params[key] <= high, key
    for key, (low, high) in chinchilla.intervals.items():
        assert low < chinchilla.params[key] < high, key


def test_the_gradient_is_the_objectives_derivative(points):
    log_x, log_loss = scaling._columns(points, ("N", "D"))
    for theta in (np.array([6.0, 0.3, 7.0, 0.35, 0.5]), np.array([20.0, 1.5, 3.0, 0.1, -0.7])):
        value, gradient = scaling._value_and_gradient(theta, log_x, log_loss)
        assert value == pytest.approx(float(scaling.objective(theta, log_x, log_loss)))
        numeric = approx_fprime(theta, lambda t: float(scaling.objective(t, log_x, log_loss)), 1e-7)
        np.testing.assert_allclose(gradient, numeric, rtol=1e-3, atol=1e-6)


def test_a_noise_free_planted_law_is_recovered_exactly(points):
    data = points.assign(loss=planted_loss(points["N"], points["D"]))
    fit = fit_scaling_law(data, resamples=0)
    for key, value in PLANTED.items():
        assert fit.params[key] == pytest.approx(value, rel=1e-4), key


def test_the_compute_optimal_allocation_minimises_the_loss_at_fixed_compute(chinchilla):
    for compute in (1e20, 1e23):
        optimum = chinchilla.compute_optimal(compute)
        # independent: scan N with D = C / (6N) and take the minimum of the fitted L(N, D)
        found = minimize_scalar(
            lambda log_n, c=compute: float(chinchilla.predict(np.exp(log_n), c / (6 * np.exp(log_n)))),
            bounds=(np.log(1e6), np.log(1e13)),
            method="bounded",
            options={"xatol": 1e-10},
        )
        assert np.exp(found.x) == pytest.approx(float(optimum["N_opt"]), rel=1e-3)
        assert float(optimum["N_opt"] * optimum["D_opt"]) * 6 == pytest.approx(compute, rel=1e-9)
    assert 15 < float(chinchilla.compute_optimal(1e22)["tokens_per_parameter"]) < 30  # Chinchilla's ≈ 20


@pytest.mark.parametrize("variable", ["N", "D", "C"])
def test_kaplans_single_variable_law_recovers_a_planted_one(variable):
    x = np.geomspace(1e6, 1e10, 30)
    truth = {"E": 1.5, "alpha": 0.3, f"{variable}_c": 8.8e7}
    loss = truth["E"] + (truth[f"{variable}_c"] / x) ** truth["alpha"]
    fit = fit_scaling_law({variable: x, "loss": loss}, form="kaplan", variable=variable, resamples=0)
    assert fit.variables == (variable,)
    for key, value in truth.items():
        assert fit.params[key] == pytest.approx(value, rel=1e-4), key
    np.testing.assert_allclose(fit.predict(x), loss, rtol=1e-6)


def test_the_bootstrap_is_repeatable_with_its_seed_and_json_has_the_issues_keys(points):
    first = fit_scaling_law(points, resamples=20, seed=5)
    again = fit_scaling_law(points, resamples=20, seed=5)
    assert first.intervals == again.intervals
    payload = first.to_json()
    assert {"E", "A", "B", "alpha", "beta"} <= payload.keys()
    assert set(payload["intervals"]) >= {"E", "A", "B", "alpha", "beta"}


@pytest.mark.slow
def test_bootstrap_intervals_cover_planted_parameters_near_the_nominal_rate(points):
    """30 simulated Chinchilla-shaped data sets (the real N, D; log-normal noise of the real fit's
    scale, σ = 0.005): the 90 % intervals should hold the truth about 27 times in 30."""
    rng = np.random.default_rng(11)
    truth = planted_loss(points["N"].to_numpy(), points["D"].to_numpy())
    held = dict.fromkeys(PLANTED, 0)
    trials = 30
    for _ in range(trials):
        data = points.assign(loss=truth * np.exp(rng.normal(0, 0.005, len(truth))))
        fit = fit_scaling_law(data, resamples=200, seed=int(rng.integers(1 << 30)), level=0.9, starts=16)
        for key, value in PLANTED.items():
            low, high = fit.intervals[key]
            held[key] += low <= value <= high
    for key, count in held.items():
        assert count >= 23, (key, count)  # P(≤ 22 of 30 | 90 %) < 0.5 %


@pytest.mark.parametrize(
    ("data", "options", "message"),
    [
        ({"N": [1.0] * 9, "D": [1.0] * 9}, {}, "loss: column missing"),
        ({"N": [1.0, -2.0] * 5, "D": [1.0] * 10, "loss": [2.0] * 10}, {}, "N: -2.0 in row 1 is not allowed"),
        ({"N": [1.0] * 3, "D": [1.0] * 3, "loss": [2.0] * 3}, {}, "loss: 3 points is not allowed"),
        ({"N": [1.0] * 9, "D": [1.0] * 9, "loss": ["x"] * 9}, {}, "loss: not numbers"),
        ({}, {"form": "power"}, "form: 'power' is not allowed"),
        ({}, {"form": "kaplan", "variable": "T"}, "variable: 'T' is not allowed"),
        ({}, {"resamples": -1}, "resamples: -1 is not allowed"),
        ({}, {"level": 1.5}, "level: 1.5 is not allowed"),
    ],
)
def test_bad_input_is_one_line_naming_the_field(data, options, message):
    with pytest.raises(UserError, match=message):
        fit_scaling_law(data, **options)


def test_a_missing_or_unreadable_csv_is_one_line(tmp_path):
    with pytest.raises(UserError, match="is not a file"):
        read_points(tmp_path / "none.csv")
    (tmp_path / "bad.csv").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(UserError, match="CSV"):
        read_points(tmp_path / "bad.csv")
