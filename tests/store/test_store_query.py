"""DuckDB views over a whole store, and list_runs."""

import warnings

import pandas as pd
import pytest

from phasewatch.errors import UserError
from phasewatch.store import Run, list_runs, query
from phasewatch.store.query import EmptyStoreWarning

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
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # list_runs answers "which runs?": none is an answer, not a warning
        df = list_runs(root)
    assert df.empty and list(df.columns) == COLUMNS
    with pytest.warns(EmptyStoreWarning, match=f"store {root.resolve()} holds no runs"):
        assert query("SELECT count(*) AS n FROM metrics", root)["n"][0] == 0
    with pytest.warns(EmptyStoreWarning):
        assert list(query("SELECT * FROM metrics", root).columns) == ["run", "step", "metric", "value"]


def test_query_names_its_store_and_warns_only_when_it_holds_no_runs(tmp_path, monkeypatch):
    make(tmp_path / "full", "a", range(3))
    (tmp_path / "empty" / ".tmp-half-123").mkdir(parents=True)  # a run being built is not a run
    (tmp_path / "empty" / "notes").mkdir()  # nor a folder without run.json
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df = query("SELECT count(*) AS n FROM metrics", store=tmp_path / "full")
    assert isinstance(df, pd.DataFrame) and df["n"][0] == 6  # 3 steps × 2 metrics
    assert df.attrs["store"] == str((tmp_path / "full").resolve())
    with pytest.warns(EmptyStoreWarning, match="holds no runs") as caught:
        df = query("SELECT count(*) AS n FROM runs", store=tmp_path / "empty")
    assert df["n"][0] == 0 and str((tmp_path / "empty").resolve()) in str(caught[0].message)
    assert caught[0].filename == __file__  # the warning points at the caller's line
    monkeypatch.chdir(tmp_path)  # a relative store is named by its absolute path
    monkeypatch.delenv("PHASEWATCH_STORE", raising=False)
    assert query("SELECT 1 AS x", "full").attrs["store"] == str((tmp_path / "full").resolve())
    with pytest.warns(EmptyStoreWarning, match=f"store {tmp_path.resolve() / 'runs'} holds no runs"):
        query("SELECT 1 AS x")  # the default store, ./runs, does not exist here
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a bad query is an error, with no warning before it
        with pytest.raises(UserError, match="sql: Parser Error"):
            query("SELEC 1", store=tmp_path / "empty")


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
