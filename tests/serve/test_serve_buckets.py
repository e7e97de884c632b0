"""Bucketed downsampling (serve/buckets.py) against an independent numpy computation: per bucket
the min, max and last point, never a sample; a planted spike always survives."""

import math

import numpy as np
import pytest
from serve_store import write_metrics

from phasewatch.serve import buckets
from phasewatch.store import Run
from phasewatch.store.query import connect


def planted(seed: int, n: int = 20_000) -> tuple[np.ndarray, np.ndarray, int]:
    """(steps, values, spike step): irregular increasing steps, a noisy decay, one huge spike."""
    rng = np.random.default_rng(seed)
    steps = np.cumsum(rng.integers(1, 4, size=n)) - 1
    values = 1.0 / np.sqrt(steps + 1.0) + 0.05 * rng.standard_normal(n)
    spike = int(rng.integers(n // 4, 3 * n // 4))
    values[spike] = 40.0
    return steps, values, int(steps[spike])


def expected(steps: np.ndarray, values: np.ndarray, x0: float, x1: float, width: int, xscale: str) -> dict[int, set]:
    """bucket -> {(step, value)} of its min, max (earliest on ties) and last point, by numpy."""
    inside = (steps >= math.ceil(x0)) & (steps <= math.floor(x1))
    steps, values = steps[inside], values[inside]
    to_x = (lambda s: np.log(s + 1.0)) if xscale == "log" else (lambda s: s.astype(float))
    lo, hi = to_x(np.array(x0)), to_x(np.array(x1))
    position = (to_x(steps) - lo) / (hi - lo) * width
    # The comparison is only well defined when no point sits on an inner bucket edge to within rounding.
    inner = (position > 0.5) & (position < width - 0.5)
    assert xscale == "step" or np.min(np.abs(position - np.round(position))[inner]) > 1e-9
    index = np.clip(np.floor(position).astype(int), 0, width - 1)
    out = {}
    for b in np.unique(index):
        s, v = steps[index == b], values[index == b]
        out[int(b)] = {(int(s[i]), float(v[i])) for i in (np.argmin(v), np.argmax(v), len(s) - 1)}
    return out


def bucket_of(step: int, x0: float, x1: float, width: int, xscale: str) -> int:
    lo, hi = buckets.to_x(x0, xscale), buckets.to_x(x1, xscale)
    return min(width - 1, int(math.floor((buckets.to_x(step, xscale) - lo) / (hi - lo) * width)))


@pytest.fixture
def spiky(tmp_path):
    steps, values, spike = planted(seed=7)
    run = Run.create(tmp_path, "spiky", experiment="e", config={}, seed=0)
    write_metrics(run.path, steps, {"loss": values})
    con = connect(tmp_path)
    yield con, steps, values, spike
    con.close()


@pytest.mark.parametrize("xscale", ["step", "log"])
@pytest.mark.parametrize("window", [None, (0.2, 0.7)])
def test_buckets_are_min_max_last_per_bucket(spiky, xscale, window):
    con, steps, values, spike = spiky
    x0, x1 = (0.0, float(steps[-1])) if window is None else (window[0] * steps[-1], window[1] * steps[-1])
    width = 100
    series = buckets.bucket_series(con, ["spiky"], "loss", x0, x1, width, xscale)["spiky"]
    want = expected(steps, values, x0, x1, width, xscale)
    got: dict[int, set] = {}
    for s, v in zip(series.steps.tolist(), series.values.tolist()):
        got.setdefault(bucket_of(s, x0, x1, width, xscale), set()).add((s, v))
    assert got == want
    assert all(len(points) <= 3 for points in got.values())  # min and max, plus the last
    assert len(series.steps) <= 3 * width and np.all(np.diff(series.steps) > 0)
    if x0 <= spike <= x1:
        assert (spike, 40.0) in set(zip(series.steps.tolist(), series.values.tolist()))


def test_a_bucket_with_one_point_returns_it(tmp_path):
    run = Run.create(tmp_path, "sparse", experiment="e", config={}, seed=0)
    write_metrics(run.path, [0, 1000, 5000], {"loss": np.array([3.0, 2.0, 1.0])})
    con = connect(tmp_path)
    series = buckets.bucket_series(con, ["sparse"], "loss", 0, 5000, 10, "step")["sparse"]
    assert series.steps.tolist() == [0, 1000, 5000] and series.values.tolist() == [3.0, 2.0, 1.0]
    one = buckets.bucket_series(con, ["sparse"], "loss", 1000, 1000, 10, "log")["sparse"]  # a zero-width range
    assert one.steps.tolist() == [1000]


def test_many_runs_and_what_is_not_finite(tmp_path):
    a = Run.create(tmp_path, "a", experiment="e", config={}, seed=0)
    b = Run.create(tmp_path, "b", experiment="e", config={}, seed=0)
    write_metrics(a.path, range(10), {"loss": np.array([1, 2, np.inf, 0, 5, 5, 5, 5, 5, np.nan])})
    write_metrics(b.path, range(100, 110), {"loss": np.arange(10.0)})
    con = connect(tmp_path)
    found = buckets.bucket_series(con, ["a", "b", "nobody"], "loss", 0, 9, 1, "step")
    assert set(found) == {"a"}  # b has no point in [0, 9]; nobody is nobody
    steps, values = found["a"].steps.tolist(), found["a"].values.tolist()
    # min and max skip inf and NaN; the last point is kept whatever it is (a NaN: a gap in the plot)
    assert steps == [3, 4, 9] and values[:2] == [0.0, 5.0] and math.isnan(values[2])
    assert buckets.run_ranges(con, ["a", "b"], "loss") == {"a": (0, 9), "b": (100, 109)}
    assert buckets.run_ranges(con, ["a"], "no such metric") == {}


def test_rows_after_each_runs_cursor_and_hostile_names(tmp_path):
    name = "x'); DROP TABLE metrics; --"
    for run_id in ("r", "s"):
        write_metrics(
            Run.create(tmp_path, run_id, experiment="e", config={}, seed=0).path,
            range(50),
            {name: np.arange(50.0), "other": np.zeros(50)},
        )
    con = connect(tmp_path)
    rows = buckets.rows_after(con, {"r": 44, "s": 47}, name, limit=100)
    assert rows["r"].steps.tolist() == [45, 46, 47, 48, 49] and rows["r"].values.tolist() == [45.0, 46.0, 47.0, 48.0, 49.0]
    assert rows["s"].steps.tolist() == [48, 49]
    capped = buckets.rows_after(con, {"s": 10, "r": 10}, name, limit=3)  # by run, then step
    assert list(capped) == ["r"] and capped["r"].steps.tolist() == [11, 12, 13]
    assert buckets.rows_after(con, {"r": 49, "s": 49}, name, limit=100) == {}
    assert len(buckets.bucket_series(con, ["r"], name, 0, 49, 5, "step")["r"].steps) > 0


@pytest.mark.parametrize("xscale", ["step", "log"])
def test_scaled_buckets_are_the_buckets_of_step_times_the_runs_factor(spiky, xscale):
    con, steps, values, spike = spiky
    k, width = 8, 100  # a power of two: step × k is exact, so buckets can be compared exactly
    x0, x1 = 0.1 * steps[-1] * k, 0.9 * steps[-1] * k  # in tokens
    series = buckets.bucket_series(con, ["spiky"], "loss", x0, x1, width, xscale, scales={"spiky": k})["spiky"]
    inside = (steps * k >= x0) & (steps * k <= x1)
    to_x = (lambda u: np.log(u + 1.0)) if xscale == "log" else (lambda u: np.asarray(u, dtype=float))
    position = (to_x(steps[inside] * k) - to_x(x0)) / (to_x(x1) - to_x(x0)) * width
    index = np.clip(np.floor(position).astype(int), 0, width - 1)
    want = set()
    for b in np.unique(index):
        s, v = steps[inside][index == b], values[inside][index == b]
        want |= {(int(s[i]), float(v[i])) for i in (np.argmin(v), np.argmax(v), len(s) - 1)}
    assert set(zip(series.steps.tolist(), series.values.tolist())) == want
    assert (spike, 40.0) in want


def test_scaled_runs_are_cut_at_their_own_steps(tmp_path):
    for run_id in ("a", "b"):
        write_metrics(
            Run.create(tmp_path, run_id, experiment="e", config={}, seed=0).path, range(100), {"loss": np.arange(100.0)}
        )
    con = connect(tmp_path)
    found = buckets.bucket_series(con, ["a", "b"], "loss", 30, 60, 1000, "step", scales={"a": 10, "b": 3})
    assert found["a"].steps.tolist() == [3, 4, 5, 6] and found["b"].steps.tolist() == list(range(10, 21))
    assert buckets.run_ranges(con, ["a", "b", "nobody"], "loss") == {"a": (0, 99), "b": (0, 99)}
