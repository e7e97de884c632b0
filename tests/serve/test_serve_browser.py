"""The dashboard page in a real browser (Debian's Chromium, headless, through Playwright) against a
real uvicorn server: the runs table, a live run's curve growing without a reload, the matrix step
slider, a zoom refetching buckets, hostile names rendered as text, nothing outside the store."""

import http.client
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from serve_store import XSS, make_store, write_metrics

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"{CHROMIUM} is missing: the browser tests need Debian's chromium (`make setup` installs it as root)",
)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")
pytest.importorskip("uvicorn")

from phasewatch.serve.server import serving  # noqa: E402

PLOT_POINTS = (
    "document.getElementById('plot').data ? document.getElementById('plot').data.reduce((n, t) => n + t.x.length, 0) : 0"
)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return make_store(tmp_path_factory.mktemp("dashboard") / "store")


@pytest.fixture(scope="module")
def url(store):
    with serving(store) as address:
        yield address


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    """A fresh page that records every dialog, script error and console error (a blocked script
    under the page's Content-Security-Policy shows as one); none may happen."""
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.problems = []
    page.on("dialog", lambda dialog: (page.problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    page.on("pageerror", lambda error: page.problems.append(f"script error: {error}"))
    page.on("console", lambda message: message.type == "error" and page.problems.append(f"console: {message.text}"))
    yield page
    page.close()
    assert page.problems == []


def wait_until(page, expression: str, arg=None, timeout: float = 15.0):
    """Poll a JS expression (or a function of `arg`) until it is truthy. (Playwright's
    wait_for_function evaluates a string with eval, which the page's policy forbids.)"""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := page.evaluate(expression, arg):
            return value
        page.wait_for_timeout(50)
    raise AssertionError(f"still false after {timeout} s: {expression}")


def test_the_runs_table_lists_the_runs_and_hostile_names_stay_text(page, url):
    page.goto(url)
    wait_until(page, "document.querySelectorAll('#runs tbody tr').length === 3")
    rows = page.locator("#runs tbody tr")
    assert [rows.nth(i).get_attribute("data-run") for i in range(3)] == ["alpha", "beta", "hostile"]
    assert XSS in rows.nth(2).inner_text() and page.locator("#runs a", has_text="report").count() == 1
    rows.nth(2).locator("input[type=checkbox]").check()
    wait_until(page, "document.getElementById('metric').options.length === 2")
    page.select_option("#metric", XSS)
    page.select_option("#colour-by", "description")
    legend = "want => [...document.querySelectorAll('#plot .legendtext')].map(e => e.textContent).join('|') === want"
    wait_until(page, legend, f"hostile · description={XSS}")
    assert XSS in page.evaluate("[...document.getElementById('metric').options].map(o => o.textContent)")
    page.fill("#filter", "onerror")  # words match the row's text
    wait_until(page, "[...document.querySelectorAll('#runs tbody tr')].filter(r => !r.hidden).length === 1")
    page.wait_for_timeout(300)  # time for an onerror handler to fire, had markup been made
    assert page.evaluate("document.querySelectorAll('img').length") == 0


def test_a_running_runs_curve_grows_without_a_reload(page, url, store):
    page.goto(f"{url}?runs=beta&metric=train/loss")
    before = wait_until(page, PLOT_POINTS)
    page.evaluate("window.sameDocument = true")
    write_metrics(store / "beta", range(100, 120), {"train/loss": np.linspace(0.3, 0.2, 20)})
    wait_until(page, f"({PLOT_POINTS}) > {before}", timeout=10.0)
    assert page.evaluate("window.sameDocument") is True
    assert page.evaluate("document.getElementById('plot').data[0].x.at(-1)") == 119


def test_the_step_slider_changes_the_matrix_a_zoom_refetches_and_smoothing_is_display_only(page, url):
    page.goto(f"{url}?runs=alpha&metric=train/loss")
    wait_until(page, "document.getElementById('matrix-label').textContent === 'step 200'")
    wait_until(page, "document.getElementById('matrix').data?.[0]?.z?.[0]?.[0] === 3")
    page.locator("#matrix-step").evaluate("slider => { slider.value = 0; slider.dispatchEvent(new Event('input')); }")
    wait_until(page, "document.getElementById('matrix').data[0].z[0][0] === 1")
    assert page.inner_text("#matrix-label") == "step 0"
    wait_until(page, PLOT_POINTS)
    page.evaluate("Plotly.relayout('plot', {'xaxis.range': [100, 120]})")
    wait_until(page, "document.getElementById('plot').data[0].x.every(x => x >= 100 && x <= 120)")
    assert page.evaluate("document.getElementById('plot').data[0].x.length") == 21  # 21 steps, a bucket each
    raw = page.evaluate("document.getElementById('plot').data[0].y")
    page.check("#smooth")  # display only: the same points, smoothed values; unchecked, the raw ones again
    wait_until(page, "raw => JSON.stringify(document.getElementById('plot').data[0].y) !== JSON.stringify(raw)", raw)
    assert page.evaluate("document.getElementById('plot').data[0].x.length") == 21
    page.uncheck("#smooth")
    wait_until(page, "raw => JSON.stringify(document.getElementById('plot').data[0].y) === JSON.stringify(raw)", raw)


def test_paths_outside_the_store_are_not_found(url):
    address = urlsplit(url)
    for path in [
        "/report/../../etc/passwd",
        "/report/%2e%2e/%2e%2e/etc/passwd",
        "/report/..%2F..%2Fetc%2Fpasswd",
        "/report//etc/passwd",
    ]:
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
        connection.request("GET", path)  # sent as written: no client-side normalisation
        response = connection.getresponse()
        assert response.status == 404 and b"root:" not in response.read(), path
        connection.close()
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
    connection.request("GET", "/report/alpha/report.html")
    assert connection.getresponse().status == 200
    connection.close()


def test_tokens_axis_sweep_filter_and_the_phase_strip(page, url):
    page.goto(f"{url}?runs=alpha&metric=train/loss")
    plot = "document.getElementById('plot')"
    # alpha's saved phase timeline: one strip segment per span, in the span's colour, named
    wait_until(page, f"{plot}.layout?.shapes?.filter(s => s.name === 'phase').length === 3")
    names = page.evaluate(f"{plot}.layout.annotations.filter(a => a.name === 'phase').map(a => a.text)")
    assert names == ["memorisation", "grokking", "refinement"]
    assert page.evaluate(f"{plot}.layout.margin.t") > 40  # the strip and the event label sit above the plot
    # tokens: step × alpha's tokens_per_step (16); the hover still gives the step
    page.select_option("#xscale", "tokens")
    wait_until(page, f"{plot}.data[0].x.at(-1) === 299 * 16 && {plot}.layout.xaxis.title.text === 'tokens'")
    assert page.evaluate(f"{plot}.data[0].customdata.at(-1)") == 299 and "x=tokens" in page.url
    # a run without tokens_per_step: the axis falls back to step, and the page says why
    page.locator("#runs tr[data-run=beta] input").check()
    wait_until(page, f"{plot}.data.length === 2 && {plot}.layout.xaxis.title.text === 'step'")
    assert "beta" in page.inner_text("#xnote")
    # the runs table by sweep, with the sweep's phase diagram one click away when it has one
    page.select_option("#sweep", "pair")
    wait_until(page, "[...document.querySelectorAll('#runs tbody tr')].map(r => r.dataset.run).join() === 'alpha,beta'")
    assert page.get_attribute("#diagram", "href") == "report/sweeps/pair.html" and page.is_visible("#diagram")
    page.select_option("#sweep", "solo")
    wait_until(page, "[...document.querySelectorAll('#runs tbody tr')].map(r => r.dataset.run).join() === 'hostile'")
    assert not page.is_visible("#diagram") and "sweep=solo" in page.url
