"""Run directories: create/open/overwrite rules, run.json validation, status, events."""

import json
import os

import numpy as np
import pytest

from phasewatch.errors import UserError
from phasewatch.store import Run, store_root

CONFIG = {"task": {"name": "modular", "p": 7}, "train": {"steps": 10}}


def make(root, run_id="r1", **kw):
    return Run.create(root, run_id, experiment="grokking", config=CONFIG, seed=1, **kw)


def test_create_then_open_round_trips_run_json(tmp_path):
    run = make(tmp_path)
    assert run.path == tmp_path / "r1" and run.root == tmp_path and run.id == "r1"
    assert run.status == "running" and run.config == CONFIG
    assert set(run.info["versions"]) == {"phasewatch", "torch", "python"}
    assert run.info["finished"] is None
    opened = Run.open(tmp_path, "r1")
    assert opened.info == run.info == json.loads((run.path / "run.json").read_text())
    assert [p.name for p in tmp_path.iterdir()] == ["r1"]  # no temporary directory left behind


@pytest.mark.parametrize("bad", ["", ".hidden", "..", "../x", "a/b", "a b", "-x", "x\n", 5, None])
def test_bad_run_ids_are_user_errors(tmp_path, bad):
    with pytest.raises(UserError, match="run id"):
        make(tmp_path, bad)
    with pytest.raises(UserError, match="run id"):
        Run.open(tmp_path, bad)


def test_existing_run_needs_overwrite(tmp_path):
    make(tmp_path)
    with pytest.raises(UserError, match=r"run 'r1' already exists .*--overwrite.*--resume"):
        make(tmp_path)


def test_overwrite_replaces_the_old_run(tmp_path):
    old = make(tmp_path)
    with old.writer() as w:
        w.log(0, {"train/loss": 1.0})
    new = make(tmp_path, overwrite=True)
    assert new.metrics().empty and not (new.path / "metrics").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["r1"]


def test_open_missing_run(tmp_path):
    with pytest.raises(UserError, match=f"run 'nope' not found in {tmp_path}"):
        Run.open(tmp_path, "nope")


@pytest.mark.parametrize(
    "content, match",
    [
        ("{not json", "Invalid JSON"),
        ('{"id": "r1"}', "experiment: Field required"),
        (None, "status: Input should be 'running', 'finished' or 'failed' \\(got 'paused'\\)"),
    ],
)
def test_invalid_run_json_is_one_line_user_error(tmp_path, content, match):
    run = make(tmp_path)
    if content is None:
        content = json.dumps({**run.info, "status": "paused"})
    (run.path / "run.json").write_text(content)
    with pytest.raises(UserError, match=match) as e:
        Run.open(tmp_path, "r1")
    assert str(run.path / "run.json") in str(e.value) and "\n" not in str(e.value)


def test_missing_run_json_is_user_error(tmp_path):
    (tmp_path / "r1").mkdir()
    with pytest.raises(UserError, match="cannot read run file"):
        Run.open(tmp_path, "r1")


def test_bad_create_arguments(tmp_path):
    with pytest.raises(UserError, match="config"):
        Run.create(tmp_path, "r1", experiment="x", config=[1], seed=1)
    with pytest.raises(UserError, match="seed"):
        Run.create(tmp_path, "r1", experiment="x", config={}, seed="one")
    assert not any(tmp_path.iterdir())


def test_set_status_keeps_extra_fields(tmp_path):
    run = make(tmp_path)
    run.set_status("failed", error="loss is NaN at step 3")
    opened = Run.open(tmp_path, "r1")
    assert opened.status == "failed" and opened.info["error"] == "loss is NaN at step 3"
    assert opened.info["finished"] is not None
    opened.set_status("running")  # resumed
    assert Run.open(tmp_path, "r1").info["finished"] is None
    with pytest.raises(UserError, match="status"):
        run.set_status("done")


def test_events_round_trip(tmp_path):
    run = make(tmp_path)
    assert run.events == []
    events = [{"kind": "grokking", "metric": "test/accuracy", "step": np.int64(900), "before": np.float64(0.1)}]
    run.save_events(events)
    assert Run.open(tmp_path, "r1").events == [{**events[0], "step": 900, "before": 0.1}]
    (run.path / "events.json").write_text("[oops")
    with pytest.raises(UserError, match="events.json is not readable JSON"):
        _ = run.events


def test_store_root(monkeypatch, tmp_path):
    monkeypatch.delenv("PHASEWATCH_STORE", raising=False)
    assert store_root(None) == store_root() and str(store_root()) == "runs"
    monkeypatch.setenv("PHASEWATCH_STORE", str(tmp_path))
    assert store_root(None) == tmp_path
    assert store_root(tmp_path / "x") == tmp_path / "x"


def dead_pid() -> int:
    """The pid of a process that has exited (reaped): nothing answers to it."""
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_run_moved_aside_by_an_interrupted_overwrite_is_restored(tmp_path, capsys):
    run = Run.create(tmp_path, "r", experiment="x", config={}, seed=0)
    run.log("the old run")
    os.rename(run.path, tmp_path / f".old-r-{dead_pid()}")  # killed between the two renames
    (tmp_path / f".tmp-q-{dead_pid()}").mkdir()  # and a half-built run of another
    restored = Run.open(tmp_path, "r")
    assert restored.log_lines() == ["the old run"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]
    err = capsys.readouterr().err
    assert "restored run 'r'" in err and "removed .tmp-q-" in err


def test_a_live_processs_leftovers_are_left_alone(tmp_path):
    Run.create(tmp_path, "r", experiment="x", config={}, seed=0)
    mine = tmp_path / f".tmp-s-{os.getpid()}"
    mine.mkdir()
    Run.open(tmp_path, "r")
    assert mine.is_dir()


def test_a_failed_replacement_keeps_the_old_run(tmp_path, monkeypatch):
    Run.create(tmp_path, "r", experiment="x", config={}, seed=0).log("the old run")
    real_rename = os.rename

    def rename(src, dst):
        if str(src).rsplit("/", 1)[-1].startswith(".tmp-"):
            raise OSError("another process made it")
        return real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(UserError, match="just created"):
        Run.create(tmp_path, "r", experiment="x", config={}, seed=1, overwrite=True)
    monkeypatch.undo()
    assert Run.open(tmp_path, "r").log_lines() == ["the old run"]


def test_a_run_name_too_long_for_the_file_system_is_one_user_error(tmp_path):
    with pytest.raises(UserError, match="a name of 250 characters is not allowed"):
        Run.create(tmp_path, "r" * 250, experiment="x", config={}, seed=0)
    assert list(tmp_path.iterdir()) == []


def test_an_empty_store_is_an_error_not_the_default():
    with pytest.raises(UserError, match="store: '' is not allowed"):
        store_root("")


def test_opening_a_run_sweeps_temporary_files_of_dead_processes_only(tmp_path):
    import os
    import subprocess
    import sys

    run = Run.create(tmp_path, "r", experiment="x", config={}, seed=0)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    (run.path / "arrays" / "gram").mkdir(parents=True)
    left = [run.path / f".run.json.{dead_pid}.tmp", run.path / "arrays" / "gram" / f".step_00000010.safetensors.{dead_pid}.tmp"]
    mine = run.path / f".events.json.{os.getpid()}.tmp"
    for path in [*left, mine]:
        path.write_bytes(b"half")
    Run.open(tmp_path, "r")
    assert not any(path.exists() for path in left) and mine.exists()
