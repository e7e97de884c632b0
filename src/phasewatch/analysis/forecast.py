"""Forecasting a transition before it shows: at step t, from a run's metrics up to t only, when
will its target happen (a step with a 90 % interval), and how likely is it to happen at all
before the run's planned end.

A target is an event kind (`grokking`, `induction_onset`: the run's first event of that kind, on
any metric) or a level crossing (`test/accuracy>=0.9`: the first probe step at or above it).
Three forecasters, each fitted on a set of runs (`History`) and applied to others:

- `TargetExtrapolation`, the baseline: a logistic in log-step fitted to the target metric's own
  history (floor: its first values; ceiling: the level the training runs reached after the
  event), extrapolated to where the rise is half done (an event) or crosses the level.
- `Precursors` (analysis/precursors.py): gradient-boosted trees predicting log T from features
  of every other metric so far (its level, its slope in log-step, when it made half its largest
  move), and a classifier of whether the target happens by the end.
- `WeightDecayClock`, the mechanism (Liu et al. 2022, "Omnigrok"): decoupled weight decay shrinks
  the weights by 1 − lr·wd per step, so grokking follows train-accuracy saturation after a delay
  ∝ (1/(lr·wd))^b; log delay = a + b·log(1/(lr·wd)) is fitted on the training runs (b is
  measured, not assumed to be 1). It applies only to runs with weight decay and a train accuracy.

Every forecaster is calibrated the same way (`fit`): split-conformal residuals r = log T − log T̂,
out of fold (5 folds of runs, or of groups of runs such as configurations), binned by how far
the run is into its predicted wait (t / T̂). The point forecast is T̂·exp(median r), the interval T̂·exp(5 % and 95 % quantiles of r) — nominal
90 % coverage on runs exchangeable with the training runs, which the backtest measures rather
than assumes. The probability is the classifier's for `Precursors`, else the share of residuals
that put T before the end. A fitted forecaster is plain JSON (`to_dict`; `from_dict` in
analysis/precursors.py, beside the registry of all three); nothing is pickled.
"""

from __future__ import annotations

import math
import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from scipy.optimize import least_squares

from phasewatch.errors import UserError
from phasewatch.probes.training import FORECAST, TRAIN_ACCURACY

Curves = dict[str, tuple[np.ndarray, np.ndarray]]
COVERAGE = 0.9  # nominal coverage of every interval
FOLDS = 5
PROGRESS_BINS = (0.25, 0.5, 0.75)  # t / T̂ bin edges of the conformal residuals
MIN_BIN = 20  # residuals a bin needs before it stands on its own (else all residuals are used)
SATURATED = 0.99  # train accuracy at which memorisation is over (analysis/delay.py's level)
RISE_SEEN = 0.1  # share of the floor-to-ceiling rise the baseline must see before it extrapolates
SAMPLES = 16  # probe steps per run a forecaster is fitted and calibrated at


@dataclass(frozen=True)
class Target:
    """What is forecast: an event kind, or a metric crossing a level."""

    text: str
    kind: str | None = None
    metric: str | None = None
    level: float | None = None

    @classmethod
    def parse(cls, text: str) -> Target:
        """`grokking` (an event kind) or `METRIC>=LEVEL` (a crossing)."""
        crossing = re.fullmatch(r"\s*([^<>=\s]+)\s*>=\s*([-+0-9.eE]+)\s*", text)
        if crossing:
            return cls(text, metric=crossing[1], level=float(crossing[2]))
        if not re.fullmatch(r"[a-z_]+", text):
            raise UserError(f"--target: {text!r} is not allowed (an event kind such as grokking, or METRIC>=LEVEL)")
        return cls(text, kind=text)

    @property
    def name(self) -> str:
        """A metric-name segment: the kind, or `test_accuracy_ge_0.9`."""
        return self.kind or f"{str(self.metric).replace('/', '_')}_ge_{self.level:g}"

    def reached(self, curves: Curves, events: Sequence[dict]) -> tuple[float, str] | None:
        """When a finished run reached the target and the metric that dates it (None: never)."""
        if self.kind is not None:
            dated = sorted((e["step"], e["metric"]) for e in events if e["kind"] == self.kind)
            return (float(dated[0][0]), dated[0][1]) if dated else None
        steps, values = curves.get(str(self.metric), (np.array([]), np.array([])))
        above = np.flatnonzero(values >= float(self.level))  # type: ignore[arg-type]
        return (float(steps[above[0]]), str(self.metric)) if len(above) else None


@dataclass
class History:
    """One run as the forecasters see it: its curves on the probe grid (the target metric's
    steps; a per-step metric is read at those steps), its planned end, config and the truth."""

    run: str
    curves: Curves
    grid: np.ndarray  # probe steps, ascending
    end: int
    config: dict[str, Any] = field(default_factory=dict)
    truth: float | None = None  # the target's step; None: never within the run
    truth_metric: str | None = None  # the metric the target's event is dated on
    memo: dict[tuple, list[float]] = field(default_factory=dict, repr=False)  # per-metric features, by (metric, t, log)

    def upto(self, metric: str, t: float) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) of `metric` at grid steps ≤ t (each the last value at or before it)."""
        steps, values = self.curves[metric]
        grid = self.grid[(self.grid <= t) & (self.grid >= steps[0])]
        return grid, values[np.searchsorted(steps, grid, side="right") - 1]


def probe_grid(data: Curves) -> np.ndarray:
    """The probe steps: those of the sparsest metric recorded at more than half the steps of the
    densest probe metric (a per-step training curve is denser; a metric probed only now and then,
    such as the LLC, sparser)."""
    lengths = sorted({len(steps) for name, (steps, _) in data.items() if not FORECAST.matches(name)})
    probed = [n for n in lengths if n < lengths[-1]] or lengths
    grid_length = min(n for n in probed if n > probed[-1] / 2)
    return next(steps for name, (steps, _) in data.items() if len(steps) == grid_length and not FORECAST.matches(name))


@dataclass(frozen=True)
class Forecast:
    step: float  # the predicted step of the target (inf: not before the end of time)
    low: float
    high: float
    probability: float  # that the target happens by the run's end

    def to_dict(self) -> dict[str, float]:
        return {"step": self.step, "low": self.low, "high": self.high, "probability": self.probability}


# ---- calibration, shared by every forecaster ------------------------------------------------------


def _bin(progress: float) -> int:
    return int(np.searchsorted(PROGRESS_BINS, progress, side="right"))


@dataclass
class Residuals:
    """Out-of-fold log-step residuals, per progress bin (t / T̂)."""

    bins: list[list[float]] = field(default_factory=lambda: [[] for _ in range(len(PROGRESS_BINS) + 1)])

    def add(self, t: float, log_hat: float, log_truth: float) -> None:
        self.bins[_bin(t / math.exp(log_hat))].append(log_truth - log_hat)

    def of(self, t: float, log_hat: float) -> np.ndarray:
        chosen = np.asarray(self.bins[_bin(t / math.exp(min(log_hat, 700.0)))])
        return chosen if len(chosen) >= MIN_BIN else np.asarray([r for b in self.bins for r in b])


class Forecaster:
    """Subclasses set `name` and implement `fit_model`, `params`, `load_params`, `needs` and
    `log_step` (or `log_steps`, its batch over one run's forecast times), and may give
    `own_probabilities` (or `predict`, both at once)."""

    name: ClassVar[str]

    def __init__(self) -> None:
        self.residuals = Residuals()
        self.end = 0

    # -- what each forecaster defines
    def fit_model(self, histories: Sequence[History], target: Target) -> None:
        raise NotImplementedError

    def log_step(self, history: History, t: float) -> float | None:
        """log T̂ from the history up to t; None where this forecaster does not apply."""
        raise NotImplementedError

    def log_steps(self, history: History, times: Sequence[float]) -> list[float | None]:
        return [self.log_step(history, t) for t in times]

    def own_probabilities(self, history: History, times: Sequence[float]) -> list[float | None]:
        return [None] * len(times)

    def predict(self, history: History, times: Sequence[float]) -> tuple[list[float | None], list[float | None]]:
        """(log T̂, its own probability or None) at each of `times`."""
        return self.log_steps(history, times), self.own_probabilities(history, times)

    def needs(self) -> list[str]:
        """The metrics a run must record for this fitted forecaster to forecast at all."""
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        raise NotImplementedError

    def load_params(self, params: dict[str, Any]) -> None:
        raise NotImplementedError

    # -- shared
    def fit(self, histories: Sequence[History], target: Target, groups: Sequence[Hashable] | None = None) -> Forecaster:
        """Calibrate on out-of-fold residuals, then fit the model on every history. `groups` (one
        per history, e.g. its configuration) keeps each group within one fold, so the residuals
        are those of groups the model never saw: calibrate the way the forecaster will be used
        (on new configurations, say). Without groups, or with fewer than `FOLDS`, runs are folded."""
        self.target, self.end = target, max(h.end for h in histories)
        keys = list(groups) if groups is not None and len(set(groups)) >= FOLDS else list(range(len(histories)))
        fold_of = {key: i % FOLDS for i, key in enumerate(sorted(set(keys), key=repr))}
        folds = [fold_of[key] for key in keys]
        for fold in range(FOLDS):
            held = [h for h, f in zip(histories, folds) if f == fold]
            part = type(self)()
            part.fit_model([h for h, f in zip(histories, folds) if f != fold], target)
            for history in held:
                times = sample_times(history)
                for t, log_hat in zip(times, part.log_steps(history, times)):
                    if log_hat is not None and history.truth is not None and math.isfinite(log_hat):
                        self.residuals.add(t, log_hat, math.log(history.truth))
        self.fit_model(histories, target)
        return self

    def forecasts(self, history: History, times: Sequence[float]) -> list[Forecast | None]:
        """The forecast at each step of `times` (None where the forecaster does not apply)."""
        end = history.end or self.end
        made: list[Forecast | None] = []
        for t, log_hat, own in zip(times, *self.predict(history, times)):
            if log_hat is None:
                made.append(None)
            elif not math.isfinite(log_hat) or log_hat > math.log(end) + 10:
                made.append(Forecast(math.inf, math.inf, math.inf, own or 0.0))
            else:
                r = self.residuals.of(t, log_hat)
                r = r if len(r) else np.zeros(1)
                shift, low, high = np.quantile(r, [0.5, (1 - COVERAGE) / 2, (1 + COVERAGE) / 2])
                step, low, high = (max(math.exp(log_hat + x), t) for x in (shift, low, high))
                probability = own if own is not None else float(np.mean(log_hat + r <= math.log(end)))
                made.append(Forecast(step, low, high, probability))
        return made

    def forecast(self, history: History, t: float) -> Forecast | None:
        return self.forecasts(history, [t])[0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "forecaster": self.name,
            "target": self.target.text,
            "end": self.end,
            "residuals": self.residuals.bins,
            "params": self.params(),
        }


def sample_times(history: History, most: int = SAMPLES) -> list[float]:
    """The probe steps a forecaster is fitted and calibrated at: positive steps before the truth
    (or the end), at most `most` of them, spread evenly in log-step."""
    before = history.truth if history.truth is not None else history.end + 1
    steps = history.grid[(history.grid > 0) & (history.grid < before)]
    if len(steps) > most:
        wanted = np.geomspace(steps[0], steps[-1], most)
        steps = np.unique(steps[np.minimum(np.searchsorted(steps, wanted), len(steps) - 1)])
    return [float(t) for t in steps]


# ---- the baseline: the target metric extrapolated ------------------------------------------------


def target_metric(histories: Sequence[History], target: Target) -> str:
    """The metric the target is read on: the crossing's, or the one most training runs' events of
    that kind are dated on."""
    if target.metric is not None:
        return target.metric
    names = [h.truth_metric for h in histories if h.truth_metric]
    if not names:
        raise UserError(f"--target: no training run has a {target.kind!r} event to learn from")
    return max(set(names), key=names.count)


class TargetExtrapolation(Forecaster):
    """y(s) = floor + (ceiling − floor)·σ((log s − m)/w) fitted by grid search over (m, w) to the
    target metric at the probe steps ≤ t, refined by least squares; T̂ = exp(m) for an event (the rise half done), the
    crossing of the level for a crossing. The floor is the run's first value, the ceiling the
    median over the training runs of the metric at their end among those with the target. Until
    the fitted rise is `RISE_SEEN` of the way at t it forecasts nothing (T̂ = ∞, probability 0):
    a rise that has not begun cannot be extrapolated, which is the point of this baseline."""

    name = "target extrapolation"
    M_POINTS, WIDTHS = 240, np.geomspace(0.05, 2.0, 12)

    def fit_model(self, histories: Sequence[History], target: Target) -> None:
        self.target, self.metric = target, target_metric(histories, target)
        ends = [h.curves[self.metric][1][-1] for h in histories if h.truth is not None and self.metric in h.curves]
        self.ceiling = float(np.median(ends)) if ends else 1.0

    def log_step(self, history: History, t: float) -> float | None:
        if self.metric not in history.curves:
            return None
        steps, values = history.upto(self.metric, t)
        keep = steps > 0
        if keep.sum() < 3:
            return None
        floor = float(values[0])
        x, y = np.log(steps[keep]), values[keep]
        m = np.linspace(x[0], math.log(100 * (history.end or self.end)), self.M_POINTS)
        shape = 1 / (1 + np.exp(-(x[None, None, :] - m[:, None, None]) / self.WIDTHS[None, :, None]))  # (m, w, points)
        sse = (((floor + (self.ceiling - floor) * shape) - y) ** 2).sum(-1)
        # Of the fits as good as the best, the latest rise: a flat curve says nothing of when.
        i, j = max(zip(*np.nonzero(sse <= sse.min() * (1 + 1e-2) + 1e-12)))
        if shape[i, j, -1] < RISE_SEEN:
            return math.inf  # no rise under way yet: nothing to extrapolate

        def residual(p: np.ndarray) -> np.ndarray:
            return floor + (self.ceiling - floor) / (1 + np.exp(-(x - p[0]) / p[1])) - y

        fitted = least_squares(residual, [m[i], self.WIDTHS[j]], bounds=([m[0], self.WIDTHS[0]], [m[-1], self.WIDTHS[-1]]))
        middle, width = map(float, fitted.x)
        if self.target.level is None:
            return middle
        q = (self.target.level - floor) / (self.ceiling - floor) if self.ceiling != floor else math.nan
        return middle + width * math.log(q / (1 - q)) if 0 < q < 1 else math.inf

    def needs(self) -> list[str]:
        return [self.metric]

    def params(self) -> dict[str, Any]:
        return {"metric": self.metric, "ceiling": self.ceiling}

    def load_params(self, params: dict[str, Any]) -> None:
        self.metric, self.ceiling = params["metric"], params["ceiling"]


# ---- the mechanism: the weight-decay clock -------------------------------------------------------


def _clock(config: dict) -> float | None:
    """1/(lr·wd), the weight-norm decay time of decoupled weight decay; None without decay."""
    train = config.get("train", {})
    rate = float(train.get("lr", 0.0)) * float(train.get("weight_decay", 0.0))
    return 1 / rate if rate > 0 else None


def _saturation(history: History, t: float) -> float | None:
    """The first probe step ≤ t with train accuracy ≥ 99 %; None before it (or without it)."""
    if TRAIN_ACCURACY.name not in history.curves:
        return None
    steps, values = history.upto(TRAIN_ACCURACY.name, t)
    hit = np.flatnonzero(values >= SATURATED)
    return float(steps[hit[0]]) if len(hit) else None


class WeightDecayClock(Forecaster):
    """T̂ = t_sat + exp(a + b·log(1/(lr·wd))), t_sat the step train accuracy reached 99 % (or t
    while it has not yet); (a, b) least squares over the training runs with the target."""

    name = "weight-decay clock"

    def fit_model(self, histories: Sequence[History], target: Target) -> None:
        self.target = target
        points = []
        for h in histories:
            clock, saturated = _clock(h.config), _saturation(h, math.inf)
            if clock and saturated is not None and h.truth is not None and h.truth > saturated:
                points.append((math.log(clock), math.log(h.truth - saturated)))
        if len(points) < 2 or len({x for x, _ in points}) < 2:
            self.slope, self.intercept = math.nan, math.nan
            return
        log_clock, log_delay = np.array(points).T
        self.slope, self.intercept = map(float, np.polyfit(log_clock, log_delay, 1))

    def log_step(self, history: History, t: float) -> float | None:
        clock = _clock(history.config)
        if clock is None or not math.isfinite(self.slope) or TRAIN_ACCURACY.name not in history.curves:
            return None
        saturated = _saturation(history, t)
        start = saturated if saturated is not None else t
        return math.log(max(start + math.exp(self.intercept + self.slope * math.log(clock)), t + 1))

    def needs(self) -> list[str]:
        return [TRAIN_ACCURACY.name]

    def params(self) -> dict[str, Any]:
        return {"slope": self.slope, "intercept": self.intercept}

    def load_params(self, params: dict[str, Any]) -> None:
        self.slope, self.intercept = params["slope"], params["intercept"]
