"""The self-contained HTML report of one run: `write_report(run)` → `run.path / "report.html"`.

One file that opens offline: plotly.js is inlined once, each figure is a div plus a
`Plotly.newPlot` call, and nothing is fetched from the network (no CDN, no web fonts). Every
string that came from the user (run id, config values, metric names) is HTML-escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from phasewatch.probes.training import FORECAST
from phasewatch.report import figures
from phasewatch.report.attention import attention_figure
from phasewatch.report.common import (
    BEHAVIOUR_SPLITS,
    EVENT_COLUMNS,
    UFM_FIT,
    curves,
    event_rows,
    family,
    fit_line,
    fmt_config_value,
    is_behaviour,
    last_step,
    lead_lag_lines,
    quantity,
    read_timeline,
    run_facts,
    structure_windows,
    unjudged_lines,
    window_lines,
)
from phasewatch.report.forecast import HINT as FORECAST_HINT
from phasewatch.report.forecast import cone_figure
from phasewatch.report.language import language_figure
from phasewatch.report.llc import llc_figure
from phasewatch.report.matrices import saved_matrices_figure
from phasewatch.report.phases import claim_note, has_claim, phase_table
from phasewatch.report.structure import structure_figure
from phasewatch.store.atomic import atomic_write_bytes

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222;
       max-width: 1200px; margin: 2rem auto; padding: 0 1.5rem; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: .3rem; } h2 { font-size: 1.25rem; margin-top: 2.2rem;
     border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
p.hint { color: #555; margin: .3rem 0 .8rem; max-width: 60rem; }
.facts span { display: inline-block; margin: 0 1.4rem .3rem 0; } .facts b { color: #666; font-weight: 500; }
.config { display: flex; flex-wrap: wrap; align-items: flex-start; gap: .8rem; margin-top: .8rem; }
table { border-collapse: collapse; font-size: .9rem; }
th, td { padding: .2rem .6rem; text-align: left; border-bottom: 1px solid #eee; }
th { background: #f5f5f5; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.config table caption { text-align: left; font-weight: 600; padding: .2rem 0; }
.versions, .empty { color: #666; font-size: .9rem; }
.ci { color: #777; font-size: .8rem; white-space: nowrap; } .scroll { overflow-x: auto; }
ul.leadlag li, ul.windows li { margin: .2rem 0; }
p.claim { color: #555; font-size: .9rem; }
"""

HINTS = {
    "llc": "λ̂, the local learning coefficient (Lau et al. 2023): how many effective parameters the solution "
    "at this step uses, estimated by SGLD chains localised at the current weights; the band is the chains' sd. "
    "Shaded: stage boundaries, where the curve peaks, dips or pauses (Hoogland et al. 2024). The slider "
    "below picks an estimate and shows its sampler's traces: flat, overlapping loss traces after the grey "
    "burn-in and acceptance near 1 mean a healthy estimate.",
    "phases": "The run's phases: the spans between events, each named after the metrics whose events fall in it. "
    "The first phase opens when any phase metric starts to move (its event's onset); each later phase "
    "when its first metric is half-way through its change, since phases overlap; a phase none of whose "
    "metrics moved is absent. Memorisation is the span before any named phase opened, when only token "
    "statistics (the loss) had moved; refinement the span after the last phase event ended. The same "
    "spans are the coloured bands along the top of every plot.",
    "language": "The selection probe's syntactic accuracy (blue) and semantic choice (red: the best-scoring noun "
    "satisfies the verb and adjectives) on one axis, solid; probability masses dashed; unrestricted "
    "semantic accuracy (the argmax must also be a noun) dotted; the attribute probe, the alignment and "
    "the dependency heads in other colours; against log-step. The hypothesis to test: syntax saturates "
    "first, semantics rises later and more abruptly, the attribute probes with it. Shaded bands and "
    "dashed lines are these metrics' events; the strip on top, the phase timeline.",
    "attention": "Attention patterns (query rows, key columns) of the top heads: for each head score recorded "
    "(induction, previous-token, duplicate-token, syntactic and semantic dependency), the head with the highest final "
    "score, titled with it. One slider for all; frames are log-spaced, denser inside the onset's "
    "interval, and it opens at the onset. An induction head attends to the token after the previous "
    "occurrence of the current one (a stripe off the diagonal); a previous-token head, just below "
    "the diagonal; a duplicate-token head, to the earlier occurrence itself.",
    "structure": "Semantic alignment (solid: the slope of cosine on shared attributes), ETF distance (dashed: 0 is "
    "neural collapse) and accuracy (dotted) against log-step. The shaded span is the structure window, "
    "from the midpoint of the alignment's rise to that of its fall; the star is its peak; a wide grey "
    "band is the coupled UFM's fitted curve, when the run has one. A rise then a fall of alignment "
    "while the ETF distance falls is structure before collapse.",
    "behaviour": "Loss (log scale) and accuracy on train and test against log-step. Look for the gap: "
    "train accuracy saturating long before test accuracy jumps is grokking. Shaded bands are "
    "detected events (their confidence interval), dashed lines their steps.",
    "progress": "Every other recorded measure, one panel per family, on the same axis. Hidden progress "
    "measures (restricted loss falling, excluded loss rising, Fourier sparsity rising, weight "
    "norm falling) should move before the behavioural jump: compare them with the bands.",
    "matrices": "Saved matrices over training (e.g. the Gram matrix of class means), one slider for all. "
    "Colour is symmetric about 0. Drag the slider and look for structure appearing, such as "
    "the circulant bands of a Fourier solution or blocks of items sharing attributes, or collapsing. "
    "Items in attribute order are labelled by their factor values (0·2·1), with lines between "
    "combinations, thicker where a coarser factor changes; the slider opens at the structure peak "
    "when there is one.",
    "forecast": FORECAST_HINT["cone"],
    "events": "Regime changes found in the curves: where (with a 90 % interval; 'grid': the probe spacing, "
    "not the noise, sets it), the observed level before and after, and how many steps the change took; "
    "then which hidden measure moved before a behaviour change (only when the intervals are apart) or with it.",
}


def write_report(run) -> Path:
    """Write `run.path / "report.html"` atomically: a reader never sees half a page."""
    path = Path(run.path) / "report.html"
    atomic_write_bytes(path, render(run).encode("utf-8"))
    return path


def render(run) -> str:
    """The report page as a string: header, then one section per kind of data the run has."""
    data = curves(run)
    events = run.events
    windows = structure_windows(events, data)
    behaviour = _groups(sorted((m for m in data if is_behaviour(m)), key=_train_first), key=quantity, first=("loss", "accuracy"))
    progress = _groups(sorted(m for m in data if not is_behaviour(m) and not FORECAST.matches(m)), key=family, first=())
    timeline = read_timeline(run, events, data)
    sections = [_header(run, last_step(data))]
    if timeline:
        sections.append(_phases(timeline))
    fit = run.analysis(UFM_FIT)
    structure = structure_figure(data, windows, fit, timeline)
    if structure is not None:
        lines = window_lines(windows, data) + ([fit_line(fit)] if fit else [])
        sections.append(section("Structure", "structure", HINTS["structure"], structure, lines))
    language = language_figure(data, events, timeline)
    if language is not None:
        sections.append(section("Syntax and semantics", "language", HINTS["language"], language))
    if behaviour:
        figure = figures.curves_figure(behaviour, data, events, by_split=True, timeline=timeline)
        sections.append(section("Behaviour", "behaviour", HINTS["behaviour"], figure))
    if progress:
        figure = figures.curves_figure(progress, data, events, by_split=False, timeline=timeline)
        sections.append(section("Progress measures", "progress", HINTS["progress"], figure))
    llc = llc_figure(run, data, events)
    if llc is not None:
        sections.append(section("Local learning coefficient", "llc", HINTS["llc"], llc))
    cone = cone_figure(data, events)
    if cone is not None:
        sections.append(section("Forecast", "forecast", HINTS["forecast"], cone))
    attention = attention_figure(run, data, events)
    if attention is not None:
        sections.append(section("Attention around the onset", "attention", HINTS["attention"], attention))
    matrices = saved_matrices_figure(run, windows[0]["peak_step"] if windows else None)
    if matrices is not None:
        sections.append(section("Matrices over time", "matrices", HINTS["matrices"], matrices))
    sections.append(_events(events, unjudged_lines(run)))
    return page(f"phasewatch · {run.id}", sections)


def page(title: str, sections: list[str]) -> str:
    """A complete offline page: the style, plotly.js inlined once, then the sections (HTML)."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{CSS}</style>"
        f"<script>{get_plotlyjs()}</script></head>\n<body>\n" + "\n".join(sections) + "\n</body></html>\n"
    )


def _train_first(metric: str) -> tuple[int, str]:
    return BEHAVIOUR_SPLITS.index(family(metric)), metric


def _groups(metrics: list[str], key, first: tuple[str, ...]) -> dict[str, list[str]]:
    """Metrics grouped into subplots by `key`, in the order given; the groups named in `first`
    lead, the rest are sorted."""
    groups: dict[str, list[str]] = {}
    for metric in metrics:
        groups.setdefault(key(metric), []).append(metric)
    order = sorted(groups, key=lambda g: (first.index(g) if g in first else len(first), g))
    return {g: groups[g] for g in order}


def _figure_html(fig: go.Figure, div_id: str) -> str:
    # A fixed div id keeps the page deterministic; auto_play off so the slider opens where it says.
    return fig.to_html(
        full_html=False, include_plotlyjs=False, div_id=div_id, auto_play=False, config={"displaylogo": False, "responsive": True}
    )


def section(title: str, name: str, hint: str, fig: go.Figure, lines: Sequence[str] = ()) -> str:
    """A titled figure with its reading hint, and any sentences about it (escaped) below."""
    items = "".join(f"<li>{escape(line)}</li>" for line in lines)
    return (
        f'<section id="{name}"><h2>{title}</h2><p class="hint">{hint}</p>{_figure_html(fig, f"fig-{name}")}'
        + (f'<ul class="windows">{items}</ul>' if items else "")
        + "</section>"
    )


def _header(run, steps: int | None) -> str:
    facts = "".join(f"<span><b>{escape(label)}</b> {escape(value)}</span>" for label, value in run_facts(run, steps))
    config = dict(run.config)
    scalars = {k: v for k, v in config.items() if not isinstance(v, dict)}
    sections = {k: v for k, v in config.items() if isinstance(v, dict)}
    tables = [_kv_table("run", scalars)] if scalars else []
    tables += [_kv_table(name, values) for name, values in sections.items()]
    versions = run.info.get("versions") or {}
    versions_line = " · ".join(f"{escape(str(k))} {escape(str(v))}" for k, v in versions.items())
    return (
        f'<header><h1>phasewatch report: {escape(run.id)}</h1><div class="facts">{facts}</div>'
        f'<div class="config">{"".join(tables)}</div>'
        + (f'<p class="versions">versions: {versions_line}</p>' if versions_line else "")
        + "</header>"
    )


def _kv_table(caption: str, values: dict) -> str:
    rows = "".join(f"<tr><td>{escape(str(k))}</td><td>{escape(fmt_config_value(v))}</td></tr>" for k, v in values.items())
    return f"<table><caption>{escape(caption)}</caption>{rows}</table>"


def _table(columns: tuple[str, ...], rows: list[tuple[str, ...]], numeric: set[str]) -> str:
    """A table of strings, every cell escaped; the `numeric` columns right-aligned."""
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td{' class=num' if c in numeric else ''}>{escape(v)}</td>" for c, v in zip(columns, row)) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _phases(timeline: list[dict]) -> str:
    """The phase table, with the article's claim (and whose it is) when its phases were measured."""
    columns, rows = phase_table(timeline)
    note = f'<p class="claim">{escape(claim_note())}</p>' if has_claim(timeline) else ""
    return (
        f'<section id="phases"><h2>Phases</h2><p class="hint">{HINTS["phases"]}</p>'
        f'<div class="scroll">{_table(columns, rows, {"steps", "% of training"})}</div>{note}</section>'
    )


def _events(events: list[dict], unjudged: list[str]) -> str:
    intro = f'<section id="events"><h2>Events</h2><p class="hint">{HINTS["events"]}</p>'
    missing = "".join(f"<li>not judged: {escape(line)}</li>" for line in unjudged)
    missing = f'<ul class="unjudged">{missing}</ul>' if missing else ""
    if not events:
        return intro + '<p class="empty">No events detected.</p>' + missing + "</section>"
    lines = "".join(f"<li>{escape(line)}</li>" for line in lead_lag_lines(events))
    return (
        intro
        + _table(EVENT_COLUMNS, event_rows(events), {"step", "width"})
        + (f'<ul class="leadlag">{lines}</ul>' if lines else "")
        + missing
        + "</section>"
    )
