"""SQL over every run in a store, through DuckDB.

Views:
    metrics(run, step, metric, value)   every flushed row of every run
    runs(run, experiment, status, seed, created, updated, finished, steps, config)
        one row per run directory; `steps` is the largest logged step (NULL before any),
        `config` the resolved config as JSON text (use json_extract), status "invalid"
        when run.json cannot be read and "damaged" when a metrics part cannot (its rows are left
        out of `metrics` until `--resume` records them again), so a broken run shows up instead
        of breaking the store or vanishing.

The query path is read-only: only SELECT (and EXPLAIN) statements run, and DuckDB may open no
file but the store's metric parts (no COPY, ATTACH, INSTALL, read_text of other files).
`unrestricted=True` (`phasewatch sql --unrestricted`) gives back full DuckDB with the user's
own file access, for a local shell; never for a query that someone else sends.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from phasewatch.errors import UserError
from phasewatch.store.metrics import damaged_parts, last_step, live_parts
from phasewatch.store.run import read_info, store_root

RUNS_SCHEMA = pa.schema(
    [
        ("run", pa.string()),
        ("experiment", pa.string()),
        ("status", pa.string()),
        ("seed", pa.int64()),
        ("created", pa.string()),
        ("updated", pa.string()),
        ("finished", pa.string()),
        ("steps", pa.int64()),
        ("config", pa.string()),
    ]
)


class EmptyStoreWarning(UserWarning):
    """`query` read a store that holds no runs: most often the wrong directory."""


EMPTY_METRICS = "SELECT NULL::VARCHAR AS run, NULL::BIGINT AS step, NULL::VARCHAR AS metric, NULL::DOUBLE AS value WHERE false"


def _run_dirs(root: Path) -> list[Path]:
    """Run directories: not hidden (those are runs being built) and holding a run.json."""
    if not root.exists():
        return []  # a store nobody has written to yet is an empty store
    if not root.is_dir():
        raise UserError(f"store: {root} is not a directory")
    return sorted(p for p in root.iterdir() if not p.name.startswith(".") and (p / "run.json").is_file())


def _runs_table(dirs: list[Path]) -> pa.Table:
    rows = []
    for d in dirs:
        try:
            info = read_info(d / "run.json")
        except UserError:
            info = {"status": "invalid"}
        if damaged_parts(d / "metrics"):
            info["status"] = "damaged"
        rows.append(
            {
                **info,
                "run": d.name,
                "steps": last_step(d / "metrics"),
                "config": json.dumps(info["config"]) if "config" in info else None,
            }
        )
    return pa.Table.from_pylist(rows, schema=RUNS_SCHEMA)


def _sql_string(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


READ_ONLY = (duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN)


def connect(root: str | Path | None = None, *, unrestricted: bool = False) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the `metrics` and `runs` views over the store; it can
    open no other file unless `unrestricted`."""
    dirs = _run_dirs(store_root(root))
    con = duckdb.connect()
    con.register("runs", _runs_table(dirs))
    damaged = {str(path) for d in dirs for path in damaged_parts(d / "metrics")}
    files = [(str(path), d.name) for d in dirs for path in live_parts(d / "metrics") if str(path) not in damaged]
    if not unrestricted:
        con.execute(f"SET allowed_paths = [{', '.join(_sql_string(f) for f, _ in files)}]")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")  # no statement may turn the two above back
    if not files:
        con.execute(f"CREATE VIEW metrics AS {EMPTY_METRICS}")
        return con
    # Pass the live files by name rather than a glob: a glob would also match parts that a
    # compaction has superseded but not yet deleted, and count their rows twice.
    con.register("_files", pa.table({"file": [f for f, _ in files], "run": [r for _, r in files]}))
    paths = ", ".join(_sql_string(f) for f, _ in files)
    con.execute(
        f"CREATE VIEW metrics AS SELECT f.run, p.step, p.metric, p.value "
        f"FROM read_parquet([{paths}], filename = true) p JOIN _files f ON p.filename = f.file"
    )
    return con


def _execute(sql: str, root: str | Path | None, unrestricted: bool) -> pd.DataFrame:
    con = connect(root, unrestricted=unrestricted)
    try:
        if not unrestricted:
            kinds = [statement.type for statement in con.extract_statements(sql)]
            if refused := [kind.name for kind in kinds if kind not in READ_ONLY]:
                raise UserError(
                    f"sql: a {refused[0]} statement is not allowed (SELECT or EXPLAIN only; "
                    "--unrestricted / unrestricted=True gives full DuckDB)"
                )
        return con.execute(sql).df()
    finally:
        con.close()


def query(sql: str, store: str | Path | None = None, *, unrestricted: bool = False) -> pd.DataFrame:
    """Run `sql` against the store's `metrics` and `runs` views; UserError on a bad query.
    Read-only and confined to the store unless `unrestricted` (see the module docstring).

    `store`: as everywhere (`pw.run(..., store=...)`, `--store`); default $PHASEWATCH_STORE, else
    ./runs. The frame's `attrs["store"]` is the absolute path of the store it read; a store that
    holds no runs (a typo, another working directory) gives an `EmptyStoreWarning` naming it.
    """
    path = store_root(store).resolve()
    frame = _query(sql, path, unrestricted)  # a bad query is an error, with no warning before it
    if not _run_dirs(path):
        warnings.warn(f"store {path} holds no runs (give store=DIR, or set $PHASEWATCH_STORE)", EmptyStoreWarning, stacklevel=2)
    frame.attrs["store"] = str(path)
    return frame


def _query(sql: str, root: str | Path | None, unrestricted: bool = False) -> pd.DataFrame:
    try:
        for _ in range(2):
            try:
                return _execute(sql, root, unrestricted)
            except duckdb.IOException:
                pass  # a part vanished between listing and reading (a run compacted meanwhile)
        return _execute(sql, root, unrestricted)
    except duckdb.Error as e:
        raise UserError(f"sql: {str(e).splitlines()[0]}") from None


def list_runs(store: str | Path | None = None) -> pd.DataFrame:
    """One row per run of the store: run, experiment, status, seed, created, steps; oldest first."""
    return _query("SELECT run, experiment, status, seed, created, steps FROM runs ORDER BY created, run", store_root(store))
