"""DuckDB views over a whole store, and list_runs."""
import pandas as pd
import pytest

from phasewatch.errors import UserError
from phasewatch.store import Run, list_runs, query

COLUMNS = ["run", "experiment", "status", "seed", "created", "steps"]


def make(root, run_id, steps, seed=0):
    run = Run.create(root, run_id, experiment="grokking", config={"task": {"p": 7 + seed}}, seed=seed)
    with run.writer(flush_seconds=0) as w:
        for s in steps:
            w.log(s, {"train/loss": 1.0, "test/accuracy": 0.5})
    return run


def test_query_over_two_runs(tmp_path):
    make(tmp_path, "a", range(3))
    make(tmp_path, "b", range(5), seed=1)
    df = query("SELECT run, count(*) AS n FROM metrics GROUP BY run ORDER BY run", tmp_path)
    assert df.to_dict("list") == {"run": ["a", "b"], "n": [6, 10]}
    df = query("SELECT run, json_extract(config, '$.task.p')::INT AS p, steps FROM runs ORDER BY run", tmp_path)
    assert df.to_dict("list") == {"run": ["a", "b"], "p": [7, 8], "steps": [2, 4]}


def test_list_runs(tmp_path):
    make(tmp_path, "a", range(3))
    Run.create(tmp_path, "fresh", experiment="grokking", config={}, seed=2)  # no metrics yet
    (tmp_path / ".tmp-half-123").mkdir()  # a run being built: invisible
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "run.json").write_text("{")
    df = list_runs(tmp_path)
    assert list(df.columns) == COLUMNS
    rows = {r.run: r for r in df.itertuples()}
    assert set(rows) == {"a", "fresh", "broken"}
    assert rows["a"].steps == 2 and rows["a"].status == "running" and rows["a"].seed == 0
    assert pd.isna(rows["fresh"].steps)
    assert rows["broken"].status == "invalid"
    assert query("SELECT count(*) AS n FROM metrics", tmp_path)["n"][0] == 6


@pytest.mark.parametrize("exists", [False, True])
def test_empty_store(tmp_path, exists):
    root = tmp_path / "store"
    if exists:
        root.mkdir()
    df = list_runs(root)
    assert df.empty and list(df.columns) == COLUMNS
    assert query("SELECT count(*) AS n FROM metrics", root)["n"][0] == 0
    assert list(query("SELECT * FROM metrics", root).columns) == ["run", "step", "metric", "value"]


def test_bad_sql_is_one_line_user_error(tmp_path):
    with pytest.raises(UserError, match="^sql: Parser Error") as e:
        query("SELEC 1", tmp_path)
    assert "\n" not in str(e.value)
    with pytest.raises(UserError, match="sql: Catalog Error"):
        query("SELECT * FROM nope", tmp_path)


def test_store_that_is_a_file(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(UserError, match="not a directory"):
        list_runs(tmp_path / "f")
