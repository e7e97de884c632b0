"""`phasewatch.llc.calibrate` on the one-parameter regular model (λ = 1/2), whose SGLD behaviour is
known in closed form: with curvature a = nβ·mean(x²) + γ, the Euler scheme is stable for ε·a < 4
and inflates λ̂ by 1/(1 − ε·a/4)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from phasewatch.errors import UserError
from phasewatch.llc import Calibration, calibrate
from phasewatch.llc.calibrate import HEALTHY


def nll(model, batch):
    x, y = batch
    return ((model(x) - y) ** 2).mean() / 2


@pytest.fixture(scope="module")
def regular():
    """y = 0.7·x + N(0, 1), n = 1000, w* the least-squares fit: a ≈ 146 at γ = 1."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1000, 1, generator=g)
    y = 0.7 * x + torch.randn(1000, 1, generator=g)
    model = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.linalg.lstsq(x, y).solution.T)
    return model, (x, y)


def test_calibrate_picks_the_largest_healthy_epsilon_and_says_so(regular):
    # ε·a ≈ 0.015, 0.15, 1.5 and 7: 5e-2 diverges; 1e-2 is stable but MALA would reject > 10 % of its
    # steps (λ̂ ≈ 0.8, 1/(1 − 1.5/4) = 1.6× too high); 1e-3 is the largest healthy one.
    model, data = regular
    result = calibrate(model, data, nll, epsilons=(1e-4, 1e-3, 1e-2, 5e-2), gamma=1.0, chains=4, draws=300, burn_in=100)
    assert isinstance(result, Calibration)
    assert [row["epsilon"] for row in result.table] == [1e-4, 1e-3, 1e-2, 5e-2]
    assert [row["healthy"] for row in result.table][2:] == [False, False]
    assert result.table[2]["acceptance"] < HEALTHY and result.table[2]["warnings"] == []
    assert "NaN" in result.table[3]["warnings"][0]
    assert result.epsilon == 1e-3 == result.chosen.epsilon
    assert result.n_beta == pytest.approx(1000 / math.log(1000))
    assert result.chosen.warnings == [] and 0.3 < result.chosen.mean < 0.7
    assert result.reason.startswith("epsilon = 0.001 ") and "largest healthy" in result.reason


def test_when_nothing_is_healthy_the_least_bad_point_is_chosen_and_the_reason_says_so(regular):
    model, data = regular
    result = calibrate(model, data, nll, epsilons=(5e-2, 1e-1), gamma=1.0, chains=2, draws=40, burn_in=10)
    assert not any(row["healthy"] for row in result.table)
    assert result.epsilon == 5e-2  # equally bad: the smaller step
    assert result.reason.startswith("no grid point is healthy; epsilon = 0.05") and "NaN" in result.reason


def test_an_n_beta_grid_gives_one_row_per_point_and_ties_go_to_the_first_n_beta(regular):
    model, data = regular
    result = calibrate(
        model, data, nll, epsilons=(1e-4, 1e-3), n_betas=(100.0, 150.0), gamma=1.0, chains=4, draws=300, burn_in=100
    )
    assert [(row["n_beta"], row["epsilon"]) for row in result.table] == [
        (100.0, 1e-4),
        (100.0, 1e-3),
        (150.0, 1e-4),
        (150.0, 1e-3),
    ]
    assert (result.n_beta, result.epsilon) == (100.0, 1e-3)


def test_an_empty_grid_is_a_one_line_error(regular):
    model, data = regular
    with pytest.raises(UserError, match="empty grid"):
        calibrate(model, data, nll, epsilons=())
