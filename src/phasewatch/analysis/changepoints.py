"""Date the moments a (step, value) curve changes regime.

Model. On x = log10(step + 1) (or x = step), rescaled to u in [0, 1], a transition is a logistic

    y = before + (after - before) * sigmoid((u - u0) / s)

with midpoint u0 and scale s; 10 % of the change is done at u0 - s·ln 9 (the onset) and 90 % at
u0 + s·ln 9 (the end). The alternative is "no change": the best of polynomials of degree 1-3 in
u, chosen by BIC, which absorbs smooth power-law decay and slow drift.

Rule. Optimal segmentation (ruptures KernelCPD, linear kernel: least-squares mean shifts) proposes
candidates; around each, on a window of ±WINDOW of the range, the logistic is fitted (a (u0, s)
grid with before/after solved in closed form, then scipy least_squares) and the window is
re-centred on u0 once. A fit is kept only if
  - its BIC beats the no-change model's by at least `min_score` (Gaussian likelihood),
  - it is sharp: its 10-90 % width is at most `max_width` of the curve's u-range,
  - it is large: |after - before| >= `min_snr` × the noise (1.4826 × MAD of its residuals),
  - both levels are seen: at least MIN_SIDE points before the onset and after the end.
Fits of one change found from two candidates are merged (the higher score stays).

Interval. A moving-block bootstrap of the window's residuals (N_BOOT series, fixed seed) is
refitted on a fine (u0, s) grid around the estimate, all replicates in one matrix product (the
cheap equivalent of warm-started refits); step_low/high are the 5-95 % quantiles of u0, widened
to the neighbouring samples, since a change cannot be dated more finely than the grid it was seen on.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import ruptures as rpt
from scipy.optimize import least_squares
from scipy.special import expit

LN9 = float(np.log(9.0))
MIN_POINTS = 12  # fewer points cannot show two levels and a change between them
MIN_SIDE = 3  # points needed beyond the onset and beyond the end
MAX_POINTS = 300  # longer curves are averaged into this many bins of equal width in u
CANDIDATES = 5  # change points proposed by the segmentation
WINDOW = 0.25  # half-width of the fitting window, as a share of the u-range
S_MIN = 2e-4  # narrowest logistic scale: below any probe grid's spacing, i.e. a step
S_MAX = 2 * WINDOW  # widest: wide shapes must be fitted as wide, and then rejected
N_BOOT = 150
BOOT_X0, BOOT_S = 61, 5  # bootstrap grid: midpoints × scales


@dataclass(frozen=True)
class Transition:
    """One regime change. Steps are floats (the fit is continuous); width = end - onset."""

    step: float  # midpoint: half of the change done
    step_low: float  # 5 % bootstrap quantile of the midpoint
    step_high: float  # 95 %
    onset: float  # 10 % of the change done
    end: float  # 90 %
    before: float
    after: float
    width: float
    direction: int  # +1 rise, -1 fall
    score: float  # BIC(no change) - BIC(logistic)


@dataclass(frozen=True)
class _Fit:
    lo: int  # window: points lo..hi-1
    hi: int
    level: float  # `before`
    jump: float  # after - before
    u0: float
    s: float
    score: float
    noise: float


def find_transitions(
    steps,
    values,
    *,
    log_axis: bool = True,
    min_score: float = 6.0,
    max_width: float = 0.2,
    min_snr: float = 4.0,
    seed: int = 0,
) -> list[Transition]:
    """Sharp, significant regime changes of one curve, sorted by step (module docstring: the rule)."""
    steps, values = np.asarray(steps, dtype=float), np.asarray(values, dtype=float)
    ok = np.isfinite(steps) & np.isfinite(values)
    steps, values = steps[ok], values[ok]
    if log_axis and np.any(steps < 0):
        raise ValueError("find_transitions: steps must be >= 0 on a log axis")
    order = np.argsort(steps, kind="stable")
    x = np.log10(steps[order] + 1.0) if log_axis else steps[order]
    y = values[order]
    if len(x) < MIN_POINTS or np.ptp(x) == 0 or np.ptp(y) == 0:
        return []
    x_first, x_span = x[0], np.ptp(x)
    u, y = _binned((x - x_first) / x_span, y)

    fitted: list[_Fit] = []
    for index in _candidates(y):
        if any(abs(u[index] - f.u0) <= LN9 * f.s for f in fitted):
            continue  # inside a change already fitted
        fit = _fit(u, y, u[index])
        fit = fit and _fit(u, y, fit.u0)  # re-centre the window on the change
        if fit:
            fitted.append(fit)
    found = [f for f in fitted if _accepted(u, f, min_score, max_width, min_snr)]

    kept: list[tuple[_Fit, float, float]] = []
    for fit in sorted(found, key=lambda f: -f.score):
        if any(low <= fit.u0 <= high or abs(fit.u0 - k.u0) <= LN9 * max(fit.s, k.s) for k, low, high in kept):
            continue  # the same change, reached from another candidate
        kept.append((fit, *_interval(u, y, fit, seed)))

    def to_step(v: float) -> float:
        x_value = x_first + v * x_span
        return float(10.0**x_value - 1.0) if log_axis else float(x_value)

    out = []
    for fit, low, high in kept:
        onset, end = to_step(fit.u0 - LN9 * fit.s), to_step(fit.u0 + LN9 * fit.s)
        out.append(Transition(
            step=to_step(fit.u0), step_low=to_step(low), step_high=to_step(high), onset=onset, end=end,
            before=fit.level, after=fit.level + fit.jump, width=end - onset,
            direction=1 if fit.jump > 0 else -1, score=fit.score,
        ))
    return sorted(out, key=lambda t: t.step)


def _binned(u: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Long curves (train metrics logged every step) as means over MAX_POINTS equal bins in u:
    the cost stays flat and a dense linear tail does not outweigh the log-spaced start."""
    if len(u) <= MAX_POINTS:
        return u, y
    bins = np.minimum((u * MAX_POINTS).astype(int), MAX_POINTS - 1)
    counts = np.bincount(bins, minlength=MAX_POINTS)
    full = counts > 0
    return (np.bincount(bins, u, MAX_POINTS)[full] / counts[full],
            np.bincount(bins, y, MAX_POINTS)[full] / counts[full])


def _candidates(y: np.ndarray) -> list[int]:
    """Where the best piecewise-constant fit with CANDIDATES breaks changes level, largest shift first."""
    n_bkps = min(CANDIDATES, len(y) // MIN_SIDE - 1)
    bkps = rpt.KernelCPD(kernel="linear", min_size=MIN_SIDE).fit(y).predict(n_bkps=n_bkps)
    edges = [0, *bkps]
    means = [y[a:b].mean() for a, b in zip(edges[:-1], edges[1:])]
    shifts = np.abs(np.diff(means))
    return [bkps[i] for i in np.argsort(-shifts, kind="stable")]


def _profile(u: np.ndarray, ys: np.ndarray, u0: np.ndarray, s: np.ndarray):
    """Best (u0, s) of the grid for each row of `ys`, with before/after solved in closed form
    (variable projection: for a fixed sigmoid the model is linear in its two levels)."""
    phi = expit((u[None, :] - u0[:, None]) / s[:, None])  # grid × points
    centred = phi - phi.mean(axis=1, keepdims=True)
    power = np.einsum("gn,gn->g", centred, centred)
    cov = ys @ centred.T  # replicates × grid
    gain = np.where(power > 1e-12, cov**2 / np.maximum(power, 1e-12), 0.0)  # RSS drop vs a constant
    best = gain.argmax(axis=1)
    jump = cov[np.arange(len(ys)), best] / power[best]
    level = ys.mean(axis=1) - jump * phi[best].mean(axis=1)
    return level, jump, u0[best], s[best]


def _scale(log_s: float) -> float:
    return float(np.exp(np.clip(log_s, np.log(S_MIN), np.log(S_MAX))))


def _logistic(p: np.ndarray, u: np.ndarray) -> np.ndarray:
    """p = (before, after - before, u0, log s)."""
    return p[0] + p[1] * expit((u - p[2]) / _scale(p[3]))


def _jacobian(p: np.ndarray, u: np.ndarray) -> np.ndarray:
    s = _scale(p[3])
    sig = expit((u - p[2]) / s)
    slope = p[1] * sig * (1.0 - sig) / s
    free = S_MIN < s < S_MAX  # a clipped scale does not move
    return np.column_stack([np.ones_like(u), sig, -slope, -slope * (u - p[2]) * free])


def _fit(u: np.ndarray, y: np.ndarray, centre: float) -> _Fit | None:
    """The logistic on the window around `centre`, and its BIC margin over no change."""
    lo, hi = np.searchsorted(u, [centre - WINDOW, centre + WINDOW])
    uw, yw = u[lo:hi], y[lo:hi]
    n = len(uw)
    if n < MIN_POINTS:
        return None
    u0s, ss = np.meshgrid(np.linspace(uw[0], uw[-1], 40), np.geomspace(S_MIN, S_MAX, 10))
    level, jump, u0, s = (v[0] for v in _profile(uw, yw[None, :], u0s.ravel(), ss.ravel()))
    # Levenberg-Marquardt (MINPACK) polishes the grid's best; log s keeps the scale positive.
    # A few dozen evaluations suffice from there; more only chase a misfit's scale to its limit.
    p = least_squares(lambda q: _logistic(q, uw) - yw, [level, jump, u0, np.log(s)],
                      jac=lambda q: _jacobian(q, uw), method="lm", max_nfev=40).x
    residual = yw - _logistic(p, uw)
    noise = 1.4826 * float(np.median(np.abs(residual - np.median(residual))))
    return _Fit(int(lo), int(hi), float(p[0]), float(p[1]), float(p[2]), _scale(p[3]),
                _margin(uw, yw, residual), noise)


def _margin(u: np.ndarray, y: np.ndarray, residual: np.ndarray) -> float:
    """BIC(no change) - BIC(logistic). The no-change model is the BIC-best polynomial of degree
    1-3 in u. Training curves wiggle (correlated noise), which independent-error BIC would take
    for evidence: the log-likelihood ratio is scaled by (1 - r)/(1 + r), the effective share of
    independent points under AR(1) errors, r being the lag-1 autocorrelation of the logistic's
    residuals (clipped to [0, 0.9])."""
    n = len(u)
    t = 2 * (u - u[0]) / (u[-1] - u[0]) - 1  # on [-1, 1]: well conditioned
    q, _ = np.linalg.qr(np.vander(t, 4, increasing=True))
    c = q.T @ y
    smooth_rss, smooth_k = min(((_rss(y - q[:, :k] @ c[:k]), k) for k in (2, 3, 4)),
                               key=lambda m: n * np.log(m[0]) + m[1] * np.log(n))
    centred = residual - residual.mean()
    r = float(np.clip(centred[1:] @ centred[:-1] / max(centred @ centred, 1e-300), 0.0, 0.9))
    effective = (1 - r) / (1 + r)
    return float(effective * n * np.log(smooth_rss / _rss(residual)) - (4 - smooth_k) * np.log(effective * n))


def _rss(residual: np.ndarray) -> float:
    return max(float(residual @ residual), 1e-300)


def _accepted(u: np.ndarray, fit: _Fit, min_score: float, max_width: float, min_snr: float) -> bool:
    onset, end = fit.u0 - LN9 * fit.s, fit.u0 + LN9 * fit.s
    uw = u[fit.lo : fit.hi]
    return (
        fit.score >= min_score
        and end - onset <= max_width
        and abs(fit.jump) >= min_snr * fit.noise
        and np.count_nonzero(uw < onset) >= MIN_SIDE
        and np.count_nonzero(uw > end) >= MIN_SIDE
    )


def _interval(u: np.ndarray, y: np.ndarray, fit: _Fit, seed: int) -> tuple[float, float]:
    """5-95 % interval of the midpoint (in u) by moving-block bootstrap of the residuals."""
    uw, yw = u[fit.lo : fit.hi], y[fit.lo : fit.hi]
    n = len(uw)
    p = np.array([fit.level, fit.jump, fit.u0, np.log(fit.s)])
    fitted = _logistic(p, uw)
    residual = yw - fitted
    block = max(2, round(n ** (1 / 3)))  # long enough to keep short-range correlation
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, n - block + 1, size=(N_BOOT, -(-n // block)))
    index = (starts[:, :, None] + np.arange(block)).reshape(N_BOOT, -1)[:, :n]
    replicates = fitted + residual[index]

    # The refit grid spans ±6 asymptotic standard errors of u0 (or 3 sample gaps, if wider),
    # so that its spacing resolves the bootstrap spread instead of quantising it.
    right = np.searchsorted(uw, fit.u0)  # the samples either side of the midpoint
    left_u, right_u = uw[max(right - 1, 0)], uw[min(right, n - 1)]
    jac = _jacobian(p, uw)
    spread = np.sqrt(max(np.linalg.pinv(jac.T @ jac)[2, 2], 0.0) * (residual @ residual) / (n - 4))
    reach = min(max(6 * spread, 3 * (right_u - left_u)), WINDOW)
    u0s, ss = np.meshgrid(np.linspace(fit.u0 - reach, fit.u0 + reach, BOOT_X0),
                          np.clip(fit.s * np.geomspace(0.5, 2.0, BOOT_S), S_MIN, S_MAX))
    u0_star = _profile(uw, replicates, u0s.ravel(), ss.ravel())[2]
    low, high = np.quantile(u0_star, [0.05, 0.95])
    return float(min(low, left_u)), float(max(high, right_u))
