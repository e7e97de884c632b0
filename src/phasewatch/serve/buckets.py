"""Full-fidelity downsampling of metric curves, in DuckDB SQL.

A 10⁶-step curve cannot go to a browser as is, and random or strided sampling hides exactly what
phasewatch exists to show: a one-step loss spike or a sudden cliff. So the x-range is cut into
`width` buckets (about one per pixel) and each bucket keeps its extremes and its last point:

    min   the smallest finite value (earliest step on a tie)
    max   the largest finite value (earliest step on a tie)
    last  the point with the largest step (whatever its value: a NaN there shows as a gap)

A bucket yields those points once each, so 1 to 3 points, in step order; a bucket with one point
yields that point. Drawn as a line, every spike reaches its true height at its true step.

Buckets split x = step, or x = ln(step + 1) for a log-step axis (step + 1 as the report's
`log_x`, so step 0 stays on the axis); the range [x0, x1] is given in steps either way. With
`scales` (run -> a factor, e.g. its tokens per step) the unit is step × the run's factor instead
(tokens seen), and the range is given in that unit: each run is cut at its own steps.

Live updates need no bucketing: `rows_after` returns the raw rows past a per-run cursor (the
largest step the page already has), which a poll every few seconds keeps small.

Every statement is parameterised: run ids, metric names and numbers never enter SQL text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import duckdb
import numpy as np

XScale = Literal["step", "log"]
XSCALES: tuple[str, ...] = ("step", "log")

# The bucket of a point; GREATEST/LEAST absorb float rounding at the range's two ends.
_BUCKETED = """
WITH points AS ({points}), bucketed AS (
    SELECT run, step, value,
        CASE WHEN $span > 0 THEN GREATEST(0, LEAST($width - 1, CAST(floor((x - $x0) / $span * $width) AS BIGINT)))
             ELSE 0 END AS bucket
    FROM points
), summary AS (
    SELECT run,
        arg_min({{'step': step, 'value': value}}, (value, step)) FILTER (WHERE isfinite(value)) AS lo,
        arg_max({{'step': step, 'value': value}}, (value, -step)) FILTER (WHERE isfinite(value)) AS hi,
        arg_max({{'step': step, 'value': value}}, step) AS last
    FROM bucketed GROUP BY run, bucket
)
SELECT DISTINCT run, point.step AS step, point.value AS value
FROM (SELECT run, unnest([lo, hi, last]) AS point FROM summary)
WHERE point IS NOT NULL
ORDER BY run, step
"""
_POINTS = """
    SELECT run, step, value, {x} AS x
    FROM metrics
    WHERE metric = $metric AND run IN (SELECT unnest($runs::VARCHAR[])) AND step BETWEEN $s0 AND $s1
"""
_X = {"step": "CAST(step AS DOUBLE)", "log": "ln(GREATEST(step, 0) + 1)"}
# Scaled: x in step × the run's factor; the step bounds are a superset that keeps the scan pruned.
_SCALED_POINTS = """
    SELECT m.run, m.step, m.value, {x} AS x
    FROM metrics m JOIN (SELECT unnest($runs::VARCHAR[]) AS run, unnest($scales::DOUBLE[]) AS k) s ON m.run = s.run
    WHERE m.metric = $metric AND m.step BETWEEN $s0 AND $s1 AND m.step * s.k BETWEEN $u0 AND $u1
"""
_SCALED_X = {"step": "m.step * s.k", "log": "ln(GREATEST(m.step * s.k, 0) + 1)"}

_RANGES = """
SELECT run, min(step), max(step) FROM metrics
WHERE metric = $metric AND run IN (SELECT unnest($runs::VARCHAR[]))
GROUP BY run
"""

_AFTER = """
WITH cursors AS (SELECT unnest($runs::VARCHAR[]) AS run, unnest($after::BIGINT[]) AS after)
SELECT m.run, m.step, m.value
FROM metrics m JOIN cursors c ON m.run = c.run
WHERE m.metric = $metric AND m.step > c.after
ORDER BY m.run, m.step
LIMIT $limit
"""


@dataclass(frozen=True)
class Series:
    """One run's points: steps ascending, values (NaN where the stored value was not finite)."""

    steps: np.ndarray
    values: np.ndarray


def to_x(step: float, xscale: XScale) -> float:
    """A step's position on the bucketing axis (the same transform the SQL applies)."""
    return math.log(max(step, 0) + 1) if xscale == "log" else float(step)


def run_ranges(con: duckdb.DuckDBPyConnection, runs: list[str], metric: str) -> dict[str, tuple[int, int]]:
    """Each run's (first, last) step of `metric` (runs that never logged it are absent): the last
    is the cursor a page polls `rows_after` from."""
    rows = con.execute(_RANGES, {"metric": metric, "runs": runs}).fetchall()
    return {run: (int(low), int(high)) for run, low, high in rows}


def bucket_series(
    con: duckdb.DuckDBPyConnection,
    runs: list[str],
    metric: str,
    x0: float,
    x1: float,
    width: int,
    xscale: XScale = "step",
    scales: dict[str, float] | None = None,
) -> dict[str, Series]:
    """Each run's min, max and last point per bucket of [x0, x1], `width` buckets spaced evenly
    in `xscale`; runs with no point in range are absent. [x0, x1] is in steps, or with `scales`
    (run -> a positive factor, one for every run) in step × factor. `con`: a
    `store.query.connect` connection (its `metrics` view)."""
    lo, hi = to_x(x0, xscale), to_x(x1, xscale)
    params: dict[str, object] = {"metric": metric, "runs": runs, "x0": lo, "span": hi - lo, "width": width}
    if scales is None:
        params |= {"s0": math.ceil(x0), "s1": math.floor(x1)}
        sql = _BUCKETED.format(points=_POINTS.format(x=_X[xscale]))
    else:
        factors = [float(scales[run]) for run in runs]
        low, high = min(factors, default=1.0), max(factors, default=1.0)
        params |= {"scales": factors, "u0": float(x0), "u1": float(x1)}
        params |= {"s0": math.floor(x0 / high), "s1": math.ceil(x1 / low)}
        sql = _BUCKETED.format(points=_SCALED_POINTS.format(x=_SCALED_X[xscale]))
    return _by_run(con.execute(sql, params).fetchnumpy())


def rows_after(con: duckdb.DuckDBPyConnection, cursors: dict[str, int], metric: str, limit: int) -> dict[str, Series]:
    """Each run's rows of `metric` with step > its cursor (`cursors`: run -> step), by step: what a
    live page lacks. One query for every run polled; at most `limit` rows in all (by run, then
    step), so a page that gets `limit` rows asks again from the new cursors. Runs with no new row
    are absent."""
    params = {"runs": list(cursors), "after": list(cursors.values()), "metric": metric, "limit": limit}
    return _by_run(con.execute(_AFTER, params).fetchnumpy())


def _by_run(found: dict[str, np.ndarray]) -> dict[str, Series]:
    """Columns run, step, value, sorted by run, as one Series per run."""
    names, steps, values = (np.asarray(found[c]) for c in ("run", "step", "value"))
    cuts = np.flatnonzero(names[1:] != names[:-1]) + 1
    starts, ends = np.concatenate([[0], cuts]), np.concatenate([cuts, [len(names)]])
    return {
        str(names[a]): Series(steps[a:b].astype(np.int64), values[a:b].astype(np.float64)) for a, b in zip(starts, ends) if b > a
    }
