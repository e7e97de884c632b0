"""MetricsWriter: buffering, flushing, truncation for resume, crash-safe compaction."""

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from phasewatch.errors import UserError
from phasewatch.store import MetricsWriter, Run, query
from phasewatch.store.atomic import temp_path
from phasewatch.store.metrics import SCHEMA


@pytest.fixture
def run(tmp_path):
    return Run.create(tmp_path, "r1", experiment="x", config={}, seed=0)


def parts(run):
    return sorted(p.name for p in (run.path / "metrics").iterdir())


def log_steps(writer, steps):
    for s in steps:
        writer.log(s, {"train/loss": 1.0 / (s + 1), "test/accuracy": s / 100})


def expected(steps):
    rows = [(s, m, v) for s in steps for m, v in (("train/loss", 1.0 / (s + 1)), ("test/accuracy", s / 100))]
    df = pd.DataFrame(rows, columns=["step", "metric", "value"])
    return df.sort_values(["metric", "step"], ignore_index=True)


def assert_rows(run, steps):
    got = run.metrics()
    pd.testing.assert_frame_equal(got, expected(steps), check_dtype=False)
    assert str(got["step"].dtype) == "int64" and str(got["value"].dtype) == "float64"
    sql = query("SELECT count(*) AS n FROM metrics", run.root)
    assert sql["n"][0] == 2 * len(steps)


def test_log_buffers_until_flush_then_close_compacts(run):
    w = run.writer(flush_seconds=3600)
    log_steps(w, range(5))
    assert run.metrics().empty  # readers see flushed rows only
    w.flush()
    log_steps(w, range(5, 10))
    w.flush()
    w.flush()  # nothing buffered: no empty part
    assert parts(run) == ["part-000000.parquet", "part-000001.parquet"]
    assert_rows(run, range(10))
    w.close()
    assert parts(run) == ["part-000000-000001.parquet"]
    assert_rows(run, range(10))
    steps, values = run.metric("test/accuracy")
    assert steps.tolist() == list(range(10)) and values.tolist() == [s / 100 for s in range(10)]
    assert run.metric_names() == ["test/accuracy", "train/loss"]
    assert run.metrics("train/loss")["metric"].unique().tolist() == ["train/loss"]
    assert run.metrics([]).empty and len(run.metrics(["train/loss", "test/accuracy"])) == 20
    assert run.metric("never/logged")[0].size == 0


def test_flush_seconds_zero_flushes_every_log(run):
    w = run.writer(flush_seconds=0)
    log_steps(w, range(3))
    assert len(parts(run)) == 3


def test_reopened_writer_numbers_past_the_compacted_range(run):
    with run.writer(flush_seconds=0) as w:
        log_steps(w, range(3))
    with run.writer(flush_seconds=0) as w:
        log_steps(w, range(3, 5))
        assert parts(run) == ["part-000000-000002.parquet", "part-000003.parquet", "part-000004.parquet"]
    assert parts(run) == ["part-000000-000004.parquet"]
    assert_rows(run, range(5))


def test_truncate_after_drops_later_rows_everywhere(run):
    w = run.writer(flush_seconds=3600)
    for chunk in (range(0, 4), range(4, 8), range(8, 12)):
        log_steps(w, chunk)
        w.flush()
    log_steps(w, range(12, 14))  # still buffered
    w.truncate_after(5)
    assert parts(run) == ["part-000000.parquet", "part-000001.parquet"]  # the all-late part is gone
    assert_rows(run, range(6))
    log_steps(w, range(6, 9))  # the resumed run continues
    w.close()
    assert_rows(run, range(9))
    # and again on the compacted file, from a fresh writer as a resume would
    w = run.writer()
    w.truncate_after(2)
    w.close()
    assert_rows(run, range(3))


# After a kill during `close`, the directory holds one of these; each must read every row once.
CRASH_POINTS = ["temp file written", "compacted file renamed in", "one old part deleted"]


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_kill_during_compaction_loses_and_duplicates_nothing(run, point):
    w = run.writer(flush_seconds=0)
    log_steps(w, range(3))  # three parts
    metrics_dir = run.path / "metrics"
    compacted = pa.concat_tables(pq.read_table(metrics_dir / p) for p in parts(run))
    final = metrics_dir / "part-000000-000002.parquet"
    pq.write_table(compacted, temp_path(final) if point == "temp file written" else final)
    if point == "one old part deleted":
        (metrics_dir / "part-000001.parquet").unlink()
    assert_rows(run, range(3))

    resumed = run.writer(flush_seconds=0)  # opening a writer finishes the cleanup
    expected_parts = (
        ["part-000000-000002.parquet"]
        if point != "temp file written"
        else ["part-000000.parquet", "part-000001.parquet", "part-000002.parquet"]
    )
    assert parts(run) == expected_parts
    log_steps(resumed, range(3, 5))
    resumed.close()
    assert len(parts(run)) == 1
    assert_rows(run, range(5))


def test_bad_values_are_user_errors(run):
    w = run.writer()
    with pytest.raises(UserError, match="step 3.*not a number"):
        w.log(3, {"train/loss": "nan-ish"})
    w.log(4, {"train/loss": 0.5})  # a rejected call leaves the buffer consistent
    w.close()
    assert run.metrics()["step"].tolist() == [4]
    with pytest.raises(UserError, match="flush_seconds"):
        MetricsWriter(run.path / "metrics", flush_seconds=-1)


def test_schema(run):
    with run.writer() as w:
        w.log(1, {"a": 1})
    assert pq.read_schema(run.path / "metrics" / "part-000000.parquet").equals(SCHEMA)
