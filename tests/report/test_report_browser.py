"""The report in a real browser (Debian's Chromium, headless, through Playwright), opened from
file:// as a user opens it: the store's shared plotly.js loads by its relative path, and the event
labels overprint neither one another, nor the mode bar, nor the axis toggle, in log and in linear."""

from pathlib import Path

import pytest

from phasewatch.report import write_report

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: the browser tests need Debian's chromium")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")

CROWDED = [  # (kind, metric, step): labels that would overprint one another
    ("loss_cliff", "train/loss", 140),
    ("transition", "train/accuracy", 150),
    ("plateau", "test/loss", 160),
    ("crystallisation", "fourier_sparsity/embed", 1200),
    ("transition", "restricted_loss/logits", 1300),
    ("grokking", "test/accuracy", 1600),
    ("transition", "excluded_loss/logits", 1650),
    ("collapse", "weight_norm/total", 1700),
]

# Every label above a figure's plot, the mode bar and the toggle's buttons, as page rectangles.
BOXES = """id => {
  const figure = document.getElementById(id);
  const box = e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  const labels = [...figure.querySelectorAll('g.annotation')].filter(g => g.textContent.includes(' · ')).map(g => box(g.querySelector('text')));
  return {labels, modebar: box(figure.querySelector('.modebar')), buttons: [...figure.querySelectorAll('.updatemenu-button')].map(box),
          type: figure.layout.xaxis.type};
}"""


def overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_a_report_from_file_loads_the_shared_plotly_and_its_labels_never_overprint(tmp_path, make_run):
    run = make_run(tmp_path, "crowded")
    events = []
    for kind, metric, step in CROWDED:
        events.append({"kind": kind, "metric": metric, "step": step, "step_low": step - 10, "step_high": step + 10})
        events[-1] |= {"onset": step - 20, "end": step + 20, "before": 0.0, "after": 1.0, "width": 40, "score": 9.0}
    run.save_events(events)
    path = write_report(run)
    assert 'src="../.assets/' in path.read_text(encoding="utf-8")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        problems = []
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.goto(path.as_uri())
        page.wait_for_function("() => window.Plotly && document.querySelectorAll('.modebar').length >= 2", timeout=20_000)
        for figure in ("fig-behaviour", "fig-progress"):
            for scale in ("log", "linear"):
                if scale == "linear":
                    page.locator(f"#{figure} .updatemenu-button", has_text="linear step").click()
                    page.wait_for_timeout(400)
                found = page.evaluate(BOXES, figure)
                assert found["type"] == scale and len(found["labels"]) == len(CROWDED), (figure, scale)
                others = [found["modebar"], *found["buttons"]]
                for i, label in enumerate(found["labels"]):
                    assert not any(overlap(label, other) for other in found["labels"][i + 1 :]), (figure, scale, i)
                    assert not any(overlap(label, other) for other in others), (figure, scale, i)
        assert page.locator("p.noplotly").count() == 0 and problems == []
        browser.close()
