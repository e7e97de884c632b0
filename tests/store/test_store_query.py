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


def test_a_damaged_part_isolates_its_run_and_the_rest_stays_queryable(tmp_path):
    make(tmp_path, "good", range(3))
    bad = make(tmp_path, "bad", range(4))
    part = next((bad.path / "metrics").glob("part-*.parquet"))
    part.write_bytes(part.read_bytes()[:-20])  # truncated: the footer and its magic bytes are gone
    rows = {r.run: r for r in list_runs(tmp_path).itertuples()}
    assert rows["bad"].status == "damaged" and pd.isna(rows["bad"].steps)
    assert rows["good"].status == "running" and rows["good"].steps == 2
    df = query("SELECT run, count(*) AS n FROM metrics GROUP BY run", tmp_path)
    assert df.to_dict("list") == {"run": ["good"], "n": [6]}
    with pytest.raises(UserError, match=r"damaged .*phasewatch run --resume bad"):
        bad.metrics()


@pytest.mark.parametrize(
    "sql, refused",
    [
        ("COPY (SELECT 1) TO '{outside}/out.csv'", "COPY"),
        ("COPY (SELECT 1) TO '{store}/out.csv'", "COPY"),
        ("ATTACH '{outside}/x.db'", "ATTACH"),
        ("INSTALL httpfs", "LOAD"),
        ("SET enable_external_access = true", "SET"),
        ("CREATE TABLE t AS SELECT 1", "CREATE"),
        ("SELECT * FROM read_text('{outside}/secret.txt')", "Permission"),
        ("SELECT * FROM read_text('{store}/a/run.json')", "Permission"),
        ("SELECT * FROM read_csv('{store}/../secret.txt')", "Permission"),
    ],
)
def test_the_query_path_is_read_only_and_confined_to_the_store(tmp_path, sql, refused):
    store, outside = tmp_path / "store", tmp_path
    make(store, "a", range(3))
    (outside / "secret.txt").write_text("token")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    with pytest.raises(UserError, match=refused) as error:
        query(sql.format(store=store, outside=outside), store)
    assert "\n" not in str(error.value)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written anywhere
    # the flag gives a local shell full DuckDB back
    if refused == "COPY":
        query(sql.format(store=store, outside=outside), store, unrestricted=True)
        assert (tmp_path / "out.csv").exists() or (store / "out.csv").exists()


def test_reads_and_explain_still_work_when_restricted(tmp_path):
    make(tmp_path, "a", range(3))
    assert query("WITH m AS (SELECT * FROM metrics) SELECT count(*) AS n FROM m", tmp_path)["n"][0] == 6
    assert not query("EXPLAIN SELECT * FROM metrics", tmp_path).empty
