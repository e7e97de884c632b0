"""Plotly figures for the report: curves on a log-step axis with events marked, and matrices with
one step slider. Pure functions of numpy arrays and event dicts; `html.py` reads the run.

Event labels sit in the top margin, each saying its kind and metric, in lanes that never overprint
(report/labels.py, which also gives step plots their log/linear toggle). A family of more than
MAX_LINES curves (`position_loss/*`, `weight_norm/*`) is one heat map, member by step, instead of a
legend entry per member.

Text that came from the user (metric names, event kinds) is HTML-escaped before it goes into a
figure: plotly.js renders a subset of HTML in names and titles.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Sequence
from html import escape

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from phasewatch.analysis import timeline_lines
from phasewatch.report.common import Curves, fmt_number, interval
from phasewatch.report.labels import LABEL_BASE_PX, LABEL_SIZE, stack_labels

MAX_POINTS = 5_000  # a longer curve is thinned for display only (the store keeps all)
MAX_FRAMES = 60
MAX_LINES = 8  # a family with more members than this is drawn as one heat map (member × step)
MAX_HEAT_COLUMNS = 400  # steps of a heat map, log-spaced (select_steps) beyond this
SPLIT_COLOURS = {"train": "#1f77b4", "test": "#d62728"}
KIND_COLOURS = {
    "loss_cliff": "#ff7f0e",
    "grokking": "#2ca02c",
    "plateau": "#7f7f7f",
    "crystallisation": "#9467bd",
    "collapse": "#d62728",
    "transition": "#17becf",
    "induction_onset": "#8c564b",
    "stage_boundary": "#bcbd22",
}
PALETTE = qualitative.D3
# One colour per phase name in every figure and run (analysis/timeline.py); other names hash into PHASE_PALETTE.
PHASE_COLOURS = {
    "memorisation": "#9e9e9e",
    "syntax": "#4c78a8",
    "semantics": "#e45756",
    "crystallisation": "#b279a2",
    "refinement": "#54a24b",
    "induction": "#f58518",
}
PHASE_PALETTE = qualitative.Dark2
PHASE_BAND_PX = 14  # height of the timeline strip along the top of the plot
# Hover shows the true step (customdata); a unified x hover would title it with step + 1.
LAYOUT = dict(template="plotly_white", margin=dict(l=70, r=30, t=60, b=50), hovermode="closest")


def display_points(steps: np.ndarray, values: np.ndarray, max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Thin a curve to about `max_points` by keeping each bucket's min and max, so no cliff or
    spike disappears (the way TensorBoard's sampling hides them); short curves pass unchanged."""
    n = len(steps)
    if n <= max_points:
        return steps, values
    buckets = max_points // 2
    size = math.ceil(n / buckets)
    padded: np.ndarray = np.full(buckets * size, np.nan)
    padded[:n] = values
    padded = padded.reshape(buckets, size)
    # NaN (and padding) must lose both contests, so each bucket keeps its real extremes.
    low = np.where(np.isnan(padded), np.inf, padded).argmin(axis=1)
    high = np.where(np.isnan(padded), -np.inf, padded).argmax(axis=1)
    offsets = np.arange(buckets) * size
    keep = np.unique(np.concatenate([low + offsets, high + offsets, [0, n - 1]]))
    keep = keep[keep < n]
    return steps[keep], values[keep]


def log_x(steps: np.ndarray | int) -> np.ndarray | int:
    """Position on the log-step axis: step + 1, so step 0 (the initial model) stays on the plot."""
    return steps + 1


def line_trace(name: str, steps: np.ndarray, values: np.ndarray, colour: str, group: str, dash: str = "solid") -> go.Scatter:
    """One curve on the log-step axis, thinned for display, hover giving the true step."""
    steps, values = display_points(steps, values)
    return go.Scatter(
        x=log_x(steps),
        y=values,
        customdata=steps,
        name=escape(name),
        legendgroup=escape(group),
        mode="lines+markers" if len(steps) <= 60 else "lines",
        marker=dict(size=4),
        line=dict(color=colour, width=1.6, dash=dash),
        hovertemplate="%{y:.4g}  (step %{customdata})",
    )


def _log_y(title: str, names: list[str], curves: Curves) -> bool:
    """Losses read best on a log scale, when every value is positive (a log axis drops the rest)."""
    values = np.concatenate([curves[n][1] for n in names])
    values = values[np.isfinite(values)]
    return "loss" in title and len(values) > 0 and bool((values > 0).all())


def curves_figure(
    groups: dict[str, list[str]], curves: Curves, events: list[dict], *, by_split: bool, timeline: Sequence[dict] = ()
) -> go.Figure:
    """One subplot per group (title → metric names), x shared on the log-step axis, every event
    shaded across all of them, the phase timeline behind. `by_split` colours train/test
    consistently, else by site."""
    titles = list(groups)
    # Group names go on the y axes, not in subplot titles: the top margin holds the event labels.
    fig = make_subplots(rows=len(titles), cols=1, shared_xaxes=True, vertical_spacing=min(0.06, 0.25 / len(titles)))
    heat = 0
    for row, title in enumerate(titles, start=1):
        if len(groups[title]) > MAX_LINES:
            heat += 1
            _heat_row(fig, row, title, groups[title], curves, heat)
            continue
        for i, name in enumerate(groups[title]):
            colour = (
                SPLIT_COLOURS.get(name.split("/", 1)[0], PALETTE[i % len(PALETTE)]) if by_split else PALETTE[i % len(PALETTE)]
            )
            trace = line_trace(name, *curves[name], colour=colour, group=title)
            if i == 0:
                trace.legendgrouptitle = dict(text=escape(title))
            fig.add_trace(trace, row=row, col=1)
        log = _log_y(title, groups[title], curves)
        fig.update_yaxes(type="log" if log else "linear", title_text=escape(title) + (" (log)" if log else ""), row=row, col=1)
    fig.update_xaxes(type="log", showspikes=True, spikemode="across", spikethickness=1)
    fig.update_xaxes(title_text="step + 1 (log scale)", row=len(titles), col=1)
    legend = dict(groupclick="toggleitem", tracegroupgap=12) | (dict(x=1.1, xanchor="left") if heat else {})
    fig.update_layout(**LAYOUT, height=150 + 220 * len(titles), legend=legend)
    mark_events(fig, events)
    mark_timeline(fig, timeline)
    stack_labels(fig)
    return fig


def _member_key(name: str) -> tuple:
    """Natural order of a family's members: position_loss/2 before position_loss/10."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", name))


def _heat_row(fig: go.Figure, row: int, title: str, names: list[str], curves: Curves, index: int) -> None:
    """A family of many curves as one heat map in `row`: a member per line (in natural order, the
    first on top), log-spaced steps across (at most MAX_HEAT_COLUMNS), colour the value (log10
    for a positive loss); a member without a value at a step leaves a gap there."""
    members = sorted(names, key=_member_key)
    steps = np.unique(np.concatenate([curves[m][0] for m in members]))
    if len(steps) > MAX_HEAT_COLUMNS:
        steps = np.asarray(select_steps(steps.tolist(), MAX_HEAT_COLUMNS), dtype=np.int64)
    z = np.full((len(members), len(steps)), np.nan)
    for i, name in enumerate(members):
        own, values = curves[name]
        at = np.searchsorted(steps, own)
        hit = (at < len(steps)) & (steps[np.minimum(at, len(steps) - 1)] == own)
        z[i, at[hit]] = values[hit]
    log = _log_y(title, names, curves)
    shown = np.log10(z) if log else z
    x = np.asarray(log_x(steps), dtype=float)
    # Brick edges (one more than the columns), midway in log-step: every edge stays positive on a log axis.
    if len(x) > 1:
        middle = np.sqrt(x[1:] * x[:-1])
        edges = np.concatenate([[x[0] ** 2 / middle[0]], middle, [x[-1] ** 2 / middle[-1]]])
    else:
        edges = np.array([x[0] / 1.2, x[0] * 1.2])
    axis = f"coloraxis{index}" if index > 1 else "coloraxis"
    labels = [escape(m.split("/", 1)[-1]) for m in members]
    fig.add_trace(
        go.Heatmap(
            x=edges,
            y=labels,
            z=shown,
            coloraxis=axis,
            customdata=np.dstack([np.broadcast_to(steps, z.shape), z]),
            hovertemplate=f"{escape(title)}/%{{y}} at step %{{customdata[0]}}: %{{customdata[1]:.4g}}<extra></extra>",
            name=escape(title),
        ),
        row=row,
        col=1,
    )
    domain = fig.layout[f"yaxis{row if row > 1 else ''}"].domain
    fig.layout[axis] = dict(
        colorscale="Viridis",
        colorbar=dict(
            x=1.01,
            y=sum(domain) / 2,
            len=domain[1] - domain[0],
            thickness=10,
            title=dict(text="log10" if log else "", side="right"),
        ),
    )
    fig.update_yaxes(type="category", autorange="reversed", title_text=escape(title) + f" ({len(members)})", row=row, col=1)


def mark_events(fig: go.Figure, events: list[dict]) -> None:
    """Shade each event's interval and dash its step in every subplot; label it once, on top, with
    its kind and metric (lanes: `stack_labels`)."""
    for event in sorted(events, key=lambda e: e["step"]):
        colour = KIND_COLOURS.get(event["kind"], "#7f7f7f")
        low, high = interval(event)
        fig.add_vrect(
            x0=log_x(low), x1=log_x(high), row="all", col=1, fillcolor=colour, opacity=0.15, line_width=0, layer="below"
        )
        fig.add_vline(x=log_x(event["step"]), row="all", col=1, line=dict(color=colour, width=1.2, dash="dash"))
        fig.add_annotation(
            # annotations on a log axis take log10 of the position (shapes take the value itself)
            x=math.log10(log_x(event["step"])),
            xref="x",
            y=1.0,
            yref="paper",
            yanchor="bottom",
            yshift=LABEL_BASE_PX,
            text=escape(f"{event['kind']} · {event['metric']}"),
            showarrow=False,
            font=dict(color=colour, size=LABEL_SIZE),
            name="event",
            hovertext=escape(
                f"{event['kind']} on {event['metric']} at step {fmt_number(event['step'])}, "
                f"interval [{fmt_number(low)}, {fmt_number(high)}]"
            ),
        )


def phase_colour(name: str) -> str:
    """The phase's fixed colour: named ones from PHASE_COLOURS, any other by a stable hash of its name."""
    return PHASE_COLOURS.get(name) or PHASE_PALETTE[zlib.crc32(name.encode("utf-8")) % len(PHASE_PALETTE)]


def mark_timeline(fig: go.Figure, timeline: Sequence[dict]) -> None:
    """The phase timeline (analysis/timeline.py) behind a log-step figure: a light column per
    span across every subplot, and a labelled strip in the span's colour along the plot's top."""
    for span in timeline:
        if span["end"] <= span["start"]:
            continue  # an empty span (two phases opened at once) has nothing to shade
        colour, x0, x1 = phase_colour(span["name"]), log_x(span["start"]), log_x(span["end"])
        fig.add_shape(
            type="rect",
            xref="x",
            yref="paper",
            x0=x0,
            x1=x1,
            y0=0,
            y1=1,
            fillcolor=colour,
            opacity=0.07,
            line_width=0,
            layer="below",
        )
        fig.add_shape(
            type="rect",
            xref="x",
            yref="paper",
            ysizemode="pixel",
            yanchor=1,
            y0=-PHASE_BAND_PX,
            y1=0,
            x0=x0,
            x1=x1,
            fillcolor=colour,
            opacity=0.45,
            line_width=0,
            layer="below",
        )
        fig.add_annotation(
            x=(math.log10(x0) + math.log10(x1)) / 2,
            xref="x",
            y=1.0,
            yref="paper",
            yanchor="top",
            showarrow=False,
            text=escape(span["name"]),
            font=dict(color="#222222", size=10),
            name="phase",
            hovertext=escape(timeline_lines([span])[0]),
        )


def select_steps(steps: list[int], max_frames: int = MAX_FRAMES) -> list[int]:
    """At most `max_frames` of the saved steps, evenly spaced in log-step, first and last kept."""
    steps = sorted(steps)
    if len(steps) <= max_frames:
        return steps
    x = np.log(np.asarray(steps, dtype=float) + 1)
    targets = np.linspace(x[0], x[-1], max_frames)
    return sorted({steps[int(np.abs(x - t).argmin())] for t in targets})


AxisGroups = list[tuple[int, int, str, int]]  # (first row, end row, label, level of the coarsest change)
MAX_GROUP_LABELS = 30  # more groups than this get boundary lines only
BOUNDARY_WIDTHS = (2.2, 1.2)  # by level: the first factor's boundaries thickest, the rest 0.6


def matrices_figure(
    frames: list[int],
    matrices: dict[str, list[np.ndarray]],
    *,
    frame_labels: dict[int, str] | None = None,
    active: int | None = None,
    groups: AxisGroups | None = None,
) -> go.Figure:
    """Heat maps (label → one matrix per frame step) driven by one step slider, so every matrix
    shows the same moment. Each has a fixed colour scale symmetric about 0 across all frames, so
    a change of colour is a change of value and the sign reads at a glance.

    `frame_labels` names special frames on the slider (step → e.g. "peak"); `active` is the step
    it opens at (default the last); `groups` marks row/column groups (e.g. items sharing an
    attribute combination) with lines and tick labels on every matrix of that size."""
    labels = list(matrices)
    frame_labels = frame_labels or {}
    cols = min(3, len(labels))
    rows = math.ceil(len(labels) / cols)
    fig = make_subplots(
        rows=rows, cols=cols, subplot_titles=[escape(label) for label in labels], horizontal_spacing=0.12, vertical_spacing=0.16
    )
    shown = frames.index(active) if active in frames else len(frames) - 1
    for i, label in enumerate(labels):
        row, col = divmod(i, cols)
        axis = "" if i == 0 else str(i + 1)
        finite = [np.abs(m[np.isfinite(m)]) for m in matrices[label]]
        bound = max((float(a.max()) for a in finite if a.size), default=0.0) or 1.0
        fig.add_trace(
            go.Heatmap(
                z=matrices[label][shown],
                coloraxis=f"coloraxis{axis}",
                hovertemplate="row %{y}, col %{x}: %{z:.3f}<extra></extra>",
            ),
            row=row + 1,
            col=col + 1,
        )
        x_domain = fig.layout[f"xaxis{axis}"].domain
        y_domain = fig.layout[f"yaxis{axis}"].domain
        fig.layout[f"coloraxis{axis}"] = dict(
            colorscale="RdBu_r",
            cmin=-bound,
            cmax=bound,
            colorbar=dict(x=x_domain[1] + 0.01, y=sum(y_domain) / 2, len=y_domain[1] - y_domain[0], thickness=12),
        )
        fig.update_yaxes(autorange="reversed", row=row + 1, col=col + 1)  # row 0 on top, as a matrix is read
        if groups and matrices[label][shown].shape == (groups[-1][1], groups[-1][1]):
            _mark_groups(fig, groups, axis, row + 1, col + 1)
    fig.frames = [
        go.Frame(name=str(step), data=[go.Heatmap(z=matrices[label][k]) for label in labels], traces=list(range(len(labels))))
        for k, step in enumerate(frames)
    ]
    jump = {"mode": "immediate", "frame": {"duration": 0, "redraw": True}, "transition": {"duration": 0}}
    play = {"mode": "immediate", "fromcurrent": False, "frame": {"duration": 250, "redraw": True}, "transition": {"duration": 0}}
    fig.update_layout(
        template="plotly_white",
        margin=dict(l=50, r=60, t=60, b=20),
        width=140 + 400 * cols,
        height=150 + 380 * rows,
        sliders=[
            dict(
                active=shown,
                currentvalue=dict(prefix="step "),
                pad=dict(t=40),
                steps=[
                    dict(
                        label=f"{step} ({frame_labels[step]})" if step in frame_labels else str(step),
                        method="animate",
                        args=[[str(step)], jump],
                    )
                    for step in frames
                ],
            )
        ],
        updatemenus=[
            dict(
                type="buttons",
                direction="left",
                x=0,
                y=0,
                xanchor="right",
                yanchor="top",
                pad=dict(t=48, r=10),
                buttons=[
                    dict(label="Play", method="animate", args=[None, play]),
                    dict(label="Pause", method="animate", args=[[None], jump]),
                ],
            )
        ],
    )
    return fig


def _mark_groups(fig: go.Figure, groups: AxisGroups, axis: str, row: int, col: int) -> None:
    """Thin lines between groups (thicker where a coarser factor changes) and, when they fit, one
    tick label per group at its centre."""
    size = groups[-1][1]
    for first, _, _, level in groups[1:]:
        edge = first - 0.5
        line = dict(color="rgba(20,20,20,0.75)", width=BOUNDARY_WIDTHS[level] if level < len(BOUNDARY_WIDTHS) else 0.6)
        fig.add_shape(type="line", x0=edge, x1=edge, y0=-0.5, y1=size - 0.5, xref=f"x{axis}", yref=f"y{axis}", line=line)
        fig.add_shape(type="line", y0=edge, y1=edge, x0=-0.5, x1=size - 0.5, xref=f"x{axis}", yref=f"y{axis}", line=line)
    if len(groups) <= MAX_GROUP_LABELS:
        ticks = dict(
            tickmode="array",
            tickvals=[(first + end - 1) / 2 for first, end, _, _ in groups],
            ticktext=[escape(text) for _, _, text, _ in groups],
            tickfont=dict(size=9),
            showgrid=False,
        )
        fig.update_xaxes(**ticks, row=row, col=col)
        fig.update_yaxes(**ticks, row=row, col=col)
