"""Attention patterns of the top heads around the onset, one step slider for all.

The attention probe saves, per probe step, array probe `attention` with "pattern" (layers, heads,
T, T; query rows, key columns) and "tokens" (T,) the sequence it was taken on, and per-head scalars
`<family>/L{layer}H{head}` (0-based). The top heads: for each score family recorded, the head with
the highest final value, at most `MAX_HEADS` different heads. The frames: log-spaced saved steps,
plus every saved step inside the onset event's interval (up to half the frame budget); the
slider opens at the onset. The onset: the first `induction_onset` event, else the first event on
a head-score family. Only the frames shown are loaded.
"""

from __future__ import annotations

import re

import numpy as np
import plotly.graph_objects as go

from phasewatch.probes import METRICS
from phasewatch.probes.attention import INDUCTION, PATTERNS
from phasewatch.report import figures
from phasewatch.report.common import Curves, family, interval
from phasewatch.report.matrices import slider_frames

# score family → the word its heads are labelled with: the metrics declared for this panel, in order
FAMILIES = {m.family: m.label for m in METRICS if m.panel == "attention"}
ONSET = INDUCTION.rise
MAX_HEADS = 4
MAX_TOKEN_TICKS = 40  # a longer sequence is not labelled token by token
HEAD = re.compile(r"L(\d+)H(\d+)")


def top_heads(data: Curves) -> list[tuple[int, int, str]]:
    """(layer, head, title) of the top head of each family present, in FAMILIES order; a head that
    tops several families is shown once, titled with all of them ("L1H0 · induction 0.74")."""
    chosen: dict[tuple[int, int], list[str]] = {}
    for score, word in FAMILIES.items():
        finals = {}
        for metric, (_, values) in data.items():
            match = HEAD.fullmatch(metric.split("/", 1)[-1])
            values = values[np.isfinite(values)]
            if family(metric) == score and match and values.size:
                finals[int(match[1]), int(match[2])] = float(values[-1])
        if not finals:
            continue
        best = max(sorted(finals), key=finals.__getitem__)  # ties: the lowest layer, then head
        if best in chosen or len(chosen) < MAX_HEADS:
            chosen.setdefault(best, []).append(f"{word} {finals[best]:.2f}")
    return [(layer, head, " · ".join([f"L{layer}H{head}", *words])) for (layer, head), words in chosen.items()]


def onset_event(events: list[dict]) -> dict | None:
    """The first `induction_onset` event, else the first change on a head-score family; None if neither."""
    changes = sorted((e for e in events if e["kind"] != "plateau"), key=lambda e: e["step"])
    return next((e for e in changes if e["kind"] == ONSET), None) or next(
        (e for e in changes if family(e["metric"]) in FAMILIES), None
    )


def attention_frames(saved: list[int], event: dict | None) -> tuple[list[int], dict[int, str], int]:
    """(frames, labels, the frame to open at): `slider_frames`' log-spaced steps, denser inside
    the event's interval, opening at the saved step nearest the event, labelled with its kind."""
    frames, labels, active = slider_frames(saved, None if event is None else event["step"])
    if event is None:
        return frames, labels, active
    low, high = interval(event)
    window = figures.select_steps([s for s in saved if low <= s <= high], figures.MAX_FRAMES // 2)
    labels[active] = "onset" if event["kind"] == ONSET else str(event["kind"])
    return sorted({*frames, *window}), labels, active


def attention_figure(run, data: Curves, events: list[dict]) -> go.Figure | None:
    """The top heads' patterns over the slider's frames; None when the run saved no attention
    patterns or recorded no head scores."""
    saved = run.array_steps(PATTERNS)
    heads = top_heads(data)
    if not saved or not heads:
        return None
    frames, labels, active = attention_frames(saved, onset_event(events))
    matrices: dict[str, list[np.ndarray]] = {}
    tokens = []
    for step in frames:
        arrays = run.load_array(PATTERNS, step)
        pattern = arrays.get("pattern")
        if pattern is None or pattern.ndim != 4:
            return None
        for layer, head, title in heads:
            if layer < pattern.shape[0] and head < pattern.shape[1]:
                matrices.setdefault(title, []).append(pattern[layer, head].float().numpy())
        tokens.append(arrays.get("tokens"))
    matrices = {title: shown for title, shown in matrices.items() if len(shown) == len(frames)}
    if not matrices:
        return None
    fig = figures.matrices_figure(frames, matrices, frame_labels=labels, active=active)
    _label_tokens(fig, tokens)
    return fig


def _label_tokens(fig: go.Figure, tokens: list) -> None:
    """Token ids as the tick labels of every heat map, when every frame was taken on the same short sequence."""
    first = tokens[0]
    if first is None or first.ndim != 1 or len(first) > MAX_TOKEN_TICKS:
        return
    if any(t is None or t.shape != first.shape or not bool((t == first).all()) for t in tokens[1:]):
        return
    ticks = dict(
        tickmode="array",
        tickvals=list(range(len(first))),
        ticktext=[str(int(t)) for t in first],
        tickfont=dict(size=8),
        showgrid=False,
    )
    fig.update_xaxes(**ticks)
    fig.update_yaxes(**ticks)
