import numpy as np
from plotly.offline import get_plotlyjs
from report_fakes import FIT_RESULT, PEAK_STEP, structure_events

from phasewatch.report import print_summary, write_report
from phasewatch.report.common import curves, structure_windows, window_lines
from phasewatch.report.figures import log_x
from phasewatch.report.structure import structure_figure

FIT_NAME = "coupled UFM fit (r = 100, R² = 0.93)"


def stars(fig):
    return [t for t in fig.data if t.mode == "markers" and t.marker.symbol == "star"]


def test_windows_pair_a_rise_with_the_next_fall_on_the_same_metric():
    data = {"semantic_alignment/features": (np.array([0, 40, 150, 300, 1000]), np.array([0.0, 0.3, 0.7, 0.5, 0.1]))}
    events = structure_events(peak=False) + [
        {"kind": "collapse", "metric": "etf_distance/features", "step": 900},  # a fall with no rise: no window
        {"kind": "crystallisation", "metric": "semantic_alignment/classifier", "step": 50},  # a rise with no fall
    ]
    [window] = structure_windows(events, data)
    assert (window["metric"], window["start"], window["end"]) == ("semantic_alignment/features", 40, 1000)
    assert (window["peak_step"], window["peak_value"]) == (150, 0.7)  # no detector peak: the curve's maximum
    assert (window["before"], window["after"]) == (0.01, 0.05)
    [window] = structure_windows(structure_events(), data)
    assert (window["peak_step"], window["peak_value"]) == (PEAK_STEP, 0.6)  # the detector's own peak wins


def test_windows_list_the_feature_alignment_first():
    events = structure_events("etf_distance/features") + structure_events("semantic_alignment/classifier") + structure_events()
    assert [w["metric"] for w in structure_windows(events, {})] == [
        "semantic_alignment/features",
        "semantic_alignment/classifier",
        "etf_distance/features",
    ]


def test_panel_shades_the_window_and_stars_the_peak(tmp_path, make_structure_run):
    run = make_structure_run(tmp_path, events=structure_events())
    data = curves(run)
    fig = structure_figure(data, structure_windows(run.events, data))
    [shade] = [s for s in fig.layout.shapes if s.type == "rect"]
    assert (shade.x0, shade.x1) == (log_x(40), log_x(1000))
    [star] = stars(fig)
    assert list(star.x) == [log_x(PEAK_STEP)] and list(star.y) == [0.6]
    names = {t.name for t in fig.data}
    assert {
        "semantic_alignment/features",
        "semantic_alignment/classifier",
        "etf_distance/features",
        "train/accuracy",
        "test/accuracy",
    } <= names
    assert "train/loss" not in names


def test_panel_without_events_has_no_window_or_peak(tmp_path, make_structure_run):
    run = make_structure_run(tmp_path)
    fig = structure_figure(curves(run), [])
    assert not fig.layout.shapes and not stars(fig)


def test_panel_uses_a_second_axis_only_when_scales_differ(tmp_path, make_structure_run):
    same = structure_figure(curves(make_structure_run(tmp_path, "same")), [])  # alignment 0.6 beside ETF 1.2
    assert {t.yaxis for t in same.data} == {"y"}
    apart = structure_figure(curves(make_structure_run(tmp_path, "apart", etf_scale=10.0)), [])
    axes = {t.name: t.yaxis for t in apart.data}
    assert axes["semantic_alignment/features"] == "y"
    assert axes["etf_distance/features"] == axes["train/accuracy"] == "y2"


def test_no_panel_without_structure_metrics(grokking_run):
    assert structure_figure(curves(grokking_run), []) is None
    assert "<h2>Structure</h2>" not in write_report(grokking_run).read_text(encoding="utf-8")


def test_fit_overlay_appears_iff_the_run_has_a_fit(tmp_path, make_structure_run):
    with_fit = make_structure_run(tmp_path, "fit", events=structure_events(), fit=FIT_RESULT)
    page = write_report(with_fit).read_text(encoding="utf-8").replace(get_plotlyjs(), "")
    assert "<h2>Structure</h2>" in page and FIT_NAME in page
    fig = structure_figure(curves(with_fit), [], FIT_RESULT)
    [overlay] = [t for t in fig.data if t.name == FIT_NAME]
    assert list(overlay.y) == FIT_RESULT["predicted"] and list(overlay.x) == list(log_x(np.array(FIT_RESULT["steps"])))

    without = make_structure_run(tmp_path, "nofit", events=structure_events())
    page = write_report(without).read_text(encoding="utf-8")
    assert "<h2>Structure</h2>" in page and "coupled UFM fit" not in page


def test_window_sentence_and_fit_in_the_summary(tmp_path, make_structure_run):
    from rich.console import Console

    run = make_structure_run(tmp_path, events=structure_events(), fit=FIT_RESULT)
    data = curves(run)
    [line] = window_lines(structure_windows(run.events, data), data)
    etf = data["etf_distance/features"]
    at_peak = etf[1][np.abs(etf[0] - PEAK_STEP).argmin()]
    assert line == (
        f"structure window on semantic_alignment/features: rose from 0.01 to 0.6 (peak at step 200), "
        f"collapsed to 0.05 by step 1,000 (ETF distance {at_peak:.3g} → {etf[1][-1]:.3g})"
    )
    console = Console(record=True, width=300)
    print_summary(run, console=console)
    text = console.export_text()
    assert line in text and f"{FIT_NAME} on semantic_alignment/features" in text
