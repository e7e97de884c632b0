"""The report answers first (issue 19): a one-line verdict and the events on top, the config folded
away; reading hints only about what the run has; event labels that never overprint; a log/linear
step-axis toggle; large metric families as one heat map; plotly.js shared by the store's pages."""

from __future__ import annotations

import re
from html import escape
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest
from plotly.offline import get_plotlyjs, get_plotlyjs_version
from report_fakes import HOSTILE, structure_events

from phasewatch.report import figures as figs
from phasewatch.report import labels as lanes_module
from phasewatch.report import write_report
from phasewatch.report.assets import ASSETS, shared_plotly
from phasewatch.report.common import curves, verdict
from phasewatch.report.html import HINTS, features, hint, page, render
from phasewatch.store import Run
from phasewatch.store.query import list_runs
from phasewatch.store.run import recover

ASSET = f"plotly-{get_plotlyjs_version()}.min.js"


def event(kind, metric, step, low, high, before=0.0, after=1.0):
    return {"kind": kind, "metric": metric, "step": step, "step_low": low, "step_high": high, "before": before, "after": after}


def sentences(name: str) -> list[str]:
    return [text for text, _ in HINTS[name]]


def watched_run(root: Path, run_id: str = "gpt"):
    """A watched language model's run, as the Watcher records one: train/loss every step, the
    probe loss, 12 per-position losses and 10 weight norms at probe steps; no accuracy at all."""
    run = Run.create(root, run_id, experiment="watched", config={"description": "a GPT-2 under the watcher"}, seed=0)
    writer = run.writer()
    steps = np.unique(np.geomspace(1, 2000, 40).astype(int))
    for s in range(2001):
        writer.log(s, {"train/loss": 5.0 / np.sqrt(s + 1) + 0.5})
    for s in steps:
        values = {"probe/loss": 4.0 / np.sqrt(s + 1) + 0.6}
        values |= {f"position_loss/{k}": (4.0 + k) / np.sqrt(s + 1) + 0.5 for k in range(12)}
        values |= {f"weight_norm/h.{k}.attn": 10.0 + k + 0.001 * s for k in range(9)} | {"weight_norm/total": 40.0 + 0.002 * s}
        writer.log(int(s), values)
    writer.close()
    run.save_events([event("loss_cliff", "train/loss", 30, 20, 45, before=5.0, after=1.0)])
    run.set_status("finished")
    return run


# ---- the verdict ----------------------------------------------------------------------------------


def test_the_verdict_names_the_headline_event_with_its_interval_and_what_came_around_it():
    events = [
        event("transition", "train/accuracy", 9, 8, 9, before=0.105, after=0.993),
        event("grokking", "test/accuracy", 78, 70, 80, before=0.006, after=1.0),
        event("loss_cliff", "test/loss", 104, 100, 110, before=0.0128, after=0.000628),
        event("loss_cliff", "train/loss", 120, 100, 140, before=0.5, after=0.01),  # a second cliff: in the table only
        {**event("plateau", "test/loss", 20, 10, 60), "before": 0.5, "after": 0.5},  # a span, not a change
    ]
    assert verdict(events) == (
        "grokking at step 78 (interval 70–80) on test/accuracy (0.006 → 1), "
        "after train/accuracy rose 0.105 → 0.993 at step 9 (transition); "
        "then test/loss fell 0.0128 → 0.000628 at step 104 (loss_cliff) (1 more event in the table)"
    )
    # without grokking, the next kind in line heads it; a divergence heads everything
    assert verdict(events[:1] + events[2:3]).startswith("loss_cliff at step 104 (interval 100–110) on test/loss")
    diverged = {**event("divergence", "train/loss", 300, 290, 300), "after": None}
    assert verdict([*events, diverged]).startswith("divergence at step 300 (interval 290–300) on train/loss, after")
    assert "test/accuracy rose 0.006 → 1 at step 78 (grokking)" in verdict([*events, diverged])


def test_the_verdict_without_events():
    assert verdict([]).startswith("no transitions detected")
    assert verdict([{**event("plateau", "train/loss", 5, 1, 9)}]).startswith("no transitions detected")
    assert verdict([], analysed=False, run_id="r1") == (
        "not analysed yet: no events detected so far (`phasewatch report r1` detects them)."
    )


def test_the_page_answers_first_and_folds_the_config_away(grokking_run):
    html = render(grokking_run)
    verdict_at, events_at, config_at = html.index('class="verdict"'), html.index('id="events"'), html.index("<details")
    assert verdict_at < events_at < config_at < html.index("<h2>Behaviour</h2>")
    assert "<b>Verdict:</b> grokking at step 1,600 (interval 1,500–1,720) on test/accuracy" in html
    config = html[config_at : html.index("</details>")]
    assert "<summary>Config and versions</summary>" in config and "<caption>train</caption>" in config
    assert escape(HOSTILE) in config and HOSTILE not in html  # the config's user strings, escaped


# ---- hints: only about what the run has --------------------------------------------------------------


def test_hints_keep_only_the_sentences_about_what_the_run_has():
    assert hint("matrices", {"groups"}) == " ".join(s for s in sentences("matrices") if "circulant" not in s and "peak" not in s)
    assert "circulant" in hint("matrices", {"fourier"}) and "attribute" not in hint("matrices", {"fourier"})
    assert "circulant" not in hint("matrices", {"grokking"})  # an accuracy pair alone is not modular arithmetic
    data = {"train/accuracy": (np.arange(3), np.ones(3)), "test/accuracy": (np.arange(3), np.ones(3))}
    assert "grokking" in features(data, [])  # a train/test accuracy pair to compare
    assert "grokking" not in features({"train/loss": data["train/accuracy"]}, [])
    assert "grokking" in features({}, [event("grokking", "x/accuracy", 5, 4, 6)])
    weight_norm = {"weight_norm/total": data["train/accuracy"]}
    assert hint("progress", features({**data, **weight_norm}, [])).count("weight norm falling") == 1
    assert "Hidden progress" not in hint("progress", features({"train/loss": data["test/accuracy"], **weight_norm}, []))


def test_a_watched_language_model_report_says_nothing_of_grokking_or_structure(tmp_path):
    html = render(watched_run(tmp_path))
    hints = " ".join(re.findall(r'<p class="hint">(.*?)</p>', html))
    for absent in ("grokking", "Fourier", "circulant", "alignment", "ETF", "structure", "attribute", "induction", "UFM"):
        assert absent not in hints, absent
    assert "heat map" in hints and "Shaded bands are detected events" in hints


def test_a_grokking_report_says_nothing_of_semantic_structure(grokking_run):
    hints = " ".join(re.findall(r'<p class="hint">(.*?)</p>', render(grokking_run)))
    assert "Look for the gap" in hints and "circulant bands" in hints
    assert "restricted loss falling, excluded loss rising, Fourier sparsity rising, weight norm falling" in hints
    for absent in ("alignment", "ETF", "attribute", "structure window", "heat map", "UFM"):
        assert absent not in hints, absent


def test_a_structure_report_explains_its_window_but_not_a_fit_it_lacks(tmp_path, make_structure_run):
    hints = " ".join(re.findall(r'<p class="hint">(.*?)</p>', render(make_structure_run(tmp_path, events=structure_events()))))
    assert "structure window" in hints and "blocks along the diagonal" in hints and "fitted curve" not in hints
    assert "circulant" not in hints and "Hidden progress" not in hints


# ---- event labels, the step-axis toggle, heat maps -------------------------------------------------


def clustered_figure():
    """Eight events within a factor of two of each other: labels that would overprint."""
    steps = np.arange(3001)
    data = {"train/loss": (steps, 1 / (steps + 1.0)), "test/loss": (steps, 2 / (steps + 1.0))}
    events = [event(kind, metric, s, s - 5, s + 5) for kind, metric, s in [
        ("loss_cliff", "train/loss", 100), ("loss_cliff", "test/loss", 110), ("transition", "train/loss", 120),
        ("grokking", "test/accuracy", 130), ("plateau", "train/loss", 140), ("transition", "test/loss", 150),
        ("crystallisation", "fourier_sparsity/embed", 170), ("collapse", "weight_norm/total", 190),
    ]]  # fmt: skip
    return figs.curves_figure({"loss": ["train/loss", "test/loss"]}, data, events, by_split=True), events


def label_boxes(fig, log: bool) -> list[tuple[int, float, float]]:
    """(lane, left px, right px) of each event label, by the layout's own measure (PLOT_PX wide)."""
    refs = {"x"}
    labels, positions, lanes, anchors = lanes_module._layout(fig, refs, log=log)
    low, high = lanes_module._extent(fig, refs, log)
    out = []
    for i, position, lane, anchor in zip(labels, positions, lanes, anchors):
        width = lanes_module.CHAR_PX * len(lanes_module._plain(fig.layout.annotations[i].text))
        centre = (position - low) / (high - low) * lanes_module.PLOT_PX  # positions and extent in the axis' units
        left = {"left": centre, "right": centre - width, "center": centre - width / 2}[anchor]
        out.append((lane, left, left + width))
    return out


def test_event_labels_say_their_metric_and_never_overprint_in_either_scale():
    fig, events = clustered_figure()
    texts = [a.text for a in fig.layout.annotations if a.name == "event"]
    assert texts == [f"{e['kind']} · {e['metric']}" for e in sorted(events, key=lambda e: e["step"])]
    for log in (True, False):
        boxes = label_boxes(fig, log)
        for a in range(len(boxes)):
            for b in range(a + 1, len(boxes)):
                if boxes[a][0] == boxes[b][0]:  # same lane: apart by the gap
                    assert (
                        boxes[a][2] + lanes_module.LABEL_GAP_PX <= boxes[b][1]
                        or boxes[b][2] + lanes_module.LABEL_GAP_PX <= boxes[a][1]
                    )
        lanes = max(lane for lane, _, _ in boxes) + 1
        assert lanes >= 3  # they were crowded
    # the stack fits under the top margin's band for the mode bar
    top = max(a.yshift for a in fig.layout.annotations if a.name == "event") + lanes_module.LANE_PX
    assert top <= fig.layout.margin.t - lanes_module.MODEBAR_PX


def test_the_step_axis_toggle_moves_axes_and_labels_between_log_and_linear():
    fig, _ = clustered_figure()
    lanes_module.step_axis(fig)
    [menu] = fig.layout.updatemenus
    log, linear = menu.buttons
    assert (log.label, linear.label) == ("log step", "linear step") and log.method == linear.method == "relayout"
    assert log.args[0]["xaxis.type"] == "log" and linear.args[0]["xaxis.type"] == "linear"
    assert linear.args[0]["xaxis.title.text"] == "step + 1"
    for i, note in enumerate(fig.layout.annotations):
        assert log.args[0][f"annotations[{i}].x"] == note.x
        assert linear.args[0][f"annotations[{i}].x"] == pytest.approx(10**note.x)  # a log axis takes log10 positions
    assert any(k.endswith(".yshift") for k in linear.args[0])
    no_log = lanes_module.step_axis(go.Figure(go.Scatter(x=[1, 2], y=[1, 2])))
    assert not no_log.layout.updatemenus  # nothing to toggle


def test_a_family_of_many_members_is_one_heat_map(tmp_path):
    run = watched_run(tmp_path)
    data = curves(run)
    groups = {"position_loss": sorted(m for m in data if m.startswith("position_loss/")), "probe": ["probe/loss"]}
    fig = figs.curves_figure(groups, data, run.events, by_split=False)
    [heat] = [t for t in fig.data if t.type == "heatmap"]
    assert list(heat.y) == [str(k) for k in range(12)]  # natural order: 2 before 10
    assert heat.z.shape == (12, len(data["position_loss/0"][0])) and len(heat.x) == heat.z.shape[1] + 1  # brick edges
    assert np.all(np.diff(heat.x) > 0) and heat.x[0] > 0  # positive and increasing: drawable on the log axis
    np.testing.assert_allclose(heat.z[3], np.log10(data["position_loss/3"][1]))  # a positive loss: log10 colour
    assert [t.name for t in fig.data if t.type == "scatter"] == ["probe/loss"]  # no 12 legend entries
    html = render(run)
    assert html.count('"coloraxis":"coloraxis') == 2  # heat maps: position_loss (12) and weight_norm (10); not probe
    assert '"name":"weight_norm\\u002fh.0.attn"' not in html


# ---- plotly.js shared by the store's pages --------------------------------------------------------


def test_reports_share_one_plotly_per_store_written_once(tmp_path, make_run):
    first, second = make_run(tmp_path, "one"), make_run(tmp_path, "two")
    write_report(first)
    asset = tmp_path / ASSETS / ASSET
    stamp = asset.stat().st_mtime_ns
    write_report(second)
    assert asset.stat().st_mtime_ns == stamp and asset.read_text(encoding="utf-8") == get_plotlyjs()  # not written again
    for run in (first, second):
        html = (run.path / "report.html").read_text(encoding="utf-8")
        assert f'<script src="../{ASSETS}/{ASSET}"></script>' in html and len(html) < 1_000_000
    asset.write_text("truncated")  # different: written again
    write_report(first)
    assert asset.read_text(encoding="utf-8") == get_plotlyjs()
    assert not [p.name for p in asset.parent.iterdir() if p.name != ASSET]  # no temporary file left
    # the hidden folder is neither a run nor a half-built one
    assert recover(tmp_path) == [] and asset.is_file()
    assert sorted(list_runs(tmp_path)["run"]) == ["one", "two"]


def test_pages_outside_a_store_or_an_unwritable_store_inline_plotly(tmp_path, monkeypatch, make_run):
    assert shared_plotly(tmp_path / "store", tmp_path / "elsewhere" / "page.html") is None
    assert shared_plotly(tmp_path, tmp_path / "sweeps" / "d.html") == f"../{ASSETS}/{ASSET}"
    inline = page("t", ["<p>x</p>"])
    assert inline.count(get_plotlyjs()) == 1 and "<script src=" not in inline

    def refuse(path, data):
        raise PermissionError("read-only store")

    monkeypatch.setattr("phasewatch.report.assets.atomic_write_bytes", refuse)
    run = make_run(tmp_path / "ro", "r")
    assert get_plotlyjs() in write_report(run).read_text(encoding="utf-8")


def test_a_shared_page_says_so_when_its_plotly_is_missing():
    shared = page("t", ["<p>x</p>"], plotly=f"../{ASSETS}/{ASSET}")
    assert get_plotlyjs() not in shared and "if (!window.Plotly)" in shared
    assert f'"../{ASSETS}/{ASSET}"' in shared  # the URL, as a JS string
