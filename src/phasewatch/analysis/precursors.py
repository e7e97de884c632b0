"""The precursor forecaster (analysis/forecast.py has the others and what they share), and the
registry of all three: `FORECASTERS`, `from_dict` for a fitted one's JSON, `without` for the
ablation.

`Precursors` reads every metric of a run but the target's own measurement: per metric its level,
its slope in log-step and the date of its largest move so far (`precursor_features`), in
families (the metric's prefix: `weight_norm`, `fourier_ipr`, `llc`, ...) that the ablation drops
one at a time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from phasewatch.analysis.forecast import (
    Forecaster,
    History,
    Residuals,
    Target,
    TargetExtrapolation,
    WeightDecayClock,
    sample_times,
    target_metric,
)
from phasewatch.errors import UserError
from phasewatch.probes import declarations


def family(metric: str) -> str:
    return metric.split("/", 1)[0]


def _value_transform(values: np.ndarray) -> bool:
    """Whether a metric is read in log10: positive and spanning more than two decades."""
    return bool(len(values) and values.min() > 0 and values.max() / values.min() > 100)


def precursor_features(history: History, t: float, metrics: Sequence[str], logged: Sequence[bool]) -> np.ndarray:
    """[log t] + per metric: its value at t, its slope per unit log-step since t/2, and
    log of the step at which it had made half its largest move so far. Shape (1 + 3·len(metrics),)."""
    out = [math.log(t)]
    for metric, log in zip(metrics, logged):
        key = (metric, t, log)
        if key not in history.memo:
            history.memo[key] = _metric_features(history, t, metric, log)
        out += history.memo[key]
    return np.asarray(out)


def _metric_features(history: History, t: float, metric: str, log: bool) -> list[float]:
    """Value at t, slope per unit log-step since t/2, and log of the step at which it had made half
    of its largest move so far (the date of its change, robust to noise on a fine grid)."""
    steps, values = history.upto(metric, t)
    keep = steps > 0
    steps, values = steps[keep], values[keep]
    if log:
        values = np.log10(np.maximum(values, 1e-12))
    if len(steps) == 0:
        return [0.0, 0.0, 0.0]
    half = max(int(np.searchsorted(steps, t / 2, side="right")) - 1, 0)
    dx = math.log(steps[-1]) - math.log(steps[half])
    moved = np.abs(values - values[0])
    half_way = int(np.argmax(moved >= moved.max() / 2))  # when its largest move so far was half made
    return [float(values[-1]), float((values[-1] - values[half]) / dx) if dx > 0 else 0.0, math.log(steps[half_way])]


def _same_measurement(metric: str, target_metric: str) -> bool:
    """Whether `metric` is the target's own measurement: the target, or a metric its declaration
    covers (the heads behind `induction_score/max` are the induction score too; `test/loss`
    beside `test/accuracy` is another measurement, and a precursor)."""
    families = [d for d in declarations(target_metric) if "*" in d.name and not d.name.startswith("*")]  # not "*loss*"
    return metric == target_metric or any(declared.matches(metric) for declared in families)


def _boosted(kind: str, x: np.ndarray, y: np.ndarray, weight: np.ndarray) -> Any:
    """A gradient-boosted tree ensemble (scikit-learn's HistGradientBoosting`kind`), fitted on one
    OpenMP thread: the same trees on every machine, and no threads spinning against a sweep's
    workers (3× faster here on 2 busy cores). Imported here: a run that forecasts nothing never
    loads scikit-learn."""
    from sklearn import ensemble
    from threadpoolctl import threadpool_limits

    model = getattr(ensemble, f"HistGradientBoosting{kind}")(
        max_iter=200, max_leaf_nodes=15, min_samples_leaf=20, l2_regularization=1.0, early_stopping=False, random_state=0
    )
    with threadpool_limits(1, user_api="openmp"):
        return model.fit(x, y, sample_weight=weight)


def _predicted(model: Any, x: np.ndarray, proba: bool = False) -> np.ndarray:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="openmp"):
        return model.predict_proba(x)[:, 1] if proba else model.predict(x)


class Precursors(Forecaster):
    """Gradient-boosted trees (scikit-learn's HistGradientBoosting) on `precursor_features`: a
    regressor of log T (runs with the target) and a classifier of whether the target happens by
    the end (all runs); each run weighs the same however many probe steps it has. Trees, not a
    linear model, because a precursor's features mean something only once it has moved (a
    move's date says nothing before the move). `dropped` names the feature families left out.
    Its JSON keeps the training features, and loading fits the trees again (deterministic):
    nothing is pickled."""

    name = "precursors"
    dropped: tuple[str, ...] = ()

    def fit_model(self, histories: Sequence[History], target: Target) -> None:
        self.target = target
        measured = target_metric(histories, target)
        common = set.intersection(*(set(h.curves) for h in histories))
        self.metrics = sorted(m for m in common if family(m) not in self.dropped and not _same_measurement(m, measured))
        self.logged = [_value_transform(np.concatenate([h.curves[m][1] for h in histories])) for m in self.metrics]
        rows, log_truth, weight = [], [], []
        for h in histories:
            times = sample_times(h)
            for t in times:
                rows.append(precursor_features(h, t, self.metrics, self.logged))
                log_truth.append(math.log(h.truth) if h.truth is not None else math.nan)
                weight.append(1 / len(times))
        self.train_x, self.train_y, self.train_w = np.array(rows), np.array(log_truth), np.array(weight)
        self._fit_trees()

    def _fit_trees(self) -> None:
        event = np.isfinite(self.train_y)
        x, y, w = self.train_x, self.train_y, self.train_w
        self.regressor = _boosted("Regressor", x[event], y[event], w[event]) if event.sum() >= 2 else None
        self.classifier = _boosted("Classifier", x, event, w) if 0 < event.sum() < len(event) else None
        self.always = bool(event.all())

    def _x(self, history: History, times: Sequence[float]) -> np.ndarray | None:
        """The features at each of `times`, (len(times), 1 + 3·metrics); None without every metric."""
        if any(m not in history.curves for m in self.metrics):
            return None
        return np.array([precursor_features(history, t, self.metrics, self.logged) for t in times])

    def predict(self, history: History, times: Sequence[float]) -> tuple[list[float | None], list[float | None]]:
        """(log T̂, P(the event by the end)) at each of `times`, from one feature matrix."""
        x = self._x(history, times)
        if x is None or not len(times):
            return [None] * len(times), [None] * len(times)
        log_steps: list[float | None] = (
            [None] * len(times)
            if self.regressor is None
            else [max(float(y), math.log(t + 1)) for y, t in zip(_predicted(self.regressor, x), times)]
        )
        probabilities: list[float | None] = (
            [float(self.always)] * len(times)
            if self.classifier is None
            else [float(p) for p in _predicted(self.classifier, x, proba=True)]
        )
        return log_steps, probabilities

    def log_steps(self, history: History, times: Sequence[float]) -> list[float | None]:
        return self.predict(history, times)[0]

    def needs(self) -> list[str]:
        return list(self.metrics)

    def params(self) -> dict[str, Any]:
        training = {
            "x": self.train_x.tolist(),
            "y": [y if math.isfinite(y) else None for y in self.train_y],
            "w": self.train_w.tolist(),
        }
        return {"metrics": self.metrics, "logged": self.logged, "dropped": list(self.dropped), **training}

    def load_params(self, params: dict[str, Any]) -> None:
        self.metrics, self.logged, self.dropped = params["metrics"], params["logged"], tuple(params["dropped"])
        self.train_x = np.asarray(params["x"], float)
        self.train_y = np.asarray([math.nan if y is None else y for y in params["y"]], float)
        self.train_w = np.asarray(params["w"], float)
        self._fit_trees()


def without(families: Sequence[str]) -> type[Precursors]:
    """The precursor forecaster with these feature families left out (the ablation)."""
    return type(f"PrecursorsWithout_{'_'.join(families)}", (Precursors,), {"dropped": tuple(families)})


FORECASTERS: dict[str, type[Forecaster]] = {f.name: f for f in (TargetExtrapolation, Precursors, WeightDecayClock)}


def from_dict(data: dict[str, Any]) -> Forecaster:
    """A fitted forecaster back from `to_dict` (JSON)."""
    kind = FORECASTERS.get(data.get("forecaster", ""))
    if kind is None:
        raise UserError(f"forecaster: {data.get('forecaster')!r} is not allowed (one of {', '.join(FORECASTERS)})")
    forecaster = kind()
    forecaster.target, forecaster.end = Target.parse(data["target"]), int(data["end"])
    forecaster.residuals = Residuals([list(map(float, b)) for b in data["residuals"]])
    forecaster.load_params(data["params"])
    return forecaster
