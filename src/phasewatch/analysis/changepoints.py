"""Date the moments a (step, value) curve changes regime.

Model. A transition is a logistic step, y = before + (after - before) * sigmoid((x - x0) / s),
in x = log10(step + 1) or, for changes that are symmetric in time rather than in log-time (late
in training, on the linear part of the probe grid), in x = step: both shapes are tried and the
better kept. 10 % of the change is done at x0 - s·ln 9 (the onset), 90 % at x0 + s·ln 9 (the end).
The alternative, "no change", is the BIC-best polynomial of degree 1-3 in the detection axis u
(log-step, or step with `log_axis=False`): it absorbs smooth power-law decay and slow drift.

Units. On the log axis u is log10(step + 1) itself, so every width below is in decades and the
rule does not depend on how long the run is: an exponential decay takes 1.3 decades from 10 %
to 90 % whether it ends at step 1e4 or 1e7, and is never sharp. A linear axis is read as if the
run spanned LINEAR_UNITS decades (the log span of a 1,000-step run).

Rule. Optimal segmentation (ruptures KernelCPD, linear kernel: least-squares mean shifts) proposes
CANDIDATES points. Around each, the logistic is fitted on a window of ±WINDOW, again re-centred on
the change if it lay off-centre, and again on a window of ±1.5 of its widths (so a sharp change
is judged against the levels beside it, not against the curve's other trends); a window holds at
least MIN_POINTS points. Each fit is a (x0, s) grid with before/after solved in closed form,
polished by scipy's Levenberg-Marquardt. A fit is kept only if
  - score = BIC(no change) - BIC(logistic) >= `min_score`, with the likelihood ratio discounted
    for correlated noise (`_margin`),
  - it is sharp: its 10-90 % width is at most `max_width` (decades),
  - it is large: |after - before| >= `min_snr` × the noise (1.4826 × MAD of its residuals) and
    >= `min_snr` × the curve's resolution q (`resolution`: accuracy on n items moves in steps of
    q = 1/n, so a change must move `min_snr` items; in the score, rounding to a grid of q counts
    as noise of sd q/√12),
  - both levels are seen: at least MIN_SIDE points before the onset and after the end.
Fits of one change reached from several candidates are merged (the highest score stays). The
defaults are chosen on bench/detector.py's tuning seed and reported on another.

Before any of that (`clean_curve`): points with a non-finite step are dropped, repeated steps (a
re-logged resume) are averaged into one, and the curve is cut where it diverged (`divergence`).

Interval. A moving-block bootstrap of the window's residuals (N_BOOT series, fixed seed) is
refitted on a fine (x0, s) grid around the estimate, all replicates in one matrix product: the
cheap equivalent of warm-started refits (a few ms, not N_BOOT optimiser runs). step_low/high are
the 5-95 % quantiles of the midpoint, widened to the samples either side of it, since a change
cannot be dated more finely than the grid it was seen on; `grid_limited` says that widening
decided the interval.

Levels. `before`/`after` are the fitted levels clipped to the values observed in the window, so a
fit that overshoots never reports an accuracy of 1.006 or a loss below its lowest value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares
from scipy.special import expit

LN9 = float(np.log(9.0))
MIN_SIDE = 3  # points needed beyond the onset and beyond the end
MIN_POINTS = 2 * MIN_SIDE + 2  # a level, two points of change, a level: the fewest that can show one
MAX_POINTS = 300  # longer curves are averaged into this many bins of equal width in u
CANDIDATES = 5  # change points proposed by the segmentation
MIN_SCORE = 9.0  # BIC margin; chosen on bench/detector.py --seed 1 (6 there: 2.3 % false alarms, 9: 1.0 %)
MAX_WIDTH = 0.7  # decades: the widest 10-90 % span that counts as sharp (a decay is 1.3)
WINDOW = 0.75  # decades: half-width of a candidate's first fitting window
MIN_WINDOW = 0.3  # decades: the narrowest window sized to a change
LINEAR_UNITS = 3.0  # a linear axis reads as this many decades
EXPLODE = 1e3  # a value this many times larger in magnitude than every earlier one (and than 1)
S_MIN, S_MAX = 1e-3, 1.0  # logistic scale, as a share of the window: from a step to its whole span
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
    before: float  # fitted level, clipped to the values observed in the fitting window
    after: float
    width: float
    direction: int  # +1 rise, -1 fall
    score: float  # BIC(no change) - BIC(logistic), discounted for correlated noise
    grid_limited: bool = False  # the interval is the sample spacing around the midpoint


@dataclass(frozen=True)
class _Axis:
    """x = log10(step + 1) (u = x, in decades) or step (u = LINEAR_UNITS × share of the span)."""

    log: bool
    first: float
    scale: float  # u per unit of x

    @classmethod
    def of(cls, steps: np.ndarray, log: bool) -> _Axis:
        if log:
            return cls(True, 0.0, 1.0)
        return cls(False, float(steps[0]), LINEAR_UNITS / max(float(np.ptp(steps)), 1e-300))

    def u(self, steps):
        x = np.log10(np.maximum(steps, 0.0) + 1.0) if self.log else steps
        return (x - self.first) * self.scale

    def step(self, u: float) -> float:
        x = self.first + u / self.scale
        return float(10.0**x - 1.0) if self.log else float(x)


@dataclass(frozen=True, eq=False)
class _Fit:
    """A logistic on one window, in the window's own coordinate t in [0, 1] (t = 0 at its first
    point, 1 at its last) along `axis`."""

    axis: _Axis
    origin: float  # u of t = 0
    span: float  # u-span of t in [0, 1]
    t: np.ndarray
    y: np.ndarray
    p: np.ndarray  # before, after - before, t0, log s
    score: float
    noise: float

    def at(self, t: float) -> float:
        return self.axis.step(self.origin + t * self.span)

    def when(self, done: float) -> float:
        """The step by which the share `done` of the change is done (0.5: the midpoint)."""
        return self.at(self.p[2] + _scale(self.p[3]) * math.log(done / (1 - done)))


def finite_sorted(steps, values) -> tuple[np.ndarray, np.ndarray]:
    """The curve as float arrays sorted by step: points with a non-finite step or value dropped,
    the values of a repeated step (a re-logged resume) averaged into one point."""
    steps, values = np.asarray(steps, dtype=float), np.asarray(values, dtype=float)
    ok = np.isfinite(steps) & np.isfinite(values)
    unique, where = np.unique(steps[ok], return_inverse=True)
    if len(unique) == np.count_nonzero(ok):
        return unique, values[ok][np.argsort(steps[ok], kind="stable")]
    return unique, np.bincount(where, values[ok]) / np.bincount(where)


def divergence(steps, values) -> float | None:
    """The step at which a curve diverged, or None: the first step from which every value is
    non-finite (a loss that turned NaN stays NaN), or the first value whose magnitude exceeds
    EXPLODE × max(1, every earlier magnitude) (a loss heading for 1e30; the 1 keeps a metric that
    grows from 0 from counting). Needs MIN_SIDE finite values before it; an isolated non-finite
    value is a missing point, not a divergence."""
    steps, values = np.asarray(steps, dtype=float), np.asarray(values, dtype=float)
    order = np.argsort(steps, kind="stable")
    steps, values = steps[order], values[order]
    finite = np.isfinite(values)
    if np.count_nonzero(finite) < MIN_SIDE:
        return None
    last = np.flatnonzero(finite)[-1]
    first_lost = last + 1 if last + 1 < len(values) else None
    seen, index_of = values[finite], np.flatnonzero(finite)
    largest = np.maximum.accumulate(np.maximum(np.abs(seen), 1.0))
    exploded = np.flatnonzero(np.abs(seen[MIN_SIDE:]) > EXPLODE * largest[MIN_SIDE - 1 : -1])
    if len(exploded):
        index = index_of[exploded[0] + MIN_SIDE]
        return float(steps[index if first_lost is None else min(index, first_lost)])
    return None if first_lost is None else float(steps[first_lost])


def clean_curve(steps, values) -> tuple[np.ndarray, np.ndarray]:
    """`finite_sorted`, cut before the `divergence` if the curve diverged."""
    diverged = divergence(steps, values)
    steps, values = finite_sorted(steps, values)
    if diverged is not None:
        keep = steps < diverged
        steps, values = steps[keep], values[keep]
    return steps, values


def resolution(values) -> float:
    """The curve's quantum q when its values lie on a grid of q (accuracy on n items: q = 1/n),
    else 0. Read off the values: the smallest gap between distinct values, accepted when at least
    3 distinct values lie on its multiples. A curve of two values cannot show its grid."""
    levels = np.unique(np.asarray(values, dtype=float)[np.isfinite(values)])
    if len(levels) < 3:
        return 0.0
    q = float(np.diff(levels).min())
    k = (levels - levels[0]) / q
    if k[-1] > 1e6 or np.abs(k - np.round(k)).max() > 1e-3 * max(1.0, k[-1] * 1e-4):
        return 0.0
    return q


def no_verdict(steps, values, *, log_axis: bool = True, max_width: float = MAX_WIDTH) -> str | None:
    """Why a curve cannot be judged at all, or None: too few points, constant, or sampled so
    coarsely that no sharp change could show MIN_POINTS points (its median gap on the detection
    axis is wider than `max_width` / 2)."""
    return _verdict(*clean_curve(steps, values), log_axis, max_width)


def _verdict(steps: np.ndarray, values: np.ndarray, log_axis: bool, max_width: float) -> str | None:
    """`no_verdict` of a curve already through `clean_curve`."""
    if len(steps) < MIN_POINTS:
        return f"{len(steps)} point{'s' * (len(steps) != 1)}, {MIN_POINTS} needed"
    if np.ptp(values) == 0:
        return "constant"
    u = _Axis.of(steps, log_axis).u(steps)
    gap = float(np.median(np.diff(u)))
    if gap > max_width / 2:
        unit = "decades" if log_axis else "units"
        return f"too coarse: points {gap:.2f} {unit} apart, a change of {max_width} {unit} needs two inside"
    return None


def find_transitions(
    steps,
    values,
    *,
    log_axis: bool = True,
    min_score: float = MIN_SCORE,
    max_width: float = MAX_WIDTH,
    min_snr: float = 4.0,
    seed: int = 0,
) -> list[Transition]:
    """Sharp, significant regime changes of one curve, sorted by step (module docstring: the rule).
    `max_width` is in decades of step on the log axis."""
    raw = np.asarray(values, dtype=float)
    steps, y = clean_curve(steps, values)
    if log_axis and np.any(steps < 0):
        raise ValueError("find_transitions: steps must be >= 0 on a log axis")
    if _verdict(steps, y, log_axis, max_width) is not None:
        return []
    quantum = resolution(raw)
    floor = max(quantum / math.sqrt(12), 1e-9 * float(np.abs(y).max()))
    axis = _Axis.of(steps, log_axis)
    steps, y = _binned(axis.u(steps), steps, y)
    u = axis.u(steps)
    shapes = [axis, _Axis.of(steps, False)] if log_axis else [axis]  # the logistic's x

    found: list[_Fit] = []
    sharp: list[_Fit] = []  # kept or not: a candidate inside one of these would only repeat it
    for index in _candidates(y):
        if any(f.when(0.1) <= steps[index] <= f.when(0.9) for f in sharp):
            continue
        fits = [
            f
            for shape in shapes
            for f in _fits_around(u, shape.u(steps), y, u[index], shape, axis, floor)
            if axis.u(f.when(0.9)) - axis.u(f.when(0.1)) <= max_width
        ]
        sharp += fits
        kept = [f for f in fits if _accepted(f, min_score, min_snr, quantum)]
        if kept:
            found.append(max(kept, key=lambda f: f.score))

    out: list[Transition] = []
    for fit in sorted(found, key=lambda f: -f.score):
        onset, mid, end = fit.when(0.1), fit.when(0.5), fit.when(0.9)
        if any(t.onset <= mid <= t.end or t.step_low <= mid <= t.step_high for t in out):
            continue  # the same change, reached from another candidate
        low, high, limited = _interval(fit, seed)
        low_level, high_level = float(fit.y.min()), float(fit.y.max())
        before = float(np.clip(fit.p[0], low_level, high_level))
        after = float(np.clip(fit.p[0] + fit.p[1], low_level, high_level))
        out.append(
            Transition(
                step=mid,
                step_low=low,
                step_high=high,
                onset=onset,
                end=end,
                before=before,
                after=after,
                width=end - onset,
                direction=1 if fit.p[1] > 0 else -1,
                score=fit.score,
                grid_limited=limited,
            )
        )
    return sorted(out, key=lambda t: t.step)


def _binned(u: np.ndarray, steps: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Long curves (train metrics logged every step) as means over MAX_POINTS equal bins in u:
    the cost stays flat and a dense linear tail does not outweigh the log-spaced start."""
    if len(u) <= MAX_POINTS:
        return steps, y
    bins = np.minimum(((u - u[0]) / np.ptp(u) * MAX_POINTS).astype(int), MAX_POINTS - 1)
    counts = np.bincount(bins, minlength=MAX_POINTS)
    full = counts > 0
    return (np.bincount(bins, steps, MAX_POINTS)[full] / counts[full], np.bincount(bins, y, MAX_POINTS)[full] / counts[full])


def _candidates(y: np.ndarray) -> list[int]:
    """Where the best piecewise-constant fit with CANDIDATES breaks changes level, largest shift first."""
    n_bkps = min(CANDIDATES, len(y) // MIN_SIDE - 1)
    import ruptures  # here, not at the top: it costs 1.5 s to import and the CLI starts often

    bkps = ruptures.KernelCPD(kernel="linear", min_size=MIN_SIDE).fit(y).predict(n_bkps=n_bkps)
    edges = [0, *bkps]
    means = [y[a:b].mean() for a, b in zip(edges[:-1], edges[1:])]
    shifts = np.abs(np.diff(means))
    return [bkps[i] for i in np.argsort(-shifts, kind="stable")]


def _profile(t: np.ndarray, ys: np.ndarray, t0: np.ndarray, s: np.ndarray):
    """Best (t0, s) of the grid for each row of `ys`, with before/after solved in closed form
    (variable projection: for a fixed sigmoid the model is linear in its two levels)."""
    phi = expit((t[None, :] - t0[:, None]) / s[:, None])  # grid × points
    centred = phi - phi.mean(axis=1, keepdims=True)
    power = np.einsum("gn,gn->g", centred, centred)
    cov = ys @ centred.T  # replicates × grid
    gain = np.where(power > 1e-12, cov**2 / np.maximum(power, 1e-12), 0.0)  # RSS drop vs a constant
    best = gain.argmax(axis=1)
    jump = cov[np.arange(len(ys)), best] / power[best]
    level = ys.mean(axis=1) - jump * phi[best].mean(axis=1)
    return level, jump, t0[best], s[best]


def _scale(log_s: float) -> float:
    return math.exp(min(max(log_s, math.log(S_MIN)), math.log(S_MAX)))


def _logistic(p: np.ndarray, t: np.ndarray) -> np.ndarray:
    """p = (before, after - before, t0, log s)."""
    return p[0] + p[1] * expit((t - p[2]) / _scale(p[3]))


def _jacobian(p: np.ndarray, t: np.ndarray) -> np.ndarray:
    s = _scale(p[3])
    sig = expit((t - p[2]) / s)
    slope = p[1] * sig * (1.0 - sig) / s
    free = S_MIN < s < S_MAX  # a clipped scale does not move
    return np.column_stack([np.ones_like(t), sig, -slope, -slope * (t - p[2]) * free])


def _fits_around(
    u: np.ndarray, c: np.ndarray, y: np.ndarray, centre: float, shape: _Axis, axis: _Axis, floor: float
) -> list[_Fit]:
    """The logistic in `c` on the candidate's window, re-centred, and sized to the change."""
    first = _fit(u, c, y, centre, WINDOW, shape, floor)
    if first is None:
        return []
    fits: list[_Fit | None] = [first]
    mid = axis.u(first.when(0.5))
    half = max(1.5 * (axis.u(first.when(0.9)) - axis.u(first.when(0.1))), MIN_WINDOW)
    if abs(mid - centre) > WINDOW / 4:
        fits.append(_fit(u, c, y, mid, WINDOW, shape, floor))
    if half < 0.75 * WINDOW:
        fits.append(_fit(u, c, y, mid, half, shape, floor))
    return [f for f in fits if f is not None]


def _fit(u: np.ndarray, c: np.ndarray, y: np.ndarray, centre: float, half: float, shape: _Axis, floor: float) -> _Fit | None:
    """The logistic in coordinate `c` (on `shape`) over the window centre ± half of u, widened
    to MIN_POINTS points if it holds fewer. `floor`: the noise sd no curve is below."""
    lo, hi = _window(u, centre, half)
    if c[hi - 1] == c[lo]:
        return None
    origin, span = c[lo], c[hi - 1] - c[lo]
    t, yw = (c[lo:hi] - origin) / span, y[lo:hi]
    t0s, ss = np.meshgrid(np.linspace(0, 1, 40), np.geomspace(S_MIN, S_MAX, 10))
    level, jump, t0, s = (v[0] for v in _profile(t, yw[None, :], t0s.ravel(), ss.ravel()))
    # Levenberg-Marquardt (MINPACK) polishes the grid's best; log s keeps the scale positive.
    # A few dozen evaluations suffice from there; more only chase a misfit's scale to its limit.
    p = least_squares(
        lambda q: _logistic(q, t) - yw, [level, jump, t0, np.log(s)], jac=lambda q: _jacobian(q, t), method="lm", max_nfev=25
    ).x
    residual = yw - _logistic(p, t)
    noise = max(1.4826 * float(np.median(np.abs(residual - np.median(residual)))), floor)
    # The no-change model lives on the detection axis u, whatever the logistic's shape.
    return _Fit(shape, float(origin), float(span), t, yw, p, _margin(u[lo:hi], yw, residual, floor), noise)


def _window(u: np.ndarray, centre: float, half: float) -> tuple[int, int]:
    """Indices [lo, hi) of the points within centre ± half, grown to MIN_POINTS around the centre."""
    lo, hi = (int(i) for i in np.searchsorted(u, [centre - half, centre + half]))
    while hi - lo < MIN_POINTS and (lo > 0 or hi < len(u)):
        left = centre - u[lo - 1] if lo > 0 else np.inf
        right = u[hi] - centre if hi < len(u) else np.inf
        lo, hi = (lo - 1, hi) if left <= right else (lo, hi + 1)
    return lo, hi


def _margin(u: np.ndarray, y: np.ndarray, residual: np.ndarray, floor: float) -> float:
    """BIC(no change) - BIC(logistic). The no-change model is the BIC-best polynomial of degree
    1-3 in u. Training curves wiggle (correlated noise), which independent-error BIC would take
    for evidence: the log-likelihood ratio is scaled by (1 - r)/(1 + r), the effective share of
    independent points under AR(1) errors, r being the lag-1 autocorrelation of the logistic's
    residuals (clipped to [0, 0.9]). Both residual sums are at least n·floor², the least noise a
    curve of that resolution has, so a noise-free fit is not infinitely better than another."""
    n = len(u)
    t = 2 * (u - u[0]) / (u[-1] - u[0]) - 1  # on [-1, 1]: well conditioned
    q, _ = np.linalg.qr(np.vander(t, 4, increasing=True))
    c = q.T @ y
    least = n * floor**2
    smooth_rss, smooth_k = min(
        ((_rss(y - q[:, :k] @ c[:k], least), k) for k in (2, 3, 4)), key=lambda m: n * np.log(m[0]) + m[1] * np.log(n)
    )
    centred = residual - residual.mean()
    r = float(np.clip(centred[1:] @ centred[:-1] / max(centred @ centred, 1e-300), 0.0, 0.9))
    effective = (1 - r) / (1 + r)
    return float(effective * n * np.log(smooth_rss / _rss(residual, least)) - (4 - smooth_k) * np.log(effective * n))


def _rss(residual: np.ndarray, least: float) -> float:
    return max(float(residual @ residual), least, 1e-300)


def _accepted(fit: _Fit, min_score: float, min_snr: float, quantum: float) -> bool:
    onset, end = fit.p[2] - LN9 * _scale(fit.p[3]), fit.p[2] + LN9 * _scale(fit.p[3])
    return bool(
        fit.score >= min_score
        and abs(fit.p[1]) >= min_snr * max(fit.noise, quantum)
        and np.count_nonzero(fit.t < onset) >= MIN_SIDE
        and np.count_nonzero(fit.t > end) >= MIN_SIDE
    )


def _interval(fit: _Fit, seed: int) -> tuple[float, float, bool]:
    """5-95 % interval of the midpoint, in steps, by moving-block bootstrap of the residuals, and
    whether the sample spacing around the midpoint, not the bootstrap, set it."""
    t, n = fit.t, len(fit.t)
    fitted = _logistic(fit.p, t)
    residual = fit.y - fitted
    block = max(2, round(n ** (1 / 3)))  # long enough to keep short-range correlation
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, n - block + 1, size=(N_BOOT, -(-n // block)))
    index = (starts[:, :, None] + np.arange(block)).reshape(N_BOOT, -1)[:, :n]
    replicates = fitted + residual[index]

    # The refit grid spans ±6 asymptotic standard errors of t0 (or 3 sample gaps, if wider),
    # so that its spacing resolves the bootstrap spread instead of quantising it.
    t0 = fit.p[2]
    right = np.searchsorted(t, t0)  # the samples either side of the midpoint
    left_t, right_t = t[max(right - 1, 0)], t[min(right, n - 1)]
    jac = _jacobian(fit.p, t)
    spread = np.sqrt(max(np.linalg.pinv(jac.T @ jac)[2, 2], 0.0) * (residual @ residual) / (n - 4))
    reach = min(max(6 * spread, 3 * (right_t - left_t)), 0.5)
    t0s, ss = np.meshgrid(
        np.linspace(t0 - reach, t0 + reach, BOOT_X0), np.clip(_scale(fit.p[3]) * np.geomspace(0.5, 2.0, BOOT_S), S_MIN, S_MAX)
    )
    low, high = np.quantile(_profile(t, replicates, t0s.ravel(), ss.ravel())[2], [0.05, 0.95])
    return fit.at(min(low, left_t)), fit.at(max(high, right_t)), bool(low >= left_t and high <= right_t)
