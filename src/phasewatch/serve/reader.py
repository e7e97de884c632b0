"""The store as the dashboard reads it: one DuckDB connection, rebuilt only when the store changed.

`store.query.connect` lists the run directories and metric parts when it is called, so a
connection kept forever would never see a live run's new rows; one per request would re-read
every run.json and Parquet footer on every 2-second poll. The middle way: a signature of the
store (the modification times and entry counts of the store, each run directory and each
`metrics/` directory: every write in the store is a rename into one of them) is taken on each
request, a few stat calls, and the connection is rebuilt when it differs. A connection built
less than a second after the newest change it saw is not trusted for good (the "racy git" rule: a
second write in the same clock tick of a coarse file-system clock leaves the time as it was): the
first request a second or more after that change rebuilds it once more. So a change costs at most
two rebuilds, however many requests a poll makes.

DuckDB connections are not safe to share between threads, and Starlette runs each request in a
thread: one lock serialises the queries, which is ample for a dashboard on one machine.

Beside the SQL views, a few small JSON files are read directly (never through `Run.open`, which
tidies the store): a run's `tokens_per_step` from run.json (kept until the file changes), its
saved phase timeline (`analysis/phases.json`), and the sweeps' records (`sweeps/NAME.json`).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from phasewatch.errors import UserError
from phasewatch.report.common import PHASES, timeline_of
from phasewatch.serve.buckets import Series, rows_after
from phasewatch.serve.paths import inside
from phasewatch.store.query import RUNS_SCHEMA, connect
from phasewatch.store.run import read_info
from phasewatch.store.sweeps import SWEEPS, read_record

T = TypeVar("T")
RACY_NS = 1_000_000_000  # a connection built this soon after the newest change it saw is built once more
Signature = tuple[tuple[str, int, int], ...]


def _stamp(path: str) -> tuple[int, int]:
    """(modification time, number of entries) of a directory; (0, 0) when it is missing."""
    try:
        return os.stat(path).st_mtime_ns, len(os.listdir(path))
    except OSError:
        return 0, 0


def signature(root: Path) -> Signature:
    """What changes whenever a run, its run.json or events.json, or one of its metric parts does."""
    try:
        names = sorted(name for name in os.listdir(root) if not name.startswith("."))
    except OSError:
        return ()
    stamps = [(".", *_stamp(str(root)))]
    for name in names:
        stamps += [(name, *_stamp(os.path.join(root, name))), (f"{name}/metrics", *_stamp(os.path.join(root, name, "metrics")))]
    return tuple(stamps)


class StoreReader:
    """Read-only access to one store for the server: `read(fn)` calls `fn(connection)` under the
    lock, on a connection that has seen every write made before the call."""

    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()
        self._lock = threading.Lock()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._signature: Signature = ()
        self._unsettled: int | None = None  # the change time a connection built too soon after it saw
        self._runs: dict[str, str] = {}
        self._metrics: dict[str, set[str]] | None = None
        self._scales: dict[str, tuple[tuple[int, int], int | None]] = {}  # run -> (run.json's stamp, tokens_per_step)

    def _connection(self, rebuild: bool = False) -> duckdb.DuckDBPyConnection:
        current = signature(self.root)
        newest = max((mtime for _, mtime, _ in current), default=0)
        now = time.time_ns()
        settled = self._unsettled is not None and now - self._unsettled >= RACY_NS
        if rebuild or self._con is None or current != self._signature or settled:
            if self._con is not None:
                self._con.close()
            self._con = connect(self.root)
            self._signature = current
            self._unsettled = newest if now - newest < RACY_NS else None
            self._runs = dict(self._con.execute("SELECT run, status FROM runs").fetchall())
            self._metrics = None
        return self._con

    def read(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """`fn(connection)`; once more on a rebuilt connection when a metric part vanished under
        the query (a finishing run compacts its parts)."""
        with self._lock:
            try:
                return fn(self._connection())
            except duckdb.IOException:
                return fn(self._connection(rebuild=True))

    def statuses(self) -> dict[str, str]:
        """Run id -> status, for every run in the store now."""
        return self.read(lambda _: dict(self._runs))

    def runs(self, filters: dict[str, str]) -> tuple[list[str], list[str], list[dict[str, Any]]]:
        """(columns, settings columns, rows) of the `runs` view (less its `config` JSON), the rows
        whose columns equal, as text, the values in `filters`; oldest first. A filter on a column
        that does not exist is a UserError naming it."""

        def select(con: duckdb.DuckDBPyConnection) -> tuple[list[str], list[str], list[dict[str, Any]]]:
            columns = [d[0] for d in con.execute("SELECT * EXCLUDE (config) FROM runs LIMIT 0").description]
            if unknown := sorted(set(filters) - set(columns)):
                name = unknown[0]
                raise UserError(f"{name}: {filters[name]!r} is not allowed (a filter on a runs column: {', '.join(columns)})")
            # Column names are checked against the view's own, then quoted; values are parameters.
            where = " AND ".join(f"CAST({_quote(name)} AS VARCHAR) = ?" for name in filters) or "true"
            sql = f"SELECT * EXCLUDE (config) FROM runs WHERE {where} ORDER BY created, run"
            rows = [dict(zip(columns, row)) for row in con.execute(sql, list(filters.values())).fetchall()]
            return columns, [c for c in columns if c not in RUNS_SCHEMA.names], rows

        return self.read(select)

    def _logged(self, con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
        """Run -> the metrics it logged, read once per connection: every request checks its metric
        against it, and a scan of the whole store per request would cost more than the answer."""
        if self._metrics is None:
            self._metrics = {}
            for run, metric in con.execute("SELECT DISTINCT run, metric FROM metrics").fetchall():
                self._metrics.setdefault(run, set()).add(metric)
        return self._metrics

    def metric_names(self, runs: list[str]) -> list[str]:
        return self.read(lambda con: sorted(set().union(*(self._logged(con).get(run, set()) for run in runs))))

    def has_metric(self, metric: str, runs: list[str] | None = None) -> bool:
        """Whether any of `runs` (None: any run of the store) logged `metric`."""

        def check(con: duckdb.DuckDBPyConnection) -> bool:
            logged = self._logged(con)
            return any(metric in logged.get(run, ()) for run in (logged if runs is None else runs))

        return self.read(check)

    def rows_after(self, cursors: dict[str, int], metric: str, limit: int) -> tuple[dict[str, Series], dict[str, str]]:
        """(`buckets.rows_after`, the runs' statuses), both from one snapshot of the store: a page
        that sees a run finished has had every row the run flushed before it finished."""

        def select(con: duckdb.DuckDBPyConnection) -> tuple[dict[str, Series], dict[str, str]]:
            return rows_after(con, cursors, metric, limit), {run: self._runs[run] for run in cursors if run in self._runs}

        return self.read(select)

    def events(self, run: str) -> list[dict[str, Any]]:
        def select(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
            cursor = con.execute("SELECT * EXCLUDE (run) FROM events WHERE run = $run ORDER BY step", {"run": run})
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]

        return self.read(select)

    def tokens_per_step(self, runs: list[str]) -> dict[str, int | None]:
        """Each run's `tokens_per_step` from its run.json (what a built-in run records: the input
        tokens of one training batch); None where it has none (a watched run, an older run). Read
        again only when the file changed."""
        found: dict[str, int | None] = {}
        for run in runs:
            path = self.root / run / "run.json"
            try:
                stat = path.stat()
            except OSError:
                found[run] = None
                continue
            stamp = (stat.st_mtime_ns, stat.st_size)
            cached = self._scales.get(run)
            if cached is None or cached[0] != stamp:
                cached = (stamp, _tokens(path) if inside(self.root, path) is not None else None)
                self._scales[run] = cached
            found[run] = cached[1]
        return found

    def sweeps(self) -> dict[str, dict[str, Any]]:
        """Sweep name -> {members: its run ids, in the record's order; diagram: whether its phase
        diagram page (`sweeps/NAME.html`) exists}, for every readable record under `sweeps/`."""
        folder = self.root / SWEEPS
        if inside(self.root, folder) is None or not folder.is_dir():
            return {}
        found = {}
        for path in sorted(folder.glob("*.json")):
            if path.name.startswith(".") or inside(self.root, path) is None:
                continue
            try:
                record = read_record(self.root, path.stem)
            except UserError:
                continue  # half a record, or not one: not a sweep to offer
            members = [str(m["run"]) for m in record["members"] if isinstance(m, dict) and "run" in m]
            page = folder / f"{path.stem}.html"
            found[path.stem] = {"members": members, "diagram": page.is_file() and inside(self.root, page) is not None}
        return found

    def timeline(self, run: str) -> list[dict[str, Any]]:
        """The run's phase timeline (analysis/timeline.py) as the report reads it (`report.common.
        timeline_of`): the saved analysis result, else computed from its events and its config's
        `events.phases`; [] when it has none."""
        saved = _json_object(self.root / run / "analysis" / f"{PHASES}.json", self.root)
        if saved is not None:
            return timeline_of(saved, {}, [], None)
        try:
            config = read_info(self.root / run / "run.json").get("config") or {}
        except UserError:
            return []

        def last(con: duckdb.DuckDBPyConnection) -> int | None:
            row = con.execute("SELECT steps FROM runs WHERE run = $run", {"run": run}).fetchone()
            return None if row is None or row[0] is None else int(row[0])

        return timeline_of(None, config, self.events(run), self.read(last))


def _tokens(path: Path) -> int | None:
    try:
        value = read_info(path).get("tokens_per_step")
    except UserError:
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _json_object(path: Path, root: Path) -> dict | None:
    """The JSON object in `path` (a file inside the store `root`), or None when it is missing or not one."""
    if inside(root, path) is None:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
