"""Figures across runs: groups' mean alignment curves, each group's mean curve of a metric with the
spread of its runs around it (`band_curve`, `band_figure`), and the decay-ratio law (final
alignment and ETF distance against `train.decay_ratio`, one column per model family). Pure
functions of curves and runs' configs; compare.py lays out the page."""

from __future__ import annotations

from html import escape
from typing import NamedTuple

import numpy as np
import plotly.graph_objects as go
from plotly.colors import hex_to_rgb
from plotly.subplots import make_subplots

from phasewatch.probes import semantic
from phasewatch.report.common import ALIGNMENT, SITE_ORDER, Curves, curves, mean_interval
from phasewatch.report.figures import LAYOUT, MAX_POINTS, PALETTE, display_points, line_trace, log_x

DECAY_METRICS = (semantic.ALIGNMENT.at("features"), semantic.ETF_DISTANCE.at("features"))
QUANTILE_RUNS = 5  # from this many runs on, a band spans the 10–90 % quantiles instead of the min–max
BAND_QUANTILES = (0.1, 0.9)


def run_family(run) -> str:
    """The model family a run belongs to: its experiment, and its setting when it has one."""
    setting = run.config.get("setting")
    return f"{run.info.get('experiment')}/{setting}" if setting else str(run.info.get("experiment"))


def mean_curve(group: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """The mean of several seeds' curves at the first one's steps inside the range they all cover,
    each interpolated in log-step (exact where they share a probe schedule)."""
    low = max(int(s[0]) for s, _ in group)
    high = min(int(s[-1]) for s, _ in group)
    steps = group[0][0][(group[0][0] >= low) & (group[0][0] <= high)]
    values = [np.interp(np.log1p(steps), np.log1p(s), v) for s, v in group]
    return steps, np.mean(values, axis=0)


class Band(NamedTuple):
    """A group's curve of one metric: at each step its runs' mean, and the band `low`–`high`
    around it (min–max over the runs, or their 10–90 % quantiles from `QUANTILE_RUNS` runs on)."""

    steps: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    runs: int


def band_curve(runs: list[tuple[np.ndarray, np.ndarray]]) -> Band:
    """The mean and the spread over runs of one metric's curves (steps, values), each sorted by step.

    The curves are aligned on the union of the runs' steps, inside the range every run covers (so
    the mean and the band are over the same runs at every step; no curve is extrapolated). A run
    keeps its own value at a step where it was probed; only at the steps where other runs were
    probed and it was not is its value interpolated, linearly in log-step (log(1 + step)), between
    its two neighbouring probes. Runs on one probe schedule are therefore never interpolated. A
    step's statistics skip the runs whose value there is not finite (a diverged run); a step where
    no run has a finite value is nan."""
    runs = [_last_per_step(steps, values) for steps, values in runs if len(steps)]
    if not runs:
        empty = np.array([], dtype=float)
        return Band(np.array([], dtype=np.int64), empty, empty, empty, 0)
    low_step, high_step = max(int(s[0]) for s, _ in runs), min(int(s[-1]) for s, _ in runs)
    grid = np.unique(np.concatenate([s[(s >= low_step) & (s <= high_step)] for s, _ in runs]))
    table = np.full((len(runs), len(grid)), np.nan)
    for row, (steps, values) in enumerate(runs):
        where = np.searchsorted(steps, grid).clip(max=len(steps) - 1)
        probed = steps[where] == grid
        table[row, probed] = values[where[probed]]
        if not probed.all():
            table[row, ~probed] = np.interp(np.log1p(grid[~probed]), np.log1p(steps), values)
    finite = np.isfinite(table)
    seen = finite.any(axis=0)
    mean, low, high = (np.full(len(grid), np.nan) for _ in range(3))
    masked = np.where(finite, table, np.nan)[:, seen]
    if seen.any():
        mean[seen] = np.nanmean(masked, axis=0)
        if len(runs) >= QUANTILE_RUNS:
            low[seen], high[seen] = np.nanquantile(masked, BAND_QUANTILES, axis=0)
        else:
            low[seen], high[seen] = np.nanmin(masked, axis=0), np.nanmax(masked, axis=0)
    return Band(grid, mean, low, high, len(runs))


def _last_per_step(steps: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A curve with one value per step: the last one logged (a resumed run may log a step again)."""
    unique, last = np.unique(steps[::-1], return_index=True)
    return unique.astype(np.int64), np.asarray(values, dtype=float)[::-1][last]


def band_figure(metric: str, groups: dict[str, list[Curves]]) -> go.Figure | None:
    """One metric's curves, one colour per group: its runs' mean (`band_curve`) and a shaded band
    over the spread of its runs, on the log-step axis (a log y axis for a loss that stays positive).
    A group some of whose runs did not record the metric says so in its legend entry; None when no
    run recorded it."""
    fig = go.Figure()
    positive = True
    for i, (label, group) in enumerate(groups.items()):
        recorded = [c[metric] for c in group if metric in c and len(c[metric][0])]
        if not recorded:
            continue
        band = band_curve(recorded)
        if not len(band.steps):
            continue
        colour = PALETTE[i % len(PALETTE)]
        name = label if len(recorded) == len(group) else f"{label} ({len(recorded)} of {len(group)} runs)"
        keep = _shown(band)
        steps, low, high = band.steps[keep], band.low[keep], band.high[keep]
        edge = dict(mode="lines", line=dict(width=0, color=colour), legendgroup=escape(name), showlegend=False, hoverinfo="skip")
        fig.add_trace(go.Scatter(x=log_x(steps), y=high, **edge))
        fill = "rgba({}, {}, {}, 0.18)".format(*hex_to_rgb(colour))
        fig.add_trace(go.Scatter(x=log_x(steps), y=low, fill="tonexty", fillcolor=fill, **edge))  # fills up to `high`
        fig.add_trace(line_trace(name, band.steps[keep], band.mean[keep], colour=colour, group=name))
        values = np.concatenate([low, high])
        positive = positive and bool((values[np.isfinite(values)] > 0).all())
    if not fig.data:
        return None
    log_y = "loss" in metric and positive
    fig.update_xaxes(type="log", title_text="step + 1 (log scale)")
    fig.update_yaxes(type="log" if log_y else "linear", title_text=escape(metric) + (" (log)" if log_y else ""))
    fig.update_layout(**LAYOUT, height=420, legend=dict(orientation="h", y=-0.2))
    return fig


def _shown(band: Band) -> np.ndarray:
    """The indices of a band's steps to draw: all of a short one; of a long one, each bucket's
    extremes of the mean and of both edges (figures.display_points' rule, one set for all three)."""
    n = len(band.steps)
    if n <= MAX_POINTS:
        return np.arange(n)
    index = np.arange(n)
    kept = [display_points(index, y, MAX_POINTS // 3)[0] for y in (band.mean, band.low, band.high)]
    return np.unique(np.concatenate(kept))


def alignment_figure(groups: dict[str, list[Curves]]) -> go.Figure | None:
    """One subplot per alignment site (features, classifier) any run recorded, each group's mean
    curve over its seeds on the log-step axis; None when no run recorded alignment."""
    recorded = set().union(*(c for group in groups.values() for c in group))
    metrics = [f"{ALIGNMENT}/{site}" for site in SITE_ORDER if f"{ALIGNMENT}/{site}" in recorded]
    if not metrics:
        return None
    fig = make_subplots(rows=len(metrics), cols=1, shared_xaxes=True, vertical_spacing=0.08)
    for row, metric in enumerate(metrics, start=1):
        for i, (label, group) in enumerate(groups.items()):
            seeds = [c[metric] for c in group if metric in c and len(c[metric][0])]
            if not seeds:
                continue
            trace = line_trace(label, *mean_curve(seeds), colour=PALETTE[i % len(PALETTE)], group=label)
            trace.showlegend = row == 1
            fig.add_trace(trace, row=row, col=1)
        fig.update_yaxes(title_text=escape(metric), row=row, col=1)
    fig.update_xaxes(type="log")
    fig.update_xaxes(title_text="step + 1 (log scale)", row=len(metrics), col=1)
    fig.update_layout(**LAYOUT, height=150 + 300 * len(metrics), legend=dict(orientation="h", y=-0.15 / len(metrics)))
    return fig


def decay_ratio_figure(runs: list, metrics: tuple[str, ...] = DECAY_METRICS, data: dict[str, Curves] | None = None) -> go.Figure:
    """Final value of each metric (a row each) against the decay ratio, one column per family and
    one trace per cell: the mean over the runs (seeds) at each ratio with its 90 % interval.
    `data` (run id → curves) saves reading the runs again when the caller has them."""
    families: dict[str, dict[float, list[dict[str, float]]]] = {}
    for run in runs:
        run_curves = data[run.id] if data is not None else curves(run)
        finals = {m: float(run_curves[m][1][-1]) for m in metrics if m in run_curves and len(run_curves[m][1])}
        ratio = float(run.config.get("train", {}).get("decay_ratio", 1.0))
        families.setdefault(run_family(run), {}).setdefault(ratio, []).append(finals)
    fig = make_subplots(
        rows=len(metrics),
        cols=len(families),
        shared_xaxes=True,
        shared_yaxes="rows",
        column_titles=[escape(f) for f in families],
        horizontal_spacing=0.04,
        vertical_spacing=0.1,
    )
    for col, (family, by_ratio) in enumerate(families.items(), start=1):
        ratios = sorted(by_ratio)
        for row, metric in enumerate(metrics, start=1):
            summary = np.array([mean_interval([f[metric] for f in by_ratio[r] if metric in f]) for r in ratios])
            mean, low, high = summary.T
            fig.add_trace(
                go.Scatter(
                    x=ratios,
                    y=mean,
                    mode="lines+markers",
                    name=escape(family),
                    line=dict(color=PALETTE[(col - 1) % len(PALETTE)]),
                    error_y=dict(
                        type="data",
                        symmetric=False,  # no bar where one seed gave no interval
                        array=np.nan_to_num(high - mean),
                        arrayminus=np.nan_to_num(mean - low),
                    ),
                    hovertemplate="ratio %{x}: %{y:.4g}<extra></extra>",
                ),
                row=row,
                col=col,
            )
            if col == 1:
                fig.update_yaxes(title_text=f"final<br>{escape(metric)}", row=row, col=col)
    all_positive = all(r > 0 for by_ratio in families.values() for r in by_ratio)
    fig.update_xaxes(type="log" if all_positive else "linear")
    fig.update_xaxes(title_text="decay ratio (shared ÷ per-item)", row=len(metrics))
    fig.update_layout(**LAYOUT, height=150 + 300 * len(metrics), showlegend=False)  # column titles name the families
    return fig
