"""Scaling-law fits: Chinchilla's approach 3 and Kaplan's single-variable law, with bootstrap intervals.

Both laws are one form: the predicted log loss is a log-sum-exp of power-law terms and a floor,

    log L̂ = LSE(a₁ − α₁·log x₁, …, a_K − α_K·log x_K, e)      L̂ = E + Σ_k A_k / x_k^{α_k}

(A_k = e^{a_k}, E = e^e). Chinchilla (Hoffmann et al. 2022, approach 3) has the terms N and D:
L(N, D) = E + A/N^α + B/D^β; Kaplan et al. 2020 one term, L(X) = E + (X_c/X)^α for X = N, D or C
(so A = X_c^α; Kaplan's own fits have no floor E, ours keeps one, as the issue asks).

The objective is Besiroglu et al. 2024's re-implementation of approach 3: the **sum** over points
of Huber(log L̂ − log L) with δ = 1e-3 (scipy.special.huber: r²/2 inside δ, δ(|r| − δ/2) outside;
the mean, with default L-BFGS tolerances, stops early: the original paper's fit), minimised by
L-BFGS-B with an analytic gradient and tight tolerances from every point of the grid
α, β ∈ {0, 0.5, …, 2}, e ∈ {−1, −0.5, …, 1}, a, b ∈ {0, 5, …, 25} (4,500 starts for Chinchilla,
150 for Kaplan), keeping the lowest objective.

The grid is searched in two stages, for speed: the objective at all its points at once (one
vectorised evaluation, milliseconds), then L-BFGS-B from the `STARTS` points with the lowest
objective (`starts=None`: from every point, as Besiroglu et al.; `bench/scaling.py` checks that
both find the same optimum).

Intervals are percentile bootstrap intervals over points resampled with replacement (Besiroglu
et al.'s method). Departure, for speed: a resample's fit starts from the full-data optimum only,
not from the grid (5 ms a resample instead of seconds; `bench/scaling.py` counts how often the
grid's best starts find a lower objective on a resample).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import logsumexp

from phasewatch.errors import UserError

DELTA = 1e-3  # Huber δ on log loss (Hoffmann et al. 2022)
FORMS = ("chinchilla", "kaplan")
VARIABLES = ("N", "D", "C")  # the CSV columns a law may use: parameters, tokens, FLOPs
EXPONENTS = np.arange(0.0, 2.01, 0.5)  # α, β start grid
FLOORS = np.arange(-1.0, 1.01, 0.5)  # e = log E start grid
SCALES = np.arange(0.0, 25.01, 5.0)  # a, b = log A, log B start grid
STARTS = 64  # L-BFGS-B runs from this many grid points, those with the lowest objective
LEVEL = 0.95  # bootstrap interval coverage (Besiroglu et al.'s 95 %)
# L-BFGS-B run to convergence: the default ftol (2.2e-9 relative) stops early on an objective of ~1e-3.
OPTIONS = {"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10_000, "maxfun": 20_000}


@dataclass(frozen=True)
class ScalingFit:
    """A fitted law. `params`: E and per term its coefficient and exponent (Chinchilla: E, A, B,
    alpha, beta; Kaplan: E, A, alpha and X_c = A^{1/α}); `intervals`: (low, high) of each at `level`."""

    form: str
    variables: tuple[str, ...]
    params: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    objective: float
    points: int
    starts: int
    resamples: int
    level: float
    seconds: float
    theta: np.ndarray = field(repr=False)  # (a₁, α₁, …, a_K, α_K, e)

    def predict(self, *columns: np.ndarray) -> np.ndarray:
        """L̂ at the given values of `variables` (one array each, same shape)."""
        log_x = np.stack([np.log(np.asarray(c, dtype=np.float64)) for c in columns], axis=-1)
        return np.exp(_log_prediction(self.theta, log_x.reshape(-1, len(columns)))).reshape(np.shape(columns[0]))

    def compute_optimal(self, compute: np.ndarray | float) -> dict[str, np.ndarray]:
        """Chinchilla only: the allocation minimising L(N, D) at C = 6·N·D (Hoffmann et al. eq. 4):
        N_opt = G·(C/6)^{β/(α+β)}, D_opt = (C/6)^{α/(α+β)}/G, G = (αA/(βB))^{1/(α+β)}."""
        if self.form != "chinchilla":
            raise UserError(f"compute_optimal: needs the chinchilla form (this fit is {self.form!r})")
        p = self.params
        alpha, beta = p["alpha"], p["beta"]
        g = (alpha * p["A"] / (beta * p["B"])) ** (1 / (alpha + beta))
        c6 = np.asarray(compute, dtype=np.float64) / 6
        n_opt = g * c6 ** (beta / (alpha + beta))
        d_opt = c6 ** (alpha / (alpha + beta)) / g
        return {"N_opt": n_opt, "D_opt": d_opt, "tokens_per_parameter": d_opt / n_opt}

    def to_json(self) -> dict:
        return {
            "form": self.form,
            "variables": list(self.variables),
            **self.params,
            "intervals": {k: list(v) for k, v in self.intervals.items()},
            "level": self.level,
            "objective": self.objective,
            "points": self.points,
            "starts": self.starts,
            "resamples": self.resamples,
            "seconds": self.seconds,
        }


# ---- the objective ------------------------------------------------------------------------------


def _terms(theta: np.ndarray, log_x: np.ndarray) -> np.ndarray:
    """(…, P, K+1): a_k − α_k·log x_k for each term, then e; theta (…, 2K+1), log_x (P, K)."""
    k = log_x.shape[1]
    terms = np.empty((*theta.shape[:-1], len(log_x), k + 1))  # filled in place: this is L-BFGS's hot path
    terms[..., :k] = theta[..., None, 0 : 2 * k : 2] - theta[..., None, 1 : 2 * k : 2] * log_x
    terms[..., k] = theta[..., None, 2 * k]
    return terms


def _log_prediction(theta: np.ndarray, log_x: np.ndarray) -> np.ndarray:
    return logsumexp(_terms(theta, log_x), axis=-1)


def _huber(r: np.ndarray) -> np.ndarray:
    small = np.abs(r) <= DELTA
    return np.where(small, 0.5 * r**2, DELTA * (np.abs(r) - 0.5 * DELTA))


def objective(theta: np.ndarray, log_x: np.ndarray, log_loss: np.ndarray) -> np.ndarray:
    """Σ_points Huber_δ(log L̂ − log L); theta (…, 2K+1) gives (…,) values (the grid at once)."""
    return _huber(_log_prediction(theta, log_x) - log_loss).sum(axis=-1)


def _value_and_gradient(theta: np.ndarray, log_x: np.ndarray, log_loss: np.ndarray) -> tuple[float, np.ndarray]:
    """The objective of one theta (2K+1,) and its gradient, for L-BFGS-B; log_x (P, K)."""
    k = log_x.shape[1]
    terms = _terms(theta, log_x)  # (P, K+1)
    top = terms.max(axis=1, keepdims=True)
    shares = np.exp(terms - top)
    total = shares.sum(axis=1)
    shares /= total[:, None]  # softmax: ∂ log L̂ / ∂ term
    r = top[:, 0] + np.log(total) - log_loss
    weights = shares * np.clip(r, -DELTA, DELTA)[:, None]  # Huber'(r) · ∂ log L̂ / ∂ term, (P, K+1)
    gradient = np.empty_like(theta)
    gradient[0 : 2 * k : 2] = weights[:, :k].sum(axis=0)
    gradient[1 : 2 * k : 2] = -(weights[:, :k] * log_x).sum(axis=0)
    gradient[2 * k] = weights[:, k].sum()
    return float(_huber(r).sum()), gradient


def start_grid(terms: int) -> np.ndarray:
    """(S, 2K+1): every combination of a ∈ SCALES and α ∈ EXPONENTS per term, and e ∈ FLOORS."""
    axes = [SCALES, EXPONENTS] * terms + [FLOORS]
    return np.array(list(itertools.product(*axes)), dtype=np.float64)


def _minimise(starts: np.ndarray, log_x: np.ndarray, log_loss: np.ndarray) -> tuple[np.ndarray, float]:
    best, best_value = starts[0], math.inf
    for start in starts:
        result = minimize(_value_and_gradient, start, args=(log_x, log_loss), jac=True, method="L-BFGS-B", options=OPTIONS)
        if np.isfinite(result.fun) and result.fun < best_value:
            best, best_value = result.x, float(result.fun)
    return best, best_value


# ---- fitting ------------------------------------------------------------------------------------


def _named(form: str, variables: Sequence[str], theta: np.ndarray) -> dict[str, float]:
    params = {"E": float(np.exp(theta[-1]))}
    if form == "chinchilla":
        params |= {"A": float(np.exp(theta[0])), "alpha": float(theta[1]), "B": float(np.exp(theta[2])), "beta": float(theta[3])}
    else:
        alpha = float(theta[1])
        params |= {
            "A": float(np.exp(theta[0])),
            "alpha": alpha,
            f"{variables[0]}_c": float(np.exp(theta[0] / alpha)) if alpha else math.inf,
        }
    return params


def fit_scaling_law(
    data,
    *,
    form: str = "chinchilla",
    variable: str = "N",
    resamples: int = 1000,
    seed: int = 0,
    level: float = LEVEL,
    starts: int | None = STARTS,
) -> ScalingFit:
    """Fit `form` to `data` (a DataFrame or mapping with columns N, D, C and `loss`; only the ones
    the form uses are read): Chinchilla's L(N, D) = E + A/N^α + B/D^β, or Kaplan's
    L(X) = E + (X_c/X)^α with X = `variable`. Bootstrap intervals at `level` from `resamples`
    resamples (0: none) drawn with `seed`. `starts`: run L-BFGS-B from the `starts` grid points
    with the lowest objective (None: from every grid point)."""
    if form not in FORMS:
        raise UserError(f"form: {form!r} is not allowed (one of {', '.join(FORMS)})")
    if variable not in VARIABLES:
        raise UserError(f"variable: {variable!r} is not allowed (one of {', '.join(VARIABLES)})")
    if resamples < 0:
        raise UserError(f"resamples: {resamples} is not allowed (0 or more)")
    if not 0 < level < 1:
        raise UserError(f"level: {level} is not allowed (between 0 and 1, e.g. 0.95)")
    variables = ("N", "D") if form == "chinchilla" else (variable,)
    log_x, log_loss = _columns(data, variables)
    began = time.perf_counter()
    grid = start_grid(len(variables))
    if starts is not None:
        if starts < 1:
            raise UserError(f"starts: {starts} is not allowed (1 or more, or None for the whole grid)")
        grid = grid[np.argsort(objective(grid, log_x, log_loss), kind="stable")[:starts]]
    theta, value = _minimise(grid, log_x, log_loss)
    intervals: dict[str, tuple[float, float]] = {}
    if resamples:
        rng = np.random.default_rng(seed)
        draws = []
        for _ in range(resamples):
            rows = rng.integers(0, len(log_loss), len(log_loss))
            draws.append(_named(form, variables, _minimise(theta[None], log_x[rows], log_loss[rows])[0]))
        tail = 100 * (1 - level) / 2
        for key in draws[0]:
            values = np.array([d[key] for d in draws])
            intervals[key] = (float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail)))
    return ScalingFit(
        form=form,
        variables=variables,
        params=_named(form, variables, theta),
        intervals=intervals,
        objective=value,
        points=len(log_loss),
        starts=len(grid),
        resamples=resamples,
        level=level,
        seconds=time.perf_counter() - began,
        theta=theta,
    )


def _columns(data, variables: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(P, K) log of the variables and (P,) log loss, checked: present, finite, positive."""
    arrays = {}
    for name in (*variables, "loss"):
        try:
            column = data[name]
        except (KeyError, IndexError, TypeError):
            raise UserError(f"{name}: column missing (the data needs {', '.join((*variables, 'loss'))})") from None
        try:
            values = np.asarray(column, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise UserError(f"{name}: not numbers (every value must be a positive number)") from None
        bad = ~(np.isfinite(values) & (values > 0))
        if bad.any():
            raise UserError(
                f"{name}: {float(values[bad][0])!r} in row {int(np.argmax(bad))} is not allowed (every value must be a positive finite number)"
            )
        arrays[name] = values
    points = len(arrays["loss"])
    needed = 2 * len(variables) + 2
    if points < needed:
        raise UserError(f"loss: {points} points is not allowed (the {len(variables)}-variable law needs at least {needed})")
    return np.log(np.stack([arrays[v] for v in variables], axis=1)), np.log(arrays["loss"])


def read_points(path: str | Path) -> pd.DataFrame:
    """A CSV of points (columns among N, D, C and loss) as a DataFrame; one-line errors."""
    file = Path(path)
    if not file.is_file():
        raise UserError(f"CSV: {str(file)!r} is not a file")
    try:
        return pd.read_csv(file)
    except (ValueError, UnicodeDecodeError) as error:
        raise UserError(f"CSV: {str(file)!r} cannot be read as CSV ({str(error).splitlines()[0]})") from None
