"""SQL over every run in a store, through DuckDB.

Views:
    metrics(run, step, metric, value)   every flushed row of every run
    events(run, kind, metric, step, step_low, step_high, onset, end, before, after, width, score,
        grid_limited)   every detected event of every run (events.json)
    runs(run, experiment, status, seed, created, updated, finished, steps, config, <settings>)
        one row per run directory, then one column per setting (`train_fraction`, `lr`, ...: the
        setting's own name where no other setting shares it, else its path with '_' for '.',
        `task_name`, `model_name`); `steps` is the largest logged step (NULL before any),
        `config` the resolved config as JSON text, status "invalid"
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
from typing import Any

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


EVENTS_SCHEMA = pa.schema(
    [
        ("run", pa.string()),
        ("kind", pa.string()),
        ("metric", pa.string()),
        *((name, pa.int64()) for name in ("step", "step_low", "step_high", "onset", "end", "width")),
        *((name, pa.float64()) for name in ("before", "after", "score")),
        ("grid_limited", pa.bool_()),
    ]
)


def _events_table(dirs: list[Path]) -> pa.Table:
    rows = []
    for d in dirs:
        try:
            events = json.loads((d / "events.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # not analysed, or unreadable: `phasewatch report RUN` detects them again
        if isinstance(events, list):
            rows += [{**event, "run": d.name} for event in events if isinstance(event, dict)]
    try:
        return pa.Table.from_pylist(rows, schema=EVENTS_SCHEMA)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):  # a hand-edited events.json: skip what does not fit
        return pa.Table.from_pylist([r for r in rows if _fits(r)], schema=EVENTS_SCHEMA)


def _fits(row: dict) -> bool:
    try:
        pa.Table.from_pylist([row], schema=EVENTS_SCHEMA)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return False
    return True


def _settings(config: Any, prefix: str = "") -> dict[str, Any]:
    """A config as `dotted.key -> value`; lists and empty tables as JSON text."""
    if isinstance(config, dict) and config:
        return {k: v for key, value in config.items() for k, v in _settings(value, f"{prefix}{key}.").items()}
    return {prefix[:-1]: json.dumps(config) if isinstance(config, (list, dict)) else config}


def _setting_columns(configs: list[dict[str, Any]]) -> dict[str, pa.Array]:
    """One typed column per setting of any run (NULL where a run lacks it), named as the module
    docstring says."""
    keys = list(dict.fromkeys(key for config in configs for key in config))
    leaves = [key.rpartition(".")[2] for key in keys]
    columns = {}
    for key, leaf in zip(keys, leaves):
        name = leaf if leaves.count(leaf) == 1 and leaf not in RUNS_SCHEMA.names else key.replace(".", "_")
        if name in RUNS_SCHEMA.names:
            continue  # `seed` is a column already
        values = [config.get(key) for config in configs]
        present = [v for v in values if v is not None]
        if all(isinstance(v, bool) for v in present):
            kind = pa.bool_()
        elif all(isinstance(v, int) and not isinstance(v, bool) for v in present):
            kind = pa.int64()
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
            kind = pa.float64()
        else:
            kind, values = pa.string(), [None if v is None else v if isinstance(v, str) else json.dumps(v) for v in values]
        columns[name] = pa.array(values, kind)
    return columns


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
                "config_dict": info.get("config"),
            }
        )
    table = pa.Table.from_pylist(rows, schema=RUNS_SCHEMA)
    for name, column in _setting_columns([_settings(row.get("config_dict") or {}) for row in rows]).items():
        table = table.append_column(name, column)
    return table


def _sql_string(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


READ_ONLY = (duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN)


def connect(root: str | Path | None = None, *, unrestricted: bool = False) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the `metrics` and `runs` views over the store; it can
    open no other file unless `unrestricted`."""
    dirs = _run_dirs(store_root(root))
    con = duckdb.connect()
    con.register("runs", _runs_table(dirs))
    con.register("events", _events_table(dirs))
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
    """One row per run of the store: run, experiment, status, seed, created, steps, then the
    settings whose values differ between the runs (`description` aside); oldest first."""
    frame = _query("SELECT * EXCLUDE (updated, finished, config) FROM runs ORDER BY created, run", store_root(store))
    varying = [c for c in frame.columns[len(BASE_COLUMNS) :] if c != "description" and frame[c].astype(str).nunique() > 1]
    return frame[[*BASE_COLUMNS, *varying]]


BASE_COLUMNS = ["run", "experiment", "status", "seed", "created", "steps"]
