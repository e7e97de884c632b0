"""Syntax against semantics on one log-step axis (docs/science/language.md): the selection probe's
syntactic and semantic accuracy, their probability masses, the attribute probes and the semantic
alignment, with their events marked and the phase timeline behind. A pure function of curves."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from phasewatch.probes.attention import DEPENDENCY_SEMANTIC, DEPENDENCY_SYNTAX
from phasewatch.probes.representation import ATTRIBUTE_PROBE
from phasewatch.probes.selection import (
    SEMANTIC_ACCURACY,
    SEMANTIC_CHOICE,
    SEMANTIC_CHOICE_MASS,
    SEMANTIC_MASS,
    SYNTACTIC_ACCURACY,
    SYNTACTIC_MASS,
)
from phasewatch.probes.semantic import ALIGNMENT
from phasewatch.report.common import Curves, family
from phasewatch.report.figures import LAYOUT, PALETTE, line_trace, mark_events, mark_timeline, phase_colour
from phasewatch.report.labels import stack_labels

SYNTAX, SEMANTICS = SYNTACTIC_ACCURACY.name, SEMANTIC_ACCURACY.name
SELECTION = tuple(
    m.name for m in (SYNTACTIC_ACCURACY, SEMANTIC_CHOICE, SEMANTIC_ACCURACY, SYNTACTIC_MASS, SEMANTIC_CHOICE_MASS, SEMANTIC_MASS)
)
SYNTACTIC = {SYNTACTIC_ACCURACY.name, SYNTACTIC_MASS.name}  # drawn in the syntax phase's colour, the rest in semantics'
MASSES = {SYNTACTIC_MASS.name, SEMANTIC_CHOICE_MASS.name, SEMANTIC_MASS.name}
# one summary line per other family: per-layer and per-factor curves stay in "Progress measures"
EXTRAS = (ATTRIBUTE_PROBE.at("mean"), ALIGNMENT.at("features"), DEPENDENCY_SYNTAX.at("max"), DEPENDENCY_SEMANTIC.at("max"))
DASHES = {
    ATTRIBUTE_PROBE.family: "dot",
    ALIGNMENT.family: "dashdot",
    DEPENDENCY_SYNTAX.family: "longdash",
    DEPENDENCY_SEMANTIC.family: "longdash",
}
OTHER_COLOURS = PALETTE[4:]  # D3 without the blue and red that syntax and semantics resemble


def language_metrics(data: Curves) -> list[str]:
    """The metrics of the panel, in drawing order; [] unless the run has both selection accuracies."""
    if SYNTAX not in data or SEMANTICS not in data:
        return []
    return [m for m in (*SELECTION, *EXTRAS) if m in data]


def language_figure(data: Curves, events: list[dict], timeline: Sequence[dict] = ()) -> go.Figure | None:
    """The panel, or None without both selection accuracies. Syntactic measures take the syntax
    phase's colour and semantic ones the semantics phase's: the choice among nouns and syntactic
    accuracy solid, masses dashed, unrestricted semantic accuracy dotted; the attribute probe,
    alignment and dependency heads in other colours."""
    metrics = language_metrics(data)
    if not metrics:
        return None
    fig = make_subplots(rows=1, cols=1)
    others = 0
    for metric in metrics:
        if metric in SELECTION:
            colour = phase_colour("syntax" if metric in SYNTACTIC else "semantics")
            dash = "dash" if metric in MASSES else "dot" if metric == SEMANTICS else "solid"
        else:
            colour, dash = OTHER_COLOURS[others % len(OTHER_COLOURS)], DASHES[family(metric)]
            others += 1
        fig.add_trace(line_trace(metric, *data[metric], colour=colour, group=family(metric), dash=dash))
    fig.update_xaxes(type="log", title_text="step + 1 (log scale)", showspikes=True, spikemode="across", spikethickness=1)
    fig.update_yaxes(title_text="accuracy · probability mass · probe score")
    fig.update_layout(**LAYOUT, height=500, legend=dict(groupclick="toggleitem"))
    mark_events(fig, [e for e in events if e["metric"] in metrics])
    mark_timeline(fig, timeline)
    stack_labels(fig)
    return fig
