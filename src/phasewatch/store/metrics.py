"""Metric rows in Parquet: cheap buffered logging, atomic parts, crash-safe compaction.

Rows are long: (step: int64, metric: string, value: float64). Each flush writes one new
`metrics/part-NNNNNN.parquet`. Compaction writes `part-AAAAAA-BBBBBB.parquet`, which holds
every row of parts A..B, and only then deletes those parts. Readers go through `live_parts`,
which skips any file whose number range lies inside another file's range, so a kill at any
moment leaves every row readable exactly once: before the rename the old parts count, after
it the compacted file does.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import TypeVar

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from phasewatch.errors import UserError
from phasewatch.store.atomic import TEMP_SUFFIX, atomic_write, fsync_dir

SCHEMA = pa.schema([("step", pa.int64()), ("metric", pa.string()), ("value", pa.float64())])
_PART = re.compile(r"part-(\d+)(?:-(\d+))?\.parquet")
_SORT = [("metric", "ascending"), ("step", "ascending")]
T = TypeVar("T")

Span = tuple[int, int, Path]  # (first, last, path): part-N spans N..N, part-A-B spans A..B


def _split(directory: Path) -> tuple[list[Span], list[Span]]:
    """(live, superseded) part files, live ones in order."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return [], []
    spans = [(int(m[1]), int(m[2] or m[1]), directory / name) for name in names if (m := _PART.fullmatch(name))]
    live: list[Span] = []
    dead: list[Span] = []
    reach = -1
    # Ranges never partly overlap (a compaction takes all live files), so sorting by first, widest
    # first, puts every superseded file after the file that covers it.
    for span in sorted(spans, key=lambda s: (s[0], -s[1])):
        (dead if span[1] <= reach else live).append(span)
        reach = max(reach, span[1])
    return live, dead


def live_parts(directory: Path) -> list[Path]:
    """The Parquet files that hold a run's metrics, each row in exactly one of them."""
    return [path for _, _, path in _split(Path(directory))[0]]


def _retry(read: Callable[[], T]) -> T:
    # A concurrent compaction may delete a part between listing and reading it: list again.
    for _ in range(2):
        try:
            return read()
        except FileNotFoundError:
            pass
    return read()


def _read_part(path: Path, **kwargs) -> pa.Table:
    try:
        return pq.read_table(path, **kwargs)
    except FileNotFoundError:
        raise
    except (pa.ArrowInvalid, OSError):
        run = path.parent.parent.name
        raise UserError(
            f"metrics part {path} is damaged (not a readable Parquet file): "
            f"`phasewatch run --resume {run}` (for an analyzed run: the same `phasewatch analyze`) records its rows again"
        ) from None


def _max_step(path: Path) -> int | None:
    """The largest step in a part, from its footer's statistics; None if the footer is unreadable
    (a truncated or overwritten file: the part is damaged)."""
    try:
        meta = pq.read_metadata(path)
        return max((meta.row_group(i).column(0).statistics.max for i in range(meta.num_row_groups)), default=-1)
    except FileNotFoundError:
        raise
    except (pa.ArrowInvalid, OSError, AttributeError):  # AttributeError: a row group without statistics
        return None


def damaged_parts(directory: Path) -> list[Path]:
    """The live parts whose footer cannot be read. Every reader refuses a run that has one;
    `quarantine` moves them aside so that a resume can record their rows again."""
    return _retry(lambda: [p for p in live_parts(directory) if _max_step(p) is None])


def quarantine(directory: Path) -> int | None:
    """Move the damaged parts into `damaged/` (kept for inspection, never read) and return the step
    before which every row is still stored: the largest step of the intact parts written before the
    first damaged one (a step's rows may straddle two parts, so rows at that step itself may be lost);
    0 when nothing before it survives. None when no part is damaged."""
    live = _split(Path(directory))[0]
    damaged = [path for _, _, path in live if _max_step(path) is None]
    if not damaged:
        return None
    first = next(first for first, _, path in live if path == damaged[0])
    earlier = [_max_step(path) for start, _, path in live if start < first]
    (Path(directory) / "damaged").mkdir(exist_ok=True)
    for path in damaged:
        os.rename(path, path.parent / "damaged" / path.name)
    fsync_dir(Path(directory))
    return max((s for s in earlier if s is not None), default=0)


def read_metrics(directory: Path, names: Iterable[str] | None = None) -> pa.Table:
    """Every flushed row (optionally only metrics in `names`), sorted by metric, then step."""
    filters = None if names is None else pc.field("metric").isin(pa.array(list(names), pa.string()))

    def read() -> list[pa.Table]:
        return [_read_part(p, schema=SCHEMA, filters=filters) for p in live_parts(directory)]

    tables = _retry(read)
    return (pa.concat_tables(tables) if tables else SCHEMA.empty_table()).sort_by(_SORT)


def metric_names(directory: Path) -> list[str]:
    tables = _retry(lambda: [_read_part(p, columns=["metric"]) for p in live_parts(directory)])
    return sorted(set().union(*(pc.unique(t["metric"]).to_pylist() for t in tables)))


def last_step(directory: Path) -> int | None:
    """The largest stored step, from the Parquet footers' statistics (reads no data); damaged
    parts are left out."""
    steps = _retry(lambda: [_max_step(p) for p in live_parts(directory)])
    return max((s for s in steps if s is not None and s >= 0), default=None)


class MetricsWriter:
    """Buffers `log` calls in plain lists and writes them as one Parquet part every `flush_seconds`.

    There is no thread: `log` itself flushes when the time has come, and `close` flushes the rest.
    Readers see flushed rows only. One writer per run at a time.
    """

    def __init__(self, directory: Path, flush_seconds: float = 5.0):
        if not isinstance(flush_seconds, (int, float)) or not flush_seconds >= 0:
            raise UserError(f"flush_seconds: {flush_seconds!r} is not allowed (a number >= 0)")
        self.directory = Path(directory)
        self.flush_seconds = flush_seconds
        self.directory.mkdir(parents=True, exist_ok=True)
        self._cleanup()
        live, _ = _split(self.directory)
        # New parts are numbered past every existing range, so none can look superseded.
        self._next = max((last for _, last, _ in live), default=-1) + 1
        self._steps: list[int] = []
        self._metrics: list[str] = []
        self._values: list[float] = []
        self._last_flush = time.monotonic()

    def log(self, step: int, values: dict[str, float]) -> None:
        """Buffer one row per metric. Pass Python floats: a CUDA tensor here forces a device sync."""
        try:
            floats = list(map(float, values.values()))
        except (TypeError, ValueError):
            raise UserError(f"metrics at step {step}: {values!r} has a value that is not a number") from None
        self._steps.extend([step] * len(floats))
        self._metrics.extend(values)
        self._values.extend(floats)
        if time.monotonic() - self._last_flush >= self.flush_seconds:
            self.flush()

    def flush(self) -> None:
        """Write the buffered rows as one new part, atomically."""
        self._last_flush = time.monotonic()
        if not self._steps:
            return
        table = pa.table(
            [
                pa.array(self._steps, pa.int64()),
                pa.array(self._metrics, pa.string()),
                pa.array(self._values, pa.float64()),
            ],
            schema=SCHEMA,
        )
        atomic_write(self.directory / f"part-{self._next:06d}.parquet", lambda tmp: pq.write_table(table, tmp))
        self._next += 1
        self._steps, self._metrics, self._values = [], [], []

    def truncate_after(self, step: int) -> None:
        """Drop every row, buffered or stored, with a step after `step` (exact resume)."""
        self._drop(lambda table: pc.greater(table["step"], step), lambda last: last is not None and last <= step)

    def drop_metrics(self, names: Iterable[str]) -> None:
        """Drop every row, buffered or stored, of the metrics in `names` (to record them anew)."""
        names = pa.array(sorted(set(names)), pa.string())
        self._drop(lambda table: pc.is_in(table["metric"], value_set=names), lambda last: False)

    def _drop(self, dropped: Callable[[pa.Table], pa.ChunkedArray], untouched: Callable[[int | None], bool]) -> None:
        """Rewrite each part without the rows `dropped` marks (`untouched(its last step)`: skip the
        part unread). Each part is rewritten or deleted atomically, so a kill midway leaves a state
        that calling this again finishes."""
        self.flush()
        self._cleanup()  # a superseded part must not come back to life when its range file goes
        for path in live_parts(self.directory):
            if untouched(_max_step(path)):
                continue
            table = _read_part(path)
            keep = table.filter(pc.invert(dropped(table)))
            if keep.num_rows == table.num_rows:
                continue
            if keep.num_rows:
                atomic_write(path, partial(pq.write_table, keep))
            else:
                path.unlink()
        fsync_dir(self.directory)

    def close(self) -> None:
        """Flush, then compact every part into one file (see the module docstring)."""
        self.flush()
        live, _ = _split(self.directory)
        if len(live) > 1:
            table = pa.concat_tables(pq.read_table(path) for _, _, path in live).sort_by(_SORT)
            name = f"part-{live[0][0]:06d}-{max(last for _, last, _ in live):06d}.parquet"
            atomic_write(self.directory / name, lambda tmp: pq.write_table(table, tmp))
        self._cleanup()

    def _cleanup(self) -> None:
        """Delete what a killed compaction or flush left: superseded parts and temporary files."""
        for _, _, path in _split(self.directory)[1]:
            path.unlink(missing_ok=True)
        for name in os.listdir(self.directory):
            if name.startswith(".") and name.endswith(TEMP_SUFFIX):
                (self.directory / name).unlink(missing_ok=True)
        fsync_dir(self.directory)

    def __enter__(self) -> MetricsWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
