"""The dashboard's ASGI app (`phasewatch serve`): one page, a JSON API over the store, and the
runs' own reports. Read-only: no route writes, and every route answers GET (and HEAD) only.

    /                       the page (static/page.html; its scripts static/dashboard.js, curves.js, ...)
    /static/plotly.js       plotly.js from the installed `plotly` package: the page needs no network
    /api/runs?COL=VALUE[&sweep=NAME]
                            the runs table, filtered by any of its columns (experiment, status, lr, ...)
                            and by membership of a sweep
    /api/sweeps             the store's sweeps: members, and whether a phase diagram page exists
    /api/metrics?runs=A,B   metric names (of those runs; of every run without `runs`)
    /api/series?runs=A,B&metric=M&x0=&x1=&width=&xscale=step|log&x=step|tokens
                            each run's curve, bucketed (buckets.py), its cursor and its x factor
                            (x=tokens: step × the run's tokens_per_step; step, with a note, when a
                            run did not record it)
    /api/updates?run=A,B&metric=M&after=STEP,STEP
                            each run's rows after its cursor, for a live page's poll
    /api/events?run=A       the run's detected events
    /api/timeline?run=A     the run's phase timeline (analysis/timeline.py), each span with its colour
    /api/arrays?run=A       the probes that saved arrays, and their steps
    /api/matrix?run=A&probe=P&step=N[&key=K]
                            one step's matrix, as nested lists
    /report/PATH            an HTML page inside the store: RUN/report.html (RUN redirects there),
                            sweeps/NAME.html, ...; and the plotly.js those pages share
                            (.assets/plotly-VERSION.min.js, report/assets.py), nothing else hidden

Every input is checked before use: a run must be in the store, a metric logged, numbers in
range; errors are JSON `{"error": "..."}` with 400 (bad value) or 404 (no such thing), so the
page can show them. Anything a user could have named (runs, experiments, config values, metric
names) reaches the page as JSON data, never as markup: the page sets it with textContent.
"""

from __future__ import annotations

import json
from functools import cache
from html import escape
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
from plotly.offline import get_plotlyjs
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from phasewatch.analysis import timeline_lines
from phasewatch.errors import UserError
from phasewatch.report.figures import PALETTE, phase_colour
from phasewatch.serve import buckets, matrices, params
from phasewatch.serve.params import MAX_STEP, ApiError, clean, floats
from phasewatch.serve.paths import REPORT, store_asset, store_page
from phasewatch.serve.reader import StoreReader

MAX_WIDTH = 10_000  # buckets in one answer: wider than any screen in pixels
MAX_RUNS = 500
UPDATE_LIMIT = 20_000  # rows in one poll answer; a page that gets this many asks again at once
X_UNITS = ("step", "tokens")
SWEEP = "sweep"  # /api/runs?sweep=NAME: membership of a sweep, not a column of the runs view
SCRIPTS = ("plotly.js", "dashboard.js", "common.js", "curves.js", "matrices.js")  # the page's, as ES modules but plotly.js
HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}
# The page runs only its own scripts (no inline script, no eval); plotly.js injects <style>.
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
# A report runs inline scripts (and the store's shared plotly.js); sandboxed, in an origin of its own, without the API.
REPORT_POLICY = "sandbox allow-scripts allow-popups allow-downloads"


@cache
def _static(name: str) -> str:
    return (resources.files("phasewatch.serve") / "static" / name).read_text(encoding="utf-8")


_plotly_js = cache(get_plotlyjs)  # 4-5 MB read from the package once, not per page load


@cache
def _page() -> str:
    # The palette goes in as an attribute (escaped): the page's policy allows no inline script.
    return _static("page.html").replace("{{palette}}", escape(json.dumps(list(PALETTE))))


def _json(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status, headers=HEADERS)


def create_app(store_root: str | Path, *, allowed_hosts: list[str] | None = None) -> Starlette:
    """The dashboard over the store at `store_root`. `allowed_hosts`: the Host header values to
    answer (what `phasewatch serve` passes on a loopback address, so that a web page that rebinds
    its own domain name to 127.0.0.1 cannot read the store); None answers any."""
    root = Path(store_root).resolve()
    if not root.is_dir():
        raise UserError(f"store: {store_root} is not a directory")
    reader = StoreReader(root)

    def run_ids(request: Request, name: str, required: bool) -> list[str]:
        """The runs named in `name` (comma-separated, or the parameter repeated), in order; every
        run of the store when none is named and none is `required`."""
        names = [r for value in request.query_params.getlist(name) for r in value.split(",") if r]
        if required and not names:
            raise ApiError(400, f"{name}: missing (give ?{name}=RUN or ?{name}=RUN,RUN)")
        if len(names) > MAX_RUNS:
            raise ApiError(400, f"{name}: {len(names)} runs are not allowed (at most {MAX_RUNS})")
        known = reader.statuses()
        if missing := [r for r in names if r not in known]:
            raise ApiError(404, f"run {missing[0][:80]!r} not found in the store")
        if len(set(names)) < len(names):
            raise ApiError(400, f"{name}: a run named twice is not allowed (each run once)")
        return names or list(known)

    def one_run(request: Request) -> str:
        return run_ids(request, "run", required=True)[0]

    def metric(request: Request, runs: list[str] | None) -> str:
        name = str(params.text(request.query_params, "metric"))
        if not reader.has_metric(name, runs):
            where = "the store" if runs is None else "these runs"
            raise ApiError(404, f"metric {name[:80]!r} not found in {where}")
        return name

    def page(request: Request) -> Response:
        return Response(_page(), media_type="text/html", headers={**HEADERS, "Content-Security-Policy": PAGE_POLICY})

    def script(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in SCRIPTS:
            raise ApiError(404, "no such file")
        body = _plotly_js() if name == "plotly.js" else _static(name)
        return Response(body, media_type="text/javascript", headers={"X-Content-Type-Options": "nosniff"})

    def runs(request: Request) -> Response:
        filters = dict(request.query_params)
        members = None
        if SWEEP in filters:
            name = filters.pop(SWEEP)
            sweeps = reader.sweeps()
            if name not in sweeps:
                known = ", ".join(sweeps) or "none in this store"
                raise ApiError(404, f"sweep {name[:80]!r} not found in the store (sweeps: {known[:200]})")
            members = set(sweeps[name]["members"])
        columns, settings, rows = reader.runs(filters)
        if members is not None:
            rows = [row for row in rows if row["run"] in members]
        for row in rows:
            row["report"] = store_page(root, row["run"]) is not None
        return _json({"columns": columns, "settings": settings, "rows": clean(rows)})

    def sweeps(request: Request) -> Response:
        return _json({"sweeps": [{"name": name, **sweep} for name, sweep in reader.sweeps().items()]})

    def metrics(request: Request) -> Response:
        return _json({"metrics": reader.metric_names(run_ids(request, "runs", required=False))})

    def series(request: Request) -> Response:
        names = run_ids(request, "runs", required=True)
        name = metric(request, names)
        raw = request.query_params.get("xscale", "step")
        if raw not in buckets.XSCALES:
            raise ApiError(400, f"xscale: {raw[:40]!r} is not allowed (step or log)")
        xscale: buckets.XScale = "log" if raw == "log" else "step"
        unit = request.query_params.get("x", "step")
        if unit not in X_UNITS:
            raise ApiError(400, f"x: {unit[:40]!r} is not allowed (step or tokens)")
        width = params.integer(request.query_params, "width", 1000, 1, MAX_WIDTH)
        x0, x1 = params.step(request.query_params, "x0"), params.step(request.query_params, "x1")
        if x0 is not None and x1 is not None and x0 > x1:
            raise ApiError(400, f"x0: {x0:g} is not allowed (at most x1, {x1:g})")
        note = None
        scales: dict[str, float] | None = None
        if unit == "tokens":
            tokens = reader.tokens_per_step(names)
            if lacking := [run for run in names if tokens[run] is None]:
                unit = "step"
                listed = ", ".join(lacking[:3]) + (f" and {len(lacking) - 3} more" if len(lacking) > 3 else "")
                note = (
                    f"x is step: {listed} recorded no tokens_per_step in run.json (a watched run or an analyzed series has none)"
                )
            else:
                scales = {run: float(tokens[run] or 1) for run in names}

        def fetch(con: Any) -> tuple[float, float, dict[str, buckets.Series], dict[str, int]]:
            ranges = buckets.run_ranges(con, names, name)
            factor = scales or {}
            first = min((low * factor.get(run, 1.0) for run, (low, _) in ranges.items()), default=0)
            last = max((high * factor.get(run, 1.0) for run, (_, high) in ranges.items()), default=0)
            # An open end is the data's, or the other end's when the data lie wholly beyond it.
            high = max(last, x0 or 0) if x1 is None else x1
            low = min(first, high) if x0 is None else x0
            return (
                low,
                high,
                buckets.bucket_series(con, names, name, low, high, width, xscale, scales),
                {run: last for run, (_, last) in ranges.items()},
            )

        low, high, found, cursors = reader.read(fetch)
        curves = {
            run: {
                "step": found[run].steps.tolist() if run in found else [],
                "value": floats(found[run].values) if run in found else [],
                "cursor": cursors[run],
                "scale": scales[run] if scales else 1,
            }
            for run in names
            if run in cursors
        }
        answer = {"metric": name, "xscale": xscale, "x": unit, "x0": low, "x1": high, "width": width, "runs": curves}
        factors = {run: scales[run] if scales else 1 for run in names}  # also for a run that has not logged the metric
        return _json({**answer, "scales": factors, "note": note})

    def updates(request: Request) -> Response:
        names = run_ids(request, "run", required=True)
        raw = [a for value in request.query_params.getlist("after") for a in value.split(",")] or ["-1"] * len(names)
        if len(raw) != len(names):
            raise ApiError(400, f"after: {len(raw)} cursors are not allowed for {len(names)} runs (one per run, in order)")
        cursors = dict(zip(names, (params.as_integer("after", a, -1, MAX_STEP) for a in raw)))
        name = metric(request, None)  # a live run may not have logged it yet
        found, statuses = reader.rows_after(cursors, name, UPDATE_LIMIT)
        empty = buckets.Series(np.zeros(0, np.int64), np.zeros(0))
        runs = {
            run: {
                "step": found.get(run, empty).steps.tolist(),
                "value": floats(found.get(run, empty).values),
                "cursor": int(found[run].steps[-1]) if run in found else after,
                "status": statuses.get(run),
            }
            for run, after in cursors.items()
        }
        rows = sum(len(series.steps) for series in found.values())
        return _json({"metric": name, "runs": runs, "more": rows == UPDATE_LIMIT})

    def events(request: Request) -> Response:
        run = one_run(request)
        return _json({"run": run, "events": clean(reader.events(run))})

    def timeline(request: Request) -> Response:
        run = one_run(request)
        spans = [
            {**span, "colour": phase_colour(str(span["name"])), "text": timeline_lines([span])[0]}
            for span in reader.timeline(run)
        ]
        return _json({"run": run, "phases": clean(spans)})

    def arrays(request: Request) -> Response:
        run = one_run(request)
        return _json({"run": run, "probes": matrices.probes(root, run)})

    def matrix(request: Request) -> Response:
        run = one_run(request)
        probe = str(params.text(request.query_params, "probe"))
        step = params.integer(request.query_params, "step", None, 0, MAX_STEP)
        try:
            key, keys, values = matrices.matrix(root, run, probe, step, params.text(request.query_params, "key", required=False))
        except LookupError as e:
            raise ApiError(404, str(e)) from None
        return _json({"run": run, "probe": probe, "step": step, "key": key, "keys": keys, "z": floats(values)})

    def report(request: Request) -> Response:
        relative = request.path_params["path"]
        asset = store_asset(root, relative)
        if asset is not None:
            return Response(asset.read_bytes(), media_type="text/javascript", headers={"X-Content-Type-Options": "nosniff"})
        path = store_page(root, relative)
        if path is None:
            raise ApiError(404, "no such page in the store")
        if not relative.endswith(".html"):
            # RUN -> RUN/report.html: a report's relative links (../.assets/plotly-...) resolve from there
            return RedirectResponse(f"{quote(relative.rsplit('/', 1)[-1])}/{REPORT}", status_code=307, headers=HEADERS)
        return Response(path.read_bytes(), media_type="text/html", headers={**HEADERS, "Content-Security-Policy": REPORT_POLICY})

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return _json({"error": exc.message}, exc.status)

    async def user_error(request: Request, exc: Exception) -> Response:
        return _json({"error": str(exc)}, 400)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers={**HEADERS, **(exc.headers or {})})

    routes = [
        Route("/", page, methods=["GET"]),
        Route("/static/{name}", script, methods=["GET"]),
        Route("/api/runs", runs, methods=["GET"]),
        Route("/api/sweeps", sweeps, methods=["GET"]),
        Route("/api/metrics", metrics, methods=["GET"]),
        Route("/api/series", series, methods=["GET"]),
        Route("/api/updates", updates, methods=["GET"]),
        Route("/api/events", events, methods=["GET"]),
        Route("/api/timeline", timeline, methods=["GET"]),
        Route("/api/arrays", arrays, methods=["GET"]),
        Route("/api/matrix", matrix, methods=["GET"]),
        Route("/report/{path:path}", report, methods=["GET"]),
    ]
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)] if allowed_hosts else []
    return Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={ApiError: api_error, UserError: user_error, HTTPException: http_error},
    )
