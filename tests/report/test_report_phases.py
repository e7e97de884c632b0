"""The phase timeline in the report: the table with the article's claim, the band over every
line plot, syntax against semantics on one axis, and the terminal summary's phase lines."""

from __future__ import annotations

from html import escape

import numpy as np
from language_fakes import EVENTS, STEPS, make_language_run
from plotly.offline import get_plotlyjs
from report_fakes import HOSTILE, structure_events
from rich.console import Console

from phasewatch.report import print_summary, write_report
from phasewatch.report.common import curves, read_timeline
from phasewatch.report.figures import PHASE_COLOURS, curves_figure, mark_timeline, phase_colour
from phasewatch.report.language import language_figure, language_metrics
from phasewatch.report.phases import CLAIM_COLUMN, has_claim, phase_table
from phasewatch.report.structure import structure_figure

SPANS = [
    ("memorisation", 0, 200),
    ("syntax", 200, 800),
    ("induction", 800, 2000),
    ("semantics", 2000, 2500),
    ("refinement", 2500, STEPS),
]


def page_of(run) -> str:
    return write_report(run).read_text(encoding="utf-8").replace(get_plotlyjs(), "")


def band_labels(fig) -> list[str]:
    return [a.text for a in fig.layout.annotations if a.name == "phase"]


def test_timeline_is_read_from_the_saved_analysis_or_computed_from_the_config(tmp_path):
    saved = read_timeline(run := make_language_run(tmp_path), run.events, curves(run))
    assert [(s["name"], s["start"], s["end"]) for s in saved] == SPANS
    unsaved = make_language_run(tmp_path, "unsaved", save_timeline=False)
    assert read_timeline(unsaved, unsaved.events, curves(unsaved)) == saved  # a run made before it was saved
    nothing = make_language_run(tmp_path, "nothing", save_timeline=False, phases={})
    assert read_timeline(nothing, nothing.events, curves(nothing)) == []


def test_phase_table_puts_the_article_claim_beside_the_measured_spans(tmp_path):
    run = make_language_run(tmp_path)
    columns, rows = phase_table(read_timeline(run, run.events, curves(run)))
    assert columns[-1] == CLAIM_COLUMN
    assert rows[0] == ("memorisation", "0–200", "0–5 %", "train/loss", "0–20 %")
    assert rows[1] == ("syntax", "200–800", "5–20 %", "selection/syntactic_accuracy", "20–50 %")
    assert rows[2][0] == "induction" and rows[2][-1] == "–"  # not one of the article's phases
    assert rows[3][-1] == "50–70 %" and rows[4] == ("refinement", "2,500–4,000", "62–100 %", "–", "70–100 %")
    page = page_of(run)
    assert "<h2>Phases</h2>" in page and f"<th>{escape(CLAIM_COLUMN)}</th>" in page
    assert "<td>syntax</td><td class=num>200–800</td><td class=num>5–20 %</td>" in page
    assert "the &quot;coherence crystallisation&quot; article" in page and "not a measurement" in page


def test_no_claim_column_without_the_article_phases():
    timeline = [
        {"name": "memorisation", "start": 0, "end": 50, "start_share": 0, "end_share": 0.05, "metrics": [], "events": 0},
        {
            "name": "induction",
            "start": 50,
            "end": 1000,
            "start_share": 0.05,
            "end_share": 1.0,
            "metrics": ["induction_score/L1H0"],
            "events": 1,
        },
    ]
    columns, rows = phase_table(timeline)
    assert not has_claim(timeline) and CLAIM_COLUMN not in columns and len(rows[0]) == len(columns)


def test_band_is_drawn_over_every_line_plot(tmp_path):
    run = make_language_run(tmp_path)
    data, timeline = curves(run), read_timeline(run, run.events, curves(run))
    names = [name for name, _, _ in SPANS]
    groups = {"loss": ["train/loss", "test/loss"], "selection": ["selection/syntactic_accuracy"]}
    figures = [
        curves_figure(groups, data, EVENTS, by_split=True, timeline=timeline),
        structure_figure(data, [], None, timeline),
        language_figure(data, EVENTS, timeline),
    ]
    for fig in figures:
        assert band_labels(fig) == names
        colours = [s.fillcolor for s in fig.layout.shapes if s.ysizemode == "pixel"]  # the strip along the top
        assert colours == [phase_colour(n) for n in names]
    assert phase_colour("syntax") == PHASE_COLOURS["syntax"] and phase_colour("other") == phase_colour("other")
    page = page_of(run)
    for section in ("Phases", "Structure", "Syntax and semantics", "Behaviour", "Progress measures"):
        assert f"<h2>{section}</h2>" in page
    assert page.count('"name":"phase"') == 4 * len(names)  # structure, language, behaviour, progress


def test_band_labels_are_escaped():
    fig = curves_figure({"loss": ["train/loss"]}, {"train/loss": (np.arange(10), np.ones(10))}, [], by_split=True)
    span = {"name": HOSTILE, "start": 0, "end": 9, "start_share": 0.0, "end_share": 1.0, "metrics": [], "events": 0}
    mark_timeline(fig, [span])
    assert band_labels(fig) == ["&lt;script&gt;alert(1)&lt;/script&gt;"]


def test_syntax_and_semantics_share_one_axis_with_their_events(tmp_path):
    run = make_language_run(tmp_path)
    data = curves(run)
    assert language_metrics(data) == [
        "selection/syntactic_accuracy",
        "selection/semantic_accuracy",
        "selection/syntactic_mass",
        "selection/semantic_mass",
        "attribute_probe/mean",
        "semantic_alignment/features",
    ]
    fig = language_figure(data, EVENTS)
    assert [t.name for t in fig.data] == language_metrics(data)
    assert {t.yaxis for t in fig.data} == {None} and "yaxis2" not in fig.layout  # one axis
    assert fig.data[0].line.color == phase_colour("syntax") and fig.data[1].line.color == phase_colour("semantics")
    assert fig.data[1].line.dash == "dot" and fig.data[2].line.dash == "dash"
    labelled = [a.text for a in fig.layout.annotations if a.name != "phase"]
    # only the events on these metrics, each label saying its metric
    assert labelled == ["transition · selection/syntactic_accuracy", "crystallisation · selection/semantic_accuracy"]
    without = {m: c for m, c in data.items() if m != "selection/semantic_accuracy"}
    assert language_figure(without, EVENTS) is None


def test_summary_prints_the_phases(tmp_path):
    console = Console(record=True, width=160)
    print_summary(make_language_run(tmp_path), console=console)
    text = console.export_text()
    assert "syntax: steps 200–800 (5–20 % of training), from selection/syntactic_accuracy" in text
    assert "refinement: steps 2,500–4,000 (62–100 % of training)" in text


def test_a_run_without_a_timeline_renders_as_before(grokking_run, make_structure_run, tmp_path):
    page = page_of(grokking_run)
    assert "<h2>Phases</h2>" not in page and "Syntax and semantics" not in page and "Attention around" not in page
    assert '"name":"phase"' not in page
    structure = page_of(make_structure_run(tmp_path, events=structure_events()))
    assert "<h2>Structure</h2>" in structure and "<h2>Phases</h2>" not in structure
    console = Console(record=True, width=120)
    print_summary(grokking_run, console=console)
    assert "phases" not in console.export_text()


def test_a_saved_empty_timeline_shows_no_phases(tmp_path):
    run = make_language_run(tmp_path, phases={"other": ["nothing/*"]})
    assert run.analysis("phases") == {"phases": []}
    assert "<h2>Phases</h2>" not in page_of(run)
