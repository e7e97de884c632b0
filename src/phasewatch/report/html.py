"""The HTML report of one run: `write_report(run)` → `run.path / "report.html"`.

A page that opens offline: each figure is a div plus a `Plotly.newPlot` call, and nothing is
fetched from the network (no CDN, no web fonts). plotly.js is the store's shared copy
(`../.assets/plotly-VERSION.min.js`, report/assets.py), or inlined once where there is none.
Every string that came from the user (run id, config values, metric names) is HTML-escaped.

Answers first: the header says what happened in one line (`common.verdict`), the events table
follows, the config is folded away below them. Each section's reading hint says only what this
run has: a sentence about grokking appears on a run with a grokking event or a train/test
accuracy pair, one about attribute blocks on a run that saved attribute groups (`hint`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape
from pathlib import Path

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from phasewatch.probes.attention import DEPENDENCY_SEMANTIC, DEPENDENCY_SYNTAX, DUPLICATE_TOKEN, INDUCTION, PREV_TOKEN
from phasewatch.probes.behaviour import TEST_ACCURACY, WEIGHT_NORM
from phasewatch.probes.fourier import EXCLUDED_LOSS, FOURIER_IPR, FOURIER_SPARSITY, RESTRICTED_LOSS
from phasewatch.probes.llc import LLC_TRACE
from phasewatch.probes.training import FORECAST, TRAIN_ACCURACY
from phasewatch.report import figures
from phasewatch.report.assets import shared_plotly
from phasewatch.report.attention import attention_figure
from phasewatch.report.common import (
    BEHAVIOUR_SPLITS,
    EVENT_COLUMNS,
    UFM_FIT,
    Curves,
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
    verdict,
    window_lines,
)
from phasewatch.report.forecast import HINT as FORECAST_HINT
from phasewatch.report.forecast import cone_figure
from phasewatch.report.labels import step_axis
from phasewatch.report.language import language_figure
from phasewatch.report.llc import llc_figure
from phasewatch.report.matrices import saved_matrices_figure
from phasewatch.report.phases import claim_note, has_claim, phase_table
from phasewatch.report.structure import structure_figure
from phasewatch.store import ATTRIBUTE_GROUPS
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
p.verdict { font-size: 1.05rem; margin: .6rem 0 0; } p.verdict b { font-weight: 600; }
details.config { margin-top: 1.4rem; } details.config summary { cursor: pointer; color: #555; }
p.noplotly { color: #b00; }
"""

# Each section's reading hint, as (sentence, condition) pairs: a sentence is shown when its
# condition, a feature of the run (`features`), holds; None: always. "{measures}" is the list of
# hidden progress measures the run recorded.
Hint = list[tuple[str, str | None]]
HINTS: dict[str, Hint] = {
    "llc": [
        (
            "λ̂, the local learning coefficient (Lau et al. 2023): how many effective parameters the solution "
            "at this step uses, estimated by SGLD chains localised at the current weights; the band is the chains' sd.",
            None,
        ),
        ("Shaded: stage boundaries, where the curve peaks, dips or pauses (Hoogland et al. 2024).", "stage_boundary"),
        (
            "The slider below picks an estimate and shows its sampler's traces: flat, overlapping loss traces after the "
            "grey burn-in and acceptance near 1 mean a healthy estimate.",
            "llc_traces",
        ),
    ],
    "phases": [
        (
            "The run's phases: the spans between events, each named after the metrics whose events fall in it. "
            "The first phase opens when any phase metric starts to move (its event's onset); each later phase "
            "when its first metric is half-way through its change, since phases overlap; a phase none of whose "
            "metrics moved is absent. Memorisation is the span before any named phase opened, when only token "
            "statistics (the loss) had moved; refinement the span after the last phase event ended. The same "
            "spans are the coloured bands along the top of every plot.",
            None,
        )
    ],
    "language": [
        (
            "The selection probe's syntactic accuracy (blue) and semantic choice (red: the best-scoring noun "
            "satisfies the verb and adjectives) on one axis, solid; probability masses dashed; unrestricted "
            "semantic accuracy (the argmax must also be a noun) dotted; the attribute probe, the alignment and "
            "the dependency heads in other colours; against log-step. The hypothesis to test: syntax saturates "
            "first, semantics rises later and more abruptly, the attribute probes with it.",
            None,
        ),
        ("Shaded bands and dashed lines are these metrics' events.", "events"),
        ("The strip on top is the phase timeline.", "timeline"),
    ],
    "attention": [
        (
            "Attention patterns (query rows, key columns) of the top heads: for each head score recorded, the head "
            "with the highest final score, titled with it. One slider for all; frames are log-spaced, denser inside "
            "the onset's interval, and it opens at the onset.",
            None,
        ),
        (
            "An induction head attends to the token after the previous occurrence of the current one (a stripe off "
            "the diagonal).",
            INDUCTION.family,
        ),
        ("A previous-token head attends just below the diagonal.", PREV_TOKEN.family),
        ("A duplicate-token head attends to the earlier occurrence of the current token itself.", DUPLICATE_TOKEN.family),
        ("A syntactic dependency head attends from the verb to its subject's head noun.", DEPENDENCY_SYNTAX.family),
        ("A semantic dependency head attends from the object to the verb that selects it.", DEPENDENCY_SEMANTIC.family),
    ],
    "structure": [
        (
            "Semantic alignment (solid: the slope of cosine on shared attributes), ETF distance (dashed: 0 is "
            "neural collapse) and accuracy (dotted) against log-step.",
            None,
        ),
        (
            "The shaded span is the structure window, from the midpoint of the alignment's rise to that of its fall; "
            "the star is its peak.",
            "windows",
        ),
        ("The wide grey band is the coupled UFM's fitted curve.", "fit"),
        ("A rise then a fall of alignment while the ETF distance falls is structure before collapse.", None),
    ],
    "behaviour": [
        (
            "Each behaviour measure in its own panel against log-step (a loss on a log scale), each split in its own colour.",
            None,
        ),
        ("Look for the gap: train accuracy saturating long before test accuracy jumps is grokking.", "grokking"),
        ("Shaded bands are detected events (their confidence interval), dashed lines their steps.", "events"),
    ],
    "progress": [
        ("Every other recorded measure, one panel per family, on the same axis.", None),
        ("A family of many members (more than 8) is one heat map, member by step.", "heatmap"),
        (
            "Hidden progress measures ({measures}) should move before the behavioural jump: compare them with the bands.",
            "progress_measures",
        ),
        ("Shaded bands are the detected events.", "events"),
    ],
    "matrices": [
        ("Saved matrices over training, one slider for all; colour is symmetric about 0.", None),
        ("Drag the slider and look for structure appearing, or collapsing.", None),
        ("A Fourier solution of modular arithmetic shows as circulant bands.", "fourier"),
        (
            "Items in attribute order are labelled by their factor values (0·2·1), with lines between combinations, "
            "thicker where a coarser factor changes: blocks along the diagonal are items sharing attributes.",
            "groups",
        ),
        ("The slider opens at the structure peak.", "windows"),
    ],
    "forecast": [(FORECAST_HINT["cone"], None)],
    "events": [
        (
            "Regime changes found in the curves: where (with a 90 % interval; 'grid': the probe spacing, not the "
            "noise, sets it), the observed level before and after, and how many steps the change took.",
            None,
        ),
        (
            "Below the table, which hidden measure moved before a behaviour change (only when the intervals are apart) or with it.",
            "leadlag",
        ),
    ],
}
# The hidden progress measures of grokking (Nanda et al. 2023), as the hint names them, by family.
PROGRESS_MEASURES = {
    RESTRICTED_LOSS.family: "restricted loss falling",
    EXCLUDED_LOSS.family: "excluded loss rising",
    FOURIER_SPARSITY.family: "Fourier sparsity rising",
    FOURIER_IPR.family: "Fourier IPR rising",
    WEIGHT_NORM.family: "weight norm falling",
}


def features(data: Curves, events: list[dict], **present: bool) -> set[str]:
    """What the run has, as the hints' conditions name it: its metric families, its event kinds,
    `grokking` (a grokking event, or a train and a test accuracy to compare), `events`, `leadlag`,
    `progress_measures` (grokking and one of PROGRESS_MEASURES), `fourier` (a Fourier measure of
    modular arithmetic), and each `present` name whose value is true (timeline, fit, windows,
    groups, heatmap, llc_traces)."""
    found = {family(m) for m in data} | {str(e["kind"]) for e in events} | {name for name, on in present.items() if on}
    if any(e["kind"] == "grokking" for e in events) or {TRAIN_ACCURACY.name, TEST_ACCURACY.name} <= set(data):
        found.add("grokking")
    if events:
        found.add("events")
    if lead_lag_lines(events):
        found.add("leadlag")
    if "grokking" in found and found & set(PROGRESS_MEASURES):
        found.add("progress_measures")
    if found & {FOURIER_SPARSITY.family, FOURIER_IPR.family, RESTRICTED_LOSS.family, EXCLUDED_LOSS.family}:
        found.add("fourier")  # modular arithmetic's Fourier measures: a Fourier solution to look for
    return found


def hint(name: str, has: set[str]) -> str:
    """The reading hint of section `name` for a run with features `has`: only the sentences about
    what it has (HTML: the sentences are ours, not the user's)."""
    measures = ", ".join(text for fam, text in PROGRESS_MEASURES.items() if fam in has)
    return " ".join(sentence.replace("{measures}", measures) for sentence, when in HINTS[name] if when is None or when in has)


def write_report(run) -> Path:
    """Write `run.path / "report.html"` atomically: a reader never sees half a page. Its plotly.js
    is the store's shared copy (written first when missing), or inlined when that cannot be."""
    path = Path(run.path) / "report.html"
    atomic_write_bytes(path, render(run, plotly=shared_plotly(Path(run.path).parent, path)).encode("utf-8"))
    return path


def render(run, plotly: str | None = None) -> str:
    """The report page as a string: the verdict, the events and the config, then one section per
    kind of data the run has. `plotly`: the URL of plotly.js (`page`); None inlines it."""
    data = curves(run)
    events = run.events
    windows = structure_windows(events, data)
    behaviour = _groups(sorted((m for m in data if is_behaviour(m)), key=_train_first), key=quantity, first=("loss", "accuracy"))
    progress = _groups(sorted(m for m in data if not is_behaviour(m) and not FORECAST.matches(m)), key=family, first=())
    timeline = read_timeline(run, events, data)
    fit = run.analysis(UFM_FIT)
    has = features(
        data,
        events,
        timeline=bool(timeline),
        fit=fit is not None,
        windows=bool(windows),
        groups=run.analysis(ATTRIBUTE_GROUPS) is not None,
        heatmap=any(len(members) > figures.MAX_LINES for members in progress.values()),
        llc_traces=bool(run.array_steps(LLC_TRACE)),
    )
    sections = [_header(run, last_step(data), events), _events(events, unjudged_lines(run), has), _config(run)]
    if timeline:
        sections.append(_phases(timeline))
    structure = structure_figure(data, windows, fit, timeline)
    if structure is not None:
        lines = window_lines(windows, data) + ([fit_line(fit)] if fit else [])
        sections.append(section("Structure", "structure", hint("structure", has), step_axis(structure), lines))
    language = language_figure(data, events, timeline)
    if language is not None:
        sections.append(section("Syntax and semantics", "language", hint("language", has), step_axis(language)))
    if behaviour:
        figure = figures.curves_figure(behaviour, data, events, by_split=True, timeline=timeline)
        sections.append(section("Behaviour", "behaviour", hint("behaviour", has), step_axis(figure)))
    if progress:
        figure = figures.curves_figure(progress, data, events, by_split=False, timeline=timeline)
        sections.append(section("Progress measures", "progress", hint("progress", has), step_axis(figure)))
    llc = llc_figure(run, data, events)
    if llc is not None:
        sections.append(section("Local learning coefficient", "llc", hint("llc", has), step_axis(llc)))
    cone = cone_figure(data, events)
    if cone is not None:
        sections.append(section("Forecast", "forecast", hint("forecast", has), step_axis(cone)))
    attention = attention_figure(run, data, events)
    if attention is not None:
        sections.append(section("Attention around the onset", "attention", hint("attention", has), attention))
    matrices = saved_matrices_figure(run, windows[0]["peak_step"] if windows else None)
    if matrices is not None:
        sections.append(section("Matrices over time", "matrices", hint("matrices", has), matrices))
    return page(f"phasewatch · {run.id}", sections, plotly=plotly)


# Shown when a shared plotly.js did not load (a report copied without its store's .assets folder).
NO_PLOTLY = (
    "<script>if (!window.Plotly) { var p = document.createElement('p'); p.className = 'noplotly'; "
    "p.textContent = 'The figures need plotly.js from ' + %s + ', which did not load: open this page inside its "
    "store, or write it again there (phasewatch report RUN).'; document.body.prepend(p); }</script>"
)


def page(title: str, sections: list[str], plotly: str | None = None) -> str:
    """A complete offline page: the style, plotly.js, then the sections (HTML). `plotly`: the
    (relative) URL of a shared plotly.js (report/assets.py), or None to inline it once."""
    script = f"<script>{get_plotlyjs()}</script>" if plotly is None else f'<script src="{escape(plotly)}"></script>'
    warning = "" if plotly is None else NO_PLOTLY % json.dumps(plotly).replace("<", "\\u003c")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{CSS}</style>"
        f"{script}</head>\n<body>\n{warning}" + "\n".join(sections) + "\n</body></html>\n"
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


def _header(run, steps: int | None, events: list[dict]) -> str:
    """The title, the run's facts and the one-line verdict (what happened, `common.verdict`)."""
    facts = "".join(f"<span><b>{escape(label)}</b> {escape(value)}</span>" for label, value in run_facts(run, steps))
    line = verdict(events, analysed=run.analysed, run_id=run.id)
    return (
        f'<header><h1>phasewatch report: {escape(run.id)}</h1><div class="facts">{facts}</div>'
        f'<p class="verdict"><b>Verdict:</b> {escape(line)}</p></header>'
    )


def _config(run) -> str:
    """The config, one table per section, and the versions, folded away under the answers."""
    config = dict(run.config)
    scalars = {k: v for k, v in config.items() if not isinstance(v, dict)}
    sections = {k: v for k, v in config.items() if isinstance(v, dict)}
    tables = [_kv_table("run", scalars)] if scalars else []
    tables += [_kv_table(name, values) for name, values in sections.items()]
    versions = run.info.get("versions") or {}
    versions_line = " · ".join(f"{escape(str(k))} {escape(str(v))}" for k, v in versions.items())
    return (
        f'<details class="config" id="config"><summary>Config and versions</summary><div class="config">{"".join(tables)}</div>'
        + (f'<p class="versions">versions: {versions_line}</p>' if versions_line else "")
        + "</details>"
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
        f'<section id="phases"><h2>Phases</h2><p class="hint">{hint("phases", set())}</p>'
        f'<div class="scroll">{_table(columns, rows, {"steps", "% of training"})}</div>{note}</section>'
    )


def _events(events: list[dict], unjudged: list[str], has: set[str]) -> str:
    intro = f'<section id="events"><h2>Events</h2><p class="hint">{hint("events", has)}</p>'
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
