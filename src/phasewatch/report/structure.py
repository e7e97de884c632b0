"""The structure panel (Structure Before Collapse): semantic alignment, ETF distance and accuracy
on one log-step axis, each structure window shaded with its peak marked, and the coupled UFM's
fitted curve overlaid when the run has one. A pure function of curves, windows and the fit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from phasewatch.probes.behaviour import TEST_ACCURACY
from phasewatch.probes.training import TRAIN_ACCURACY
from phasewatch.report.common import ALIGNMENT, ETF_DISTANCE, SITE_ORDER, Curves, family, fit_label, fmt_number
from phasewatch.report.figures import LAYOUT, PALETTE, line_trace, log_x, mark_timeline
from phasewatch.report.labels import stack_labels

ACCURACY = (TRAIN_ACCURACY.name, TEST_ACCURACY.name)
ACCURACY_COLOURS = {TRAIN_ACCURACY.name: "#555555", TEST_ACCURACY.name: "#aaaaaa"}
SAME_SCALE = 2.5  # one y axis when the two groups' largest magnitudes are within this factor


def structure_metrics(data: Curves) -> tuple[list[str], list[str]]:
    """(alignment metrics, ETF distance and accuracy metrics) the run recorded; features first."""

    def rank(metric: str) -> tuple[int, str]:
        site = metric.split("/", 1)[-1]
        return (SITE_ORDER.index(site) if site in SITE_ORDER else len(SITE_ORDER)), metric

    alignment = sorted((m for m in data if family(m) == ALIGNMENT), key=rank)
    others = sorted((m for m in data if family(m) == ETF_DISTANCE), key=rank) + [m for m in ACCURACY if m in data]
    return alignment, others


def structure_figure(
    data: Curves, windows: list[dict], fit: dict | None = None, timeline: Sequence[dict] = ()
) -> go.Figure | None:
    """The panel, or None when the run recorded neither alignment nor ETF distance. Alignment goes
    on the left axis; ETF distance and accuracy on a secondary right axis when their scale differs
    (a slope of 0.1 beside a distance of 1.2 would be a flat line otherwise). The phase timeline,
    when given, is drawn behind."""
    alignment, others = structure_metrics(data)
    if not alignment and not any(family(m) == ETF_DISTANCE for m in others):
        return None
    secondary = bool(alignment and others) and not _same_scale(data, alignment, others)
    on_right = set(others) if secondary else set()
    colours = _site_colours(alignment + others)
    fig = make_subplots(specs=[[{"secondary_y": secondary}]])
    if fit is not None:  # first, so the measured curve draws over it: a wide grey band it should run inside
        fig.add_trace(
            go.Scatter(
                x=log_x(np.asarray(fit["steps"])),
                y=np.asarray(fit["predicted"], dtype=float),
                customdata=fit["steps"],
                name=escape(fit_label(fit)),
                mode="lines",
                line=dict(color="rgba(0,0,0,0.28)", width=7),
                hovertemplate="fit %{y:.4g}  (step %{customdata})",
            ),
            secondary_y=fit["metric"] in on_right,
        )
    for metric in alignment + others:
        colour = ACCURACY_COLOURS.get(metric) or colours[metric.split("/", 1)[-1]]
        dash = {ALIGNMENT: "solid", ETF_DISTANCE: "dash"}.get(family(metric), "dot")
        fig.add_trace(
            line_trace(metric, *data[metric], colour=colour, group=family(metric), dash=dash), secondary_y=metric in on_right
        )
    for window in windows:
        if window["metric"] in data:
            _shade_window(
                fig, window, colours.get(window["metric"].split("/", 1)[-1], "#7f7f7f"), secondary_y=window["metric"] in on_right
            )
    if secondary:
        fig.update_yaxes(title_text=_axis_title(alignment), secondary_y=False)
        fig.update_yaxes(title_text=_axis_title(others), secondary_y=True, showgrid=False)
    else:
        fig.update_yaxes(title_text=_axis_title(alignment + others))
    fig.update_xaxes(type="log", title_text="step + 1 (log scale)", showspikes=True, spikemode="across", spikethickness=1)
    fig.update_layout(**LAYOUT, height=520, legend=dict(groupclick="toggleitem"))
    mark_timeline(fig, timeline)
    stack_labels(fig)
    return fig


def _axis_title(metrics: list[str]) -> str:
    names = {ALIGNMENT: "semantic alignment (slope)", ETF_DISTANCE: "ETF distance"}
    return " · ".join(dict.fromkeys(names.get(family(m), "accuracy") for m in metrics))


def _same_scale(data: Curves, left: list[str], right: list[str]) -> bool:
    def magnitude(metrics: list[str]) -> float:
        values = np.concatenate([data[m][1] for m in metrics])
        values = np.abs(values[np.isfinite(values)])
        return float(values.max()) if values.size else 0.0

    a, b = magnitude(left), magnitude(right)
    return min(a, b) > 0 and max(a, b) / min(a, b) <= SAME_SCALE


def _site_colours(metrics: list[str]) -> dict[str, str]:
    """One colour per site, so a site's alignment and ETF distance read as a pair."""
    sites = list(dict.fromkeys(m.split("/", 1)[-1] for m in metrics if m not in ACCURACY))
    return {site: PALETTE[i % len(PALETTE)] for i, site in enumerate(sites)}


def _shade_window(fig: go.Figure, window: dict, colour: str, *, secondary_y: bool) -> None:
    """The window from the rise's midpoint to the fall's, labelled on top; a star at its peak."""
    fig.add_vrect(x0=log_x(window["start"]), x1=log_x(window["end"]), fillcolor=colour, opacity=0.08, line_width=0, layer="below")
    site = window["metric"].split("/", 1)[-1]
    fig.add_annotation(
        x=math.log10(log_x(window["start"])),
        xref="x",
        y=1.0,
        yref="paper",
        yanchor="bottom",
        xanchor="left",
        text=escape(f"structure window ({site})"),
        showarrow=False,
        font=dict(color=colour, size=11),
        yshift=4,  # in its lane: stack_labels
    )
    if window["peak_step"] is None:
        return
    fig.add_trace(
        go.Scatter(
            x=[log_x(window["peak_step"])],
            y=[window["peak_value"]],
            mode="markers",
            marker=dict(symbol="star", size=14, color=colour, line=dict(color="#222222", width=1)),
            name=escape(f"peak of {window['metric']} (step {fmt_number(window['peak_step'])})"),
            hovertemplate="peak %{y:.4g}<extra></extra>",
        ),
        secondary_y=secondary_y,
    )
