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
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from phasewatch.errors import UserError
from phasewatch.serve.buckets import Series, rows_after
from phasewatch.store.query import RUNS_SCHEMA, connect

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


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
