"""Figures across runs: groups' mean alignment curves, and the decay-ratio law (final alignment
and ETF distance against `train.decay_ratio`, one column per model family). Pure functions of
curves and runs' configs; compare.py lays out the page."""

from __future__ import annotations

from html import escape

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from phasewatch.probes import semantic
from phasewatch.report.common import ALIGNMENT, SITE_ORDER, Curves, curves, mean_interval
from phasewatch.report.figures import LAYOUT, PALETTE, line_trace

DECAY_METRICS = (semantic.ALIGNMENT.at("features"), semantic.ETF_DISTANCE.at("features"))


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
