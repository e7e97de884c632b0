"""The dashboard's views beyond one metric against step (issue 19): a tokens axis from each run's
tokens_per_step, the runs table by sweep with its phase diagram, a run's phase timeline, and the
plotly.js that the store's reports share, served through /report/ and nothing else hidden."""

import os

import numpy as np
import pytest
from serve_store import PHASES, TOKENS, write_metrics

pytest.importorskip("starlette")
pytest.importorskip("httpx")
from starlette.testclient import TestClient  # noqa: E402

from phasewatch.analysis import timeline_lines  # noqa: E402
from phasewatch.report.figures import phase_colour  # noqa: E402
from phasewatch.serve.app import create_app  # noqa: E402
from phasewatch.store import Run  # noqa: E402


def steps_of(body, run):
    return body["runs"][run]["step"]


def test_tokens_axis_scales_each_run_by_its_own_tokens_per_step(client):
    body = client.get("/api/series?runs=alpha,hostile&metric=train/loss&x=tokens&width=10000").json()
    assert body["x"] == "tokens" and body["note"] is None
    assert body["runs"]["alpha"]["scale"] == TOKENS["alpha"] and body["runs"]["hostile"]["scale"] == TOKENS["hostile"]
    assert (body["x0"], body["x1"]) == (0, 299 * TOKENS["alpha"])  # the range in tokens, the steps stay steps
    assert body["scales"] == TOKENS
    assert steps_of(body, "alpha") == list(range(300)) and steps_of(body, "hostile") == list(range(50))
    assert body["runs"]["alpha"]["cursor"] == 299
    # a zoom is a range of tokens: each run is cut at its own steps
    zoom = client.get("/api/series?runs=alpha,hostile&metric=train/loss&x=tokens&x0=160&x1=192&width=10000").json()
    assert steps_of(zoom, "alpha") == [10, 11, 12] and steps_of(zoom, "hostile") == list(range(40, 49))
    log = client.get("/api/series?runs=alpha&metric=train/loss&x=tokens&xscale=log&x0=1600&x1=1760&width=3").json()
    assert log["x"] == "tokens" and all(100 <= s <= 110 for s in steps_of(log, "alpha")) and steps_of(log, "alpha")


def test_tokens_fall_back_to_step_with_a_note_when_a_run_lacks_them(client):
    body = client.get("/api/series?runs=alpha,beta&metric=train/loss&x=tokens&width=10000").json()
    assert body["x"] == "step" and "beta" in body["note"] and "tokens_per_step" in body["note"]
    assert body["x1"] == 299 and body["runs"]["alpha"]["scale"] == 1 and body["runs"]["beta"]["scale"] == 1
    assert body["scales"] == {"alpha": 1, "beta": 1}
    plain = client.get("/api/series?runs=alpha&metric=train/loss").json()
    assert plain["x"] == "step" and plain["note"] is None and plain["runs"]["alpha"]["scale"] == 1
    bad = client.get("/api/series?runs=alpha&metric=train/loss&x=seconds")
    assert bad.status_code == 400 and "x: 'seconds' is not allowed (step or tokens)" in bad.json()["error"]


def test_tokens_per_step_is_read_again_when_run_json_changes(client, store):
    assert client.get("/api/series?runs=beta&metric=train/loss&x=tokens").json()["x"] == "step"
    Run.open(store, "beta").set_status("finished", tokens_per_step=7)  # what a built-in run records
    body = client.get("/api/series?runs=beta&metric=train/loss&x=tokens").json()
    assert body["x"] == "tokens" and body["runs"]["beta"]["scale"] == 7 and body["x1"] == 99 * 7


def test_sweeps_and_the_runs_table_by_sweep(client):
    sweeps = client.get("/api/sweeps").json()["sweeps"]
    assert sweeps == [  # the unreadable sweeps/broken.json is left out
        {"name": "pair", "members": ["alpha", "beta", "never-run"], "diagram": True},
        {"name": "solo", "members": ["hostile"], "diagram": False},
    ]
    assert [r["run"] for r in client.get("/api/runs?sweep=pair").json()["rows"]] == ["alpha", "beta"]
    assert [r["run"] for r in client.get("/api/runs?sweep=solo").json()["rows"]] == ["hostile"]
    assert [r["run"] for r in client.get("/api/runs?sweep=pair&status=running").json()["rows"]] == ["beta"]
    missing = client.get("/api/runs?sweep=nope")
    assert (
        missing.status_code == 404 and "sweep 'nope' not found" in missing.json()["error"] and "pair" in missing.json()["error"]
    )
    page = client.get("/report/sweeps/pair.html")  # the phase diagram, through the reports' route
    assert page.status_code == 200 and "phase diagram of pair" in page.text
    assert client.get("/report/sweeps/pair.json").status_code == 404  # data goes out through the API only


def test_a_store_without_sweeps_has_none(tmp_path):
    Run.create(tmp_path, "r", experiment="e", config={}, seed=0)
    client = TestClient(create_app(tmp_path))
    assert client.get("/api/sweeps").json() == {"sweeps": []}
    assert client.get("/api/runs?sweep=x").status_code == 404


def test_timeline_saved_or_computed_from_the_config(client, store):
    body = client.get("/api/timeline?run=alpha").json()
    assert [(s["name"], s["start"], s["end"]) for s in body["phases"]] == [(s["name"], s["start"], s["end"]) for s in PHASES]
    assert [s["colour"] for s in body["phases"]] == [phase_colour(s["name"]) for s in PHASES]
    assert body["phases"][1]["text"] == timeline_lines([PHASES[1]])[0]
    assert client.get("/api/timeline?run=beta").json()["phases"] == []
    assert client.get("/api/timeline?run=nobody").status_code == 404
    # a run made before timelines were saved: computed from its events and its config's events.phases
    config = {"events": {"phases": {"syntax": ["test/accuracy"]}}}
    gamma = Run.create(store, "gamma", experiment="e", config=config, seed=0)
    write_metrics(gamma.path, range(1000), {"test/accuracy": np.linspace(0, 1, 1000)})
    event = {"kind": "transition", "metric": "test/accuracy", "step": 500, "step_low": 450, "step_high": 550}
    gamma.save_events([{**event, "onset": 300, "end": 700, "before": 0.0, "after": 1.0, "width": 400}])
    gamma.set_status("finished")
    spans = client.get("/api/timeline?run=gamma").json()["phases"]
    assert [(s["name"], s["start"], s["end"]) for s in spans] == [
        ("memorisation", 0, 300),
        ("syntax", 300, 700),
        ("refinement", 700, 999),
    ]


def test_the_shared_plotly_is_served_and_nothing_else_hidden(client, store, tmp_path):
    (store / ".assets").mkdir()
    (store / ".assets" / "plotly-4.1.1.min.js").write_text("window.Plotly = {};")
    (store / ".assets" / "other.js").write_text("secret")
    (store / ".assets" / "plotly-4.1.1.min.js.map").write_text("secret")
    (tmp_path / "outside.js").write_text("secret")
    os.symlink(tmp_path / "outside.js", store / ".assets" / "plotly-6.6.6.min.js")
    asset = client.get("/report/.assets/plotly-4.1.1.min.js")
    assert asset.status_code == 200 and asset.text == "window.Plotly = {};"
    assert asset.headers["content-type"].startswith("text/javascript") and asset.headers["x-content-type-options"] == "nosniff"
    for path in [
        "/report/.assets/other.js",
        "/report/.assets/plotly-4.1.1.min.js.map",
        "/report/.assets/plotly-6.6.6.min.js",  # a symlink out of the store
        "/report/.assets/plotly-9.9.9.min.js",  # not there
        "/report/.assets/../alpha/run.json",
        "/report/.assets/%2e%2e/alpha/run.json",
        "/report/alpha/.assets/plotly-4.1.1.min.js",
        "/report/.assets",
    ]:
        response = client.get(path)
        assert response.status_code == 404 and "secret" not in response.text, path


def test_a_runs_directory_redirects_to_its_report_so_relative_links_resolve(client):
    response = client.get("/report/alpha", follow_redirects=False)
    assert response.status_code == 307 and response.headers["location"] == "alpha/report.html"
    assert client.get("/report/beta", follow_redirects=False).status_code == 404  # no report yet
