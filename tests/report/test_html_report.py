import re

import numpy as np
from plotly.offline import get_plotlyjs
from rich.console import Console

from phasewatch.report import print_summary, write_report
from phasewatch.report.figures import display_points, select_steps


def without_plotlyjs(page: str) -> str:
    return page.replace(get_plotlyjs(), "")


def test_report_is_one_offline_file_with_every_panel(grokking_run):
    path = write_report(grokking_run)
    assert path == grokking_run.path / "report.html"
    assert not [p for p in grokking_run.path.iterdir() if p.name.startswith(".")]  # no temporary file left
    page = path.read_text(encoding="utf-8")

    assert page.count(get_plotlyjs()) == 1
    rest = without_plotlyjs(page)
    assert "http://" not in rest and "https://" not in rest  # no CDN, no fonts, no links out
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", rest)

    for panel in ("Behaviour", "Progress measures", "Matrices over time", "Events"):
        assert f"<h2>{panel}</h2>" in page
    for kind in ("loss_cliff", "grokking"):
        assert f"<td>{kind}</td>" in page
    assert '"sliders"' in rest and "Plotly.addFrames" in rest
    assert r"restricted_loss\u002flogits" in rest and r"weight_norm\u002ftotal" in rest  # JSON escapes "/"


def test_user_strings_are_escaped(grokking_run):
    page = without_plotlyjs(write_report(grokking_run).read_text(encoding="utf-8"))
    assert grokking_run.config["description"] == "<script>alert(1)</script>"
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_report_without_arrays_or_events_omits_those_panels(tmp_path, make_run):
    run = make_run(tmp_path, "plain", arrays=False, events=False, probes=False)
    page = without_plotlyjs(write_report(run).read_text(encoding="utf-8"))
    assert "<h2>Behaviour</h2>" in page
    assert "Progress measures" not in page and "Matrices over time" not in page and '"sliders"' not in page
    assert "No events detected." in page


def test_rewriting_replaces_the_report(grokking_run):
    first = write_report(grokking_run).read_text(encoding="utf-8")
    assert write_report(grokking_run).read_text(encoding="utf-8") == first  # deterministic: stable div ids


def test_summary_shows_metrics_and_one_events_table(grokking_run):
    console = Console(record=True, width=120)
    print_summary(grokking_run, console=console)
    text = console.export_text()
    assert "grok-1" in text and "finished" in text and "1m 15s" in text
    for metric in ("train/loss", "test/accuracy", "restricted_loss/logits"):
        assert metric in text
    assert text.count("events") == 1
    for cell in ("loss_cliff", "grokking", "test/accuracy", "[1,500, 1,720]", "0.09 → 1"):
        assert cell in text


def test_summary_without_events(tmp_path, make_run):
    console = Console(record=True, width=120)
    print_summary(make_run(tmp_path, "plain", arrays=False, events=False), console=console)
    assert "no events detected" in console.export_text()


def test_summary_is_plain_text_off_a_terminal(grokking_run, capsys):
    print_summary(grokking_run)
    out = capsys.readouterr().out
    assert "\x1b[" not in out and "grokking" in out


def test_display_points_keeps_extremes_and_ends():
    steps = np.arange(100_000)
    values = np.random.default_rng(0).normal(size=steps.size)
    values[54_321] = 50.0  # a one-step spike that naive striding would drop
    values[77_777] = -50.0
    s, v = display_points(steps, values)
    assert len(s) <= 5_002 and s[0] == 0 and s[-1] == steps[-1]
    assert 54_321 in s and 77_777 in s and np.all(np.diff(s) > 0)
    short = np.arange(10)
    assert display_points(short, short * 1.0)[0] is short


def test_select_steps_is_log_spaced_and_bounded():
    steps = list(range(0, 100_001, 10))
    chosen = select_steps(steps, 60)
    assert len(chosen) <= 60 and chosen[0] == 0 and chosen[-1] == 100_000
    assert sum(s < 1000 for s in chosen) > 20  # log spacing: early training is not skipped
    assert select_steps([5, 1, 3]) == [1, 3, 5]
