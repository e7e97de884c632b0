"""The dashboard's API through Starlette's TestClient: every input checked, nothing outside the
store served, GET only, nothing written."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from serve_store import PROBE, XSS, write_metrics

pytest.importorskip("starlette")
pytest.importorskip("httpx")
from starlette.testclient import TestClient  # noqa: E402

from phasewatch.serve.app import create_app  # noqa: E402

ROUTES = ["/", "/static/plotly.js", "/static/dashboard.js", "/api/runs", "/api/metrics", "/api/series", "/api/updates"]
ROUTES += ["/api/events", "/api/timeline", "/api/sweeps", "/api/arrays", "/api/matrix", "/report/alpha/report.html"]


def tree(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.lstat().st_size, p.lstat().st_mtime_ns) for p in root.rglob("*")}


def test_runs_table_and_its_filters(client):
    body = client.get("/api/runs").json()
    assert [row["run"] for row in body["rows"]] == ["alpha", "beta", "hostile"]
    assert {"description", "lr"} <= set(body["settings"]) and "config" not in body["columns"]
    rows = {row["run"]: row for row in body["rows"]}
    assert rows["hostile"]["experiment"] == XSS and rows["alpha"]["report"] and not rows["beta"]["report"]
    assert rows["beta"]["status"] == "running" and rows["alpha"]["steps"] == 299
    assert [r["run"] for r in client.get("/api/runs?status=running").json()["rows"]] == ["beta"]
    assert [r["run"] for r in client.get("/api/runs", params={"experiment": XSS}).json()["rows"]] == ["hostile"]
    assert [r["run"] for r in client.get("/api/runs?lr=0.03").json()["rows"]] == ["beta"]
    assert [r["run"] for r in client.get("/api/runs?experiment=grokking&description=first").json()["rows"]] == ["alpha"]
    bad = client.get("/api/runs", params={'lr" OR 1=1 --': "x"})
    assert bad.status_code == 400 and "is not allowed" in bad.json()["error"]


def test_metric_names(client):
    assert client.get("/api/metrics?runs=beta").json() == {"metrics": ["train/loss"]}
    assert client.get("/api/metrics").json()["metrics"] == sorted(["test/accuracy", "train/loss", XSS])


def test_series_is_bucketed_with_a_cursor_per_run(client):
    body = client.get("/api/series?runs=alpha,beta&metric=train/loss&width=10").json()
    assert body["x0"] == 0 and body["x1"] == 299 and set(body["runs"]) == {"alpha", "beta"}
    assert body["runs"]["alpha"]["cursor"] == 299 and body["runs"]["beta"]["cursor"] == 99
    assert 10 <= len(body["runs"]["alpha"]["step"]) <= 30  # ≤ 3 per bucket, each bucket non-empty
    zoom = client.get("/api/series?runs=alpha&metric=train/loss&width=5&x0=100&x1=120&xscale=log").json()
    assert all(100 <= s <= 120 for s in zoom["runs"]["alpha"]["step"]) and zoom["runs"]["alpha"]["cursor"] == 299
    only = client.get("/api/series?runs=beta&metric=train/loss&x0=200").json()  # beta stops at 99
    assert only["runs"]["beta"]["step"] == [] and only["runs"]["beta"]["cursor"] == 99


@pytest.mark.parametrize(
    "query, status, words",
    [
        ("/api/series?runs=nobody&metric=train/loss", 404, "run 'nobody' not found"),
        ("/api/series?runs=alpha,nobody&metric=train/loss", 404, "nobody"),
        ("/api/series?runs=alpha&metric=nothing", 404, "metric 'nothing' not found"),
        ("/api/series?runs=beta&metric=test/accuracy", 404, "not found in these runs"),
        ("/api/series?metric=train/loss", 400, "runs: missing"),
        ("/api/series?runs=alpha", 400, "metric: missing"),
        ("/api/series?runs=alpha&metric=train/loss&width=0", 400, "width: 0 is not allowed"),
        ("/api/series?runs=alpha&metric=train/loss&width=abc", 400, "width: 'abc' is not allowed"),
        ("/api/series?runs=alpha&metric=train/loss&xscale=sqrt", 400, "xscale"),
        ("/api/series?runs=alpha&metric=train/loss&x0=50&x1=10", 400, "x0"),
        ("/api/series?runs=alpha&metric=train/loss&x0=nan", 400, "x0"),
        ("/api/updates?run=../alpha&metric=train/loss", 404, "not found"),
        ("/api/updates?run=alpha&metric=train/loss&after=-5", 400, "after: -5 is not allowed"),
        ("/api/updates?run=alpha,beta&metric=train/loss&after=5", 400, "after: 1 cursors are not allowed for 2 runs"),
        ("/api/updates?run=alpha,alpha&metric=train/loss&after=5,6", 400, "a run named twice"),
        ("/api/updates?run=alpha&metric=nothing", 404, "metric 'nothing' not found in the store"),
        ("/api/events?run=nobody", 404, "not found"),
        ("/api/arrays?run=nobody", 404, "not found"),
        ("/api/matrix?run=alpha&probe=gram/class_means", 400, "step: missing"),
        ("/api/matrix?run=alpha&probe=gram/class_means&step=7", 404, "no array"),
        ("/api/matrix?run=alpha&probe=../../etc&step=0", 400, "probe"),
        ("/api/matrix?run=alpha&probe=gram/class_means&step=0&key=nope", 404, "no a 2-D array 'nope'"),
        ("/api/nothing", 404, "Not Found"),
    ],
)
def test_bad_input_is_a_json_error(client, query, status, words):
    response = client.get(query)
    assert response.status_code == status and words in response.json()["error"]


def test_updates_return_only_rows_after_each_cursor_and_see_new_flushes(client, store):
    body = client.get("/api/updates?run=beta&metric=train/loss&after=95").json()
    assert body["runs"] == {
        "beta": {"step": [96, 97, 98, 99], "value": body["runs"]["beta"]["value"], "cursor": 99, "status": "running"}
    }
    assert not body["more"]
    write_metrics(store / "beta", range(100, 105), {"train/loss": np.full(5, 0.5)})
    body = client.get("/api/updates?run=beta,alpha&metric=train/loss&after=99,296").json()
    beta, alpha = body["runs"]["beta"], body["runs"]["alpha"]
    assert beta["step"] == [100, 101, 102, 103, 104] and beta["value"] == [0.5] * 5 and beta["cursor"] == 104
    assert alpha["step"] == [297, 298, 299] and alpha["cursor"] == 299 and alpha["status"] == "finished"
    quiet = client.get("/api/updates?run=beta&run=alpha&metric=train/loss&after=104&after=299").json()["runs"]
    assert quiet == {
        "beta": {"step": [], "value": [], "cursor": 104, "status": "running"},
        "alpha": {**quiet["alpha"], "step": []},
    }
    # a metric the store knows that this live run has not logged yet: nothing new, not an error
    assert client.get("/api/updates?run=beta&metric=test/accuracy").json()["runs"]["beta"]["step"] == []


def test_an_update_answer_is_capped_and_says_there_is_more(client, monkeypatch):
    monkeypatch.setattr("phasewatch.serve.app.UPDATE_LIMIT", 4)
    body = client.get("/api/updates?run=alpha,beta&metric=train/loss&after=290,90").json()
    assert body["more"] and body["runs"]["alpha"]["step"] == [291, 292, 293, 294] and body["runs"]["beta"]["step"] == []
    assert body["runs"]["alpha"]["cursor"] == 294 and body["runs"]["beta"]["cursor"] == 90


def test_values_that_json_cannot_carry_become_null(client, store):
    write_metrics(store / "beta", [100, 101], {"train/loss": np.array([np.nan, np.inf])})
    body = client.get("/api/updates?run=beta&metric=train/loss&after=99").json()
    assert body["runs"]["beta"]["value"] == [None, None]
    assert client.get("/api/series?runs=beta&metric=train/loss&x0=95").json()["runs"]["beta"]["value"][-1] is None


def test_events_and_matrices(client):
    events = client.get("/api/events?run=alpha").json()["events"]
    assert [(e["kind"], e["metric"], e["step_low"], e["step_high"]) for e in events] == [("grokking", "test/accuracy", 140, 165)]
    assert client.get("/api/events?run=beta").json()["events"] == []
    assert client.get("/api/arrays?run=alpha").json()["probes"] == {PROBE: [0, 100, 200]}
    assert client.get("/api/arrays?run=beta").json()["probes"] == {}
    body = client.get(f"/api/matrix?run=alpha&probe={PROBE}&step=100").json()
    assert body["key"] == "matrix" and body["keys"] == ["matrix"]
    assert np.array_equal(np.array(body["z"]), np.full((4, 4), 1.0) + np.eye(4))


def test_reports_inside_the_store_only(client, store, tmp_path):
    page = client.get("/report/alpha/report.html")
    assert page.status_code == 200 and "report of alpha" in page.text
    assert page.headers["content-security-policy"].startswith("sandbox")  # its scripts get no access to the API
    assert client.get("/report/alpha").text == page.text
    outside = tmp_path / "secret.html"
    outside.write_text("secret")
    os.symlink(outside, store / "alpha" / "leak.html")
    os.symlink(tmp_path, store / "alpha" / "up")
    (store / ".tmp-x-1").mkdir()
    (store / ".tmp-x-1" / "report.html").write_text("half-built")
    for path in [
        "/report/../../etc/passwd",
        "/report/%2e%2e/%2e%2e/etc/passwd",
        "/report/alpha/%2e%2e/%2e%2e/secret.html",
        "/report/alpha/..%2f..%2fsecret.html",
        "/report/%2Fetc%2Fpasswd",
        "/report//etc/passwd",
        "/report/" + str(outside),
        "/report/alpha/leak.html",
        "/report/alpha/up/secret.html",
        "/report/alpha/run.json",
        "/report/.tmp-x-1/report.html",
        "/report/beta",
        "/report/alpha%00/report.html",
        "/report/alpha\\..\\..\\secret.html",
    ]:
        response = client.get(path)
        assert response.status_code == 404, path
        assert "secret" not in response.text and "root:" not in response.text


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_every_route_answers_get_only(client, method):
    for route in ROUTES:
        assert client.request(method, route).status_code == 405, route


def test_no_request_writes_to_the_store(client, store):
    before = tree(store)
    for route in ROUTES:
        client.get(route)
    for query in ["/api/series?runs=alpha,beta,hostile&metric=train/loss", "/api/updates?run=beta&metric=train/loss"]:
        assert client.get(query).status_code == 200
    assert client.get(f"/api/matrix?run=alpha&probe={PROBE}&step=0").status_code == 200
    assert tree(store) == before


def test_the_page_and_plotly_are_served_locally(client):
    page = client.get("/")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-eval" not in policy
    assert 'src="static/plotly.js"' in page.text and "cdn" not in page.text.lower() and "{{" not in page.text
    plotly = client.get("/static/plotly.js")
    assert plotly.status_code == 200 and plotly.headers["content-type"].startswith("text/javascript") and len(plotly.text) > 1e6
    assert client.get("/static/secrets.js").status_code == 404


def test_only_the_expected_host_names_are_answered(store):
    guarded = create_app(store, allowed_hosts=["127.0.0.1", "localhost"])
    assert TestClient(guarded, base_url="http://127.0.0.1:8765").get("/api/runs").status_code == 200
    assert TestClient(guarded, base_url="http://rebound.example:8765").get("/api/runs").status_code == 400


def test_importing_the_cli_side_needs_neither_starlette_nor_uvicorn():
    code = "import sys, phasewatch, phasewatch.serve.cli; print(sorted(m for m in sys.modules if m.split('.')[0] in ('starlette', 'uvicorn')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
