"""What the live dashboard (`phasewatch serve`) costs to feed: counts and ratios, printed.

(a) One 10⁶-point curve with a planted spike, bucketed to 1,000 wide: points per bucket (at most
    the min and the max, plus the bucket's last point), whether the spike is in the payload, and
    the payload's JSON bytes against the raw series'.
(b) 50 runs × 2,000 points, each run then logging 10 more rows: one live poll (the rows after each
    run's cursor, all 50 runs in one request, as the page polls) against a full re-fetch of the
    same plot (all 50 curves bucketed), in bytes and server time. Each is measured right after new rows land, so each pays
    for the store reader's connection rebuild, as a real poll does.
(c) Time to first paint of the 10⁶-point run in Chromium (Debian's, through Playwright): the
    page's first contentful paint and the time until the plot holds the curve, from navigation
    start, median of --repeats loads. Skipped without /usr/bin/chromium or Playwright.

Times are wall-clock on this machine (server in-process through Starlette's TestClient for (a)
and (b); a real uvicorn server for (c)); the counts and byte ratios do not depend on the machine.
Stores are written under a temporary directory that is deleted at the end.

    .venv/bin/python bench/dashboard_budget.py [--seed 0] [--points 1000000] [--runs 50] \\
        [--run-points 2000] [--new-rows 10] [--width 1000] [--repeats 3] [--no-browser]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from starlette.testclient import TestClient

from phasewatch.serve import buckets
from phasewatch.serve.app import create_app
from phasewatch.store import MetricsWriter, Run
from phasewatch.store.query import connect

CHROMIUM = Path("/usr/bin/chromium")
METRIC = "train/loss"


def write(run_dir: Path, steps: np.ndarray, values: np.ndarray) -> None:
    writer = MetricsWriter(run_dir / "metrics", flush_seconds=3600)
    for step, value in zip(steps.tolist(), values.tolist()):
        writer.log(step, {METRIC: value})
    writer.flush()


def planted(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
    """(steps, values, spike index): a noisy decaying loss and one spike far above the noise."""
    steps = np.arange(n)
    values = 2.0 / np.sqrt(steps + 1.0) + 0.02 * rng.standard_normal(n)
    spike = int(rng.integers(n // 10, 9 * n // 10))
    values[spike] += 10.0
    return steps, values, spike


def timed(call, repeats: int = 5) -> tuple[float, object]:
    """(median seconds, last result) of `call()`."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def big_curve(root: Path, args) -> None:
    print(f"(a) one curve of {args.points:,} points, one planted spike, bucketed to {args.width:,} wide")
    steps, values, spike = planted(args.points, np.random.default_rng(args.seed))
    run = Run.create(root, "big", experiment="budget", config={"seed": args.seed}, seed=args.seed)
    write(run.path, steps, values)
    run.set_status("finished")
    raw_bytes = len(json.dumps({"step": steps.tolist(), "value": values.tolist()}, separators=(",", ":")))
    client = TestClient(create_app(root))
    con = connect(root)
    for xscale in buckets.XSCALES:
        series = buckets.bucket_series(con, ["big"], METRIC, 0, args.points - 1, args.width, xscale)["big"]
        lo, hi = buckets.to_x(0, xscale), buckets.to_x(args.points - 1, xscale)
        index = [min(args.width - 1, math.floor((buckets.to_x(s, xscale) - lo) / (hi - lo) * args.width)) for s in series.steps]
        per_bucket = np.bincount(index, minlength=args.width)
        extremes = per_bucket[per_bucket > 0] - 1  # every bucket's last point is in, once
        present = bool(np.any((series.steps == spike) & (series.values == values[spike])))
        url = f"/api/series?runs=big&metric={METRIC}&width={args.width}&xscale={xscale}"
        seconds, response = timed(lambda url=url: client.get(url))
        payload = len(response.content)
        print(
            f"    xscale={xscale}: {len(series.steps):,} points in {int(np.count_nonzero(per_bucket))} non-empty buckets; "
            f"per bucket at most {int(per_bucket.max())} (min/max {int(extremes.max())} + last 1); spike at step {spike} "
            f"{'present' if present else 'MISSING'}; payload {payload:,} B vs raw {raw_bytes:,} B "
            f"(ratio {payload / raw_bytes:.5f}, {raw_bytes / payload:,.0f}x smaller); server {seconds * 1000:.0f} ms"
        )
    con.close()


def live_poll(root: Path, args) -> None:
    print(
        f"(b) {args.runs} runs x {args.run_points:,} points: a live poll after {args.new_rows} new rows per run vs a full re-fetch"
    )
    rng = np.random.default_rng(args.seed + 1)
    names = [f"run-{i:02d}" for i in range(args.runs)]
    for name in names:
        steps, values, _ = planted(args.run_points, rng)
        write(
            Run.create(root, name, experiment="budget", config={"lr": float(rng.uniform(1e-3, 1e-2))}, seed=0).path, steps, values
        )
    client = TestClient(create_app(root))
    cursors = {name: args.run_points - 1 for name in names}
    following = {"next": args.run_points}
    full_url = f"/api/series?runs={','.join(names)}&metric={METRIC}&width={args.width}"

    def log_rows() -> None:
        first = following["next"]
        steps = np.arange(first, first + args.new_rows)
        for name in names:
            write(root / name, steps, 0.1 + 0.01 * rng.standard_normal(args.new_rows))
        following["next"] = first + args.new_rows

    def poll() -> int:
        after = ",".join(str(cursors[name]) for name in names)
        response = client.get(f"/api/updates?run={','.join(names)}&metric={METRIC}&after={after}")
        for name, reply in response.json()["runs"].items():
            cursors[name] = reply["cursor"]
        return len(response.content)

    polls, fulls = [], []
    for _ in range(args.repeats + 2):
        log_rows()
        start = time.perf_counter()
        poll_bytes = poll()
        polls.append((time.perf_counter() - start, poll_bytes))
        log_rows()
        start = time.perf_counter()
        full_bytes = len(client.get(full_url).content)
        fulls.append((time.perf_counter() - start, full_bytes))
    poll_s, poll_b = statistics.median(t for t, _ in polls), statistics.median(b for _, b in polls)
    full_s, full_b = statistics.median(t for t, _ in fulls), statistics.median(b for _, b in fulls)
    print(
        f"    poll: {poll_b:,.0f} B, {poll_s * 1000:.0f} ms; full re-fetch: {full_b:,.0f} B, "
        f"{full_s * 1000:.0f} ms (medians of {len(polls)})"
    )
    print(f"    ratio poll / full: bytes {poll_b / full_b:.4f}, server time {poll_s / full_s:.2f}")


def first_paint(root: Path, args) -> None:
    print(f"(c) time to first paint of the {args.points:,}-point run in Chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("    skipped: playwright is not installed (pip install -e '.[test]')")
        return
    if not CHROMIUM.exists():
        print(f"    skipped: {CHROMIUM} is missing (Debian's chromium; `make setup` installs it as root)")
        return
    from phasewatch.serve.server import serving

    # The page forbids eval (its Content-Security-Policy), so poll with evaluate, not wait_for_function.
    ready = "(() => { const p = document.getElementById('plot'); return p.data && p.data.length && p.data[0].x.length ? [performance.now(), p.data[0].x.length] : null; })()"
    paint = "performance.getEntriesByName('first-contentful-paint').map(e => e.startTime)[0] ?? null"
    loads = []
    with serving(root) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True)
        for _ in range(args.repeats):
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{url}?runs=big&metric={METRIC}")
            deadline = time.monotonic() + 60
            found = None
            while found is None and time.monotonic() < deadline:
                found = page.evaluate(ready)
                if found is None:
                    page.wait_for_timeout(10)
            if found is None:
                raise RuntimeError("the plot did not show the curve within 60 s")
            loads.append((page.evaluate(paint), found[0], found[1]))
            page.close()
        browser.close()
    fcp = statistics.median(p for p, _, _ in loads if p is not None)
    plotted = statistics.median(t for _, t, _ in loads)
    print(
        f"    first contentful paint {fcp:.0f} ms; plot holding the curve ({loads[-1][2]:,} points drawn of {args.points:,}) "
        f"{plotted:.0f} ms after navigation start (medians of {len(loads)} loads)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0, help="seed of the planted data")
    parser.add_argument("--points", type=int, default=1_000_000, help="points of the one long curve (a, c)")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--run-points", type=int, default=2_000)
    parser.add_argument("--new-rows", type=int, default=10, help="rows each run logs between two polls (b)")
    parser.add_argument("--width", type=int, default=1_000, help="buckets (about the plot's width in pixels)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-browser", action="store_true", help="leave out (c)")
    args = parser.parse_args()
    print(f"dashboard budget: seed {args.seed}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="phasewatch-dashboard-") as tmp:
        big, many = Path(tmp) / "big", Path(tmp) / "many"
        big_curve(big, args)
        live_poll(many, args)
        if not args.no_browser:
            first_paint(big, args)


if __name__ == "__main__":
    main()
