"""Labels above a log-step plot, in lanes, and the plot's log/linear toggle.

Event labels (and structure-window labels) sit in the top margin, above the plot, each in the
first lane where it clears the labels already placed by LABEL_GAP_PX (`stack_labels`). Collisions
are judged in pixels on the log-step axis: a label's width is CHAR_PX per character at LABEL_SIZE,
and the plot is taken as PLOT_PX wide (the report's, less its legend, in a window 1,280 px wide; a
wider plot only spreads them). A label that would stick out of the plot is anchored at its step's
side instead of centred. Above the lanes a band of MODEBAR_PX is kept clear for plotly's mode bar
and the toggle's buttons, and the top margin grows to hold them all.

`step_axis(fig)` adds two buttons, log step and linear step, that switch every log-scale x axis of
a figure and move what sits on it: an annotation on a log axis takes log10 of its position, on a
linear one the position itself, and the lanes are laid out again for each scale.
"""

from __future__ import annotations

import re

import numpy as np
import plotly.graph_objects as go

# Event labels: lanes of LANE_PX above the plot, judged for a plot PLOT_PX wide (the report's, less
# its legend, in a window 1,280 px wide; wider only spreads them), each character CHAR_PX at
# LABEL_SIZE, below a band of MODEBAR_PX for plotly's mode bar and the axis toggle.
LABEL_SIZE = 11
CHAR_PX = 6.8
LABEL_GAP_PX = 12
LANE_PX = 16
LABEL_BASE_PX = 4
MODEBAR_PX = 34
PLOT_PX = 760


def _log_axes(fig: go.Figure) -> list[str]:
    """The layout names of the figure's log-scale x axes ("xaxis", "xaxis2", ...)."""
    return [name for name in fig.layout if name.startswith("xaxis") and fig.layout[name].type == "log"]


def _ref(axis: str) -> str:
    return "x" + axis.removeprefix("xaxis")  # "xaxis2" -> "x2"


def _top_labels(fig: go.Figure, refs: set[str]) -> list[int]:
    """Indices of the annotations above the plot on a step axis: event and window labels."""
    return [
        i
        for i, a in enumerate(fig.layout.annotations)
        if (a.xref or "x") in refs and a.yref == "paper" and a.y == 1 and a.yanchor == "bottom"
    ]


def _extent(fig: go.Figure, refs: set[str], log: bool) -> tuple[float, float]:
    """The step axis' range in its own units (log10 of the position on a log axis), from the
    traces and shapes drawn on it."""
    found = [np.asarray(t.x, dtype=float) for t in fig.data if getattr(t, "x", None) is not None and (t.xaxis or "x") in refs]
    found += [np.asarray([s.x0, s.x1], dtype=float) for s in fig.layout.shapes if (s.xref or "x") in refs and s.x0 is not None]
    values = np.concatenate(found) if found else np.zeros(0)
    values = values[np.isfinite(values) & ((values > 0) if log else True)]
    if not values.size:
        return 0.0, 1.0
    values = np.log10(values) if log else values
    low, high = float(values.min()), float(values.max())
    return (low, high) if high > low else (low - 0.5, high + 0.5)


def _lanes(fig: go.Figure, labels: list[int], positions: list[float], extent: tuple[float, float]) -> tuple[list[int], list[str]]:
    """(lane, xanchor) of each label: the first lane where it clears the labels already placed by
    LABEL_GAP_PX, judged in pixels of a PLOT_PX-wide plot; a label that would stick out of the
    plot is anchored at its step's side instead of centred."""
    low, high = extent
    lane_ends: list[float] = []
    lanes, anchors = [0] * len(labels), [""] * len(labels)
    order = sorted(range(len(labels)), key=lambda k: positions[k])
    for k in order:
        note = fig.layout.annotations[labels[k]]
        width = CHAR_PX * len(_plain(note.text or ""))
        centre = (positions[k] - low) / (high - low) * PLOT_PX
        anchor = note.xanchor if note.xanchor in ("left", "right") and note.name != "event" else "center"
        if anchor == "center" and centre - width / 2 < 0:
            anchor = "left"
        elif anchor == "center" and centre + width / 2 > PLOT_PX:
            anchor = "right"
        left = {"left": centre, "right": centre - width, "center": centre - width / 2}[anchor]
        lane = next((n for n, end in enumerate(lane_ends) if end + LABEL_GAP_PX <= left), len(lane_ends))
        if lane == len(lane_ends):
            lane_ends.append(0.0)
        lane_ends[lane] = left + width
        lanes[k], anchors[k] = lane, anchor
    return lanes, anchors


def _plain(text: str) -> str:
    """A label's text as shown: its HTML escapes count one character each."""
    return re.sub(r"&[#\w]+;", "x", text)


def _layout(fig: go.Figure, refs: set[str], log: bool) -> tuple[list[int], list[float], list[int], list[str]]:
    """(labels, positions in the axis' units, lanes, anchors) with the axis log or linear."""
    labels = _top_labels(fig, refs)
    xs = [float(fig.layout.annotations[i].x) for i in labels]  # log10 positions: the axes are log when this runs
    positions = xs if log else [10**x for x in xs]
    lanes, anchors = _lanes(fig, labels, positions, _extent(fig, refs, log))
    return labels, positions, lanes, anchors


def _top_margin(lanes: list[int]) -> int:
    return MODEBAR_PX + LABEL_BASE_PX + LANE_PX * (max(lanes, default=-1) + 1)


def _apply(fig: go.Figure, labels: list[int], lanes: list[int], anchors: list[str]) -> None:
    for i, lane, anchor in zip(labels, lanes, anchors):
        fig.layout.annotations[i].update(yshift=LABEL_BASE_PX + LANE_PX * lane, xanchor=anchor)


def _grow_top(fig: go.Figure, top: int) -> None:
    """A top margin of at least `top` px, the figure taller by what it grew."""
    old = fig.layout.margin.t if fig.layout.margin.t is not None else 100
    if top > old:
        fig.update_layout(margin=dict(t=top), height=(fig.layout.height or 450) + top - old)


def stack_labels(fig: go.Figure) -> None:
    """Put the labels above a log-step plot in lanes (never overprinting, none under the mode bar)
    and make the top margin hold them."""
    refs = {_ref(axis) for axis in _log_axes(fig)}
    if not refs:
        return
    labels, _, lanes, anchors = _layout(fig, refs, log=True)
    _apply(fig, labels, lanes, anchors)
    _grow_top(fig, _top_margin(lanes))


def step_axis(fig: go.Figure) -> go.Figure:
    """Add a log/linear toggle (two buttons, top left, clear of the mode bar) for the figure's
    log-scale step axis: each button sets every such axis' type and title, and moves every
    annotation on it (a log axis takes log10 positions, a linear one the values) and the labels'
    lanes, laid out again for that scale. A figure without a log x axis is returned unchanged."""
    axes = _log_axes(fig)
    if not axes:
        return fig
    refs = {_ref(axis) for axis in axes}
    labels, _, log_lanes, log_anchors = _layout(fig, refs, log=True)
    _, _, linear_lanes, linear_anchors = _layout(fig, refs, log=False)
    _apply(fig, labels, log_lanes, log_anchors)
    lanes = max(log_lanes + linear_lanes, default=-1) + 1
    _grow_top(fig, MODEBAR_PX + LABEL_BASE_PX + LANE_PX * lanes)
    moved = [i for i, a in enumerate(fig.layout.annotations) if (a.xref or "x") in refs and a.x is not None]
    log_args: dict = {}
    linear_args: dict = {}
    for axis in axes:
        title = fig.layout[axis].title.text
        log_args |= {f"{axis}.type": "log", f"{axis}.autorange": True}
        linear_args |= {f"{axis}.type": "linear", f"{axis}.autorange": True}
        if title:
            log_args[f"{axis}.title.text"] = title
            linear_args[f"{axis}.title.text"] = title.replace(" (log scale)", "")
    for i in moved:
        x = float(fig.layout.annotations[i].x)
        log_args[f"annotations[{i}].x"] = x
        linear_args[f"annotations[{i}].x"] = 10**x
    for i, log_lane, log_anchor, linear_lane, linear_anchor in zip(labels, log_lanes, log_anchors, linear_lanes, linear_anchors):
        log_args |= {f"annotations[{i}].yshift": LABEL_BASE_PX + LANE_PX * log_lane, f"annotations[{i}].xanchor": log_anchor}
        linear_args |= {
            f"annotations[{i}].yshift": LABEL_BASE_PX + LANE_PX * linear_lane,
            f"annotations[{i}].xanchor": linear_anchor,
        }
    toggle = dict(
        type="buttons",
        direction="left",
        showactive=True,
        active=0,
        x=0,
        xanchor="left",
        y=1,
        yanchor="bottom",
        pad=dict(b=LABEL_BASE_PX + LANE_PX * lanes + 4, l=0, r=0, t=0),
        font=dict(size=11),
        buttons=[
            dict(label="log step", method="relayout", args=[log_args]),
            dict(label="linear step", method="relayout", args=[linear_args]),
        ],
        name="step axis",
    )
    fig.update_layout(updatemenus=[*fig.layout.updatemenus, toggle])
    return fig
