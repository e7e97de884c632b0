"""Faults a store must survive, each reproduced first: damaged metrics, lost manifest and events,
an empty array file, a kill between report and status, two writers of one run. (The long, seeded
kill -9 campaign is bench/faults.py.)"""

import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest

from phasewatch.cli import main
from phasewatch.store import Run, list_runs, query
from phasewatch.store.metrics import live_parts

CLI = [sys.executable, "-m", "phasewatch.cli"]


@pytest.fixture
def finished(tiny_config, tmp_path):
    """(store, a finished tiny run "r", its metric rows)."""
    store = str(tmp_path / "store")
    assert main(["--store", store, "run", "--config", tiny_config(), "--name", "r", "--no-progress"]) == 0
    run = Run.open(store, "r")
    return store, run, run.metrics()


def resume(store: str, run_id: str = "r") -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, "--store", store, "run", "--resume", run_id, "--no-progress"], capture_output=True, text=True)


def assert_same_rows(a, b) -> None:
    assert a.equals(b)  # same rows in the same order, NaN equal to NaN


def split_part(run: Run, at_step: int) -> list:
    """Rewrite the run's one compacted part as two flushes, split after `at_step`."""
    (path,) = live_parts(run.path / "metrics")
    table = pq.read_table(path).sort_by([("step", "ascending")])
    steps = table["step"].to_numpy()
    path.unlink()
    first, second = run.path / "metrics" / "part-000000.parquet", run.path / "metrics" / "part-000001.parquet"
    pq.write_table(table.filter(steps <= at_step), first)
    pq.write_table(table.filter(steps > at_step), second)
    return [first, second]


def truncate(path) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


@pytest.mark.parametrize("damaged", ["only part", "later part"])
def test_a_damaged_part_is_isolated_then_recorded_again_by_resume(finished, damaged):
    store, run, rows = finished
    Run.create(store, "other", experiment="x", config={}, seed=0).writer(0).log(0, {"a": 1.0})
    part = live_parts(run.path / "metrics")[0] if damaged == "only part" else split_part(run, 30)[1]
    truncate(part)
    assert {r.run: r.status for r in list_runs(store).itertuples()} == {"r": "damaged", "other": "running"}
    counts = dict(query("SELECT run, count(*) FROM metrics GROUP BY run", store).to_numpy())
    intact = 0 if damaged == "only part" else int((rows.step <= 30).sum())  # the intact part stays readable
    assert counts == ({"other": 1} if intact == 0 else {"other": 1, "r": intact})
    show = subprocess.run([*CLI, "--store", store, "show", "r"], capture_output=True, text=True)
    assert show.returncode == 2 and "phasewatch run --resume r" in show.stderr and "Traceback" not in show.stderr

    result = resume(store)
    assert result.returncode == 0, result.stderr
    assert "damaged metrics parts moved to metrics/damaged/" in result.stderr
    run = Run.open(store, "r")
    assert run.status == "finished" and (run.path / "metrics" / "damaged" / part.name).is_file()
    assert run.info["resumed_from"] == (0 if damaged == "only part" else 20)  # the checkpoint before step 30
    assert_same_rows(run.metrics(), rows)  # every row back, none twice


def test_a_lost_manifest_is_rebuilt_and_resume_does_not_start_over(tiny_config, tmp_path):
    store = str(tmp_path / "store")
    assert main(["--store", store, "run", "--config", tiny_config(), "--name", "r", "--no-progress"]) == 0
    run = Run.open(store, "r")
    rows, newest = run.metrics(), run.checkpoint_steps()[-1]
    run.set_status("failed")
    (run.path / "checkpoints" / "manifest.json").unlink()
    result = resume(store)
    assert result.returncode == 0 and "manifest.json was missing; rebuilt it" in result.stderr
    run = Run.open(store, "r")
    assert run.info["resumed_from"] == newest
    assert_same_rows(run.metrics(), rows)


def test_lost_events_are_not_analysed_and_report_detects_them_again(finished, capsys):
    store, run, _ = finished
    events = run.events
    assert events, "the tiny run should have events for this test to mean anything"
    (run.path / "events.json").unlink()
    capsys.readouterr()
    assert main(["--store", store, "show", "r"]) == 0
    out = capsys.readouterr().out
    assert "not analysed yet" in out and "no events detected" not in out
    assert main(["--store", store, "report", "r"]) == 0
    assert Run.open(store, "r").events == events


def test_an_empty_array_file_does_not_stop_the_report(finished):
    store, run, _ = finished
    arrays = sorted((run.path / "arrays").rglob("*.safetensors"))
    assert arrays
    arrays[-1].write_bytes(b"")
    arrays[0].write_bytes(arrays[0].read_bytes()[:100])
    (run.path / "report.html").unlink()
    assert main(["--store", store, "report", "r"]) == 0 and (run.path / "report.html").stat().st_size > 0


def test_a_kill_before_the_report_leaves_a_run_that_resume_finishes(tiny_config, tmp_path, monkeypatch):
    import phasewatch.record.recorder as recorder

    def killed(run):
        raise KeyboardInterrupt

    monkeypatch.setattr(recorder, "write_report", killed)
    store = str(tmp_path / "store")
    assert main(["--store", store, "run", "--config", tiny_config(), "--name", "r", "--no-progress"]) == 130
    assert Run.open(store, "r").status != "finished"
    monkeypatch.undo()
    assert resume(store).returncode == 0
    run = Run.open(store, "r")
    assert run.status == "finished" and (run.path / "report.html").is_file()


def test_one_writer_per_run(finished, lock_holder):
    store, run, _ = finished
    run.set_status("failed")
    with lock_holder(run.path / ".lock") as pid:
        for argv in (["run", "--resume", "r"], ["report", "r"]):
            result = subprocess.run([*CLI, "--store", store, *argv], capture_output=True, text=True)
            assert result.returncode == 2 and f"being written by another process (pid {pid})" in result.stderr
    started = time.time()
    assert resume(store).returncode == 0 and time.time() - started < 60  # the lock went with its process


def test_overwrite_never_pulls_a_run_from_its_writer(finished, lock_holder):
    from phasewatch.errors import UserError

    store, run, _ = finished
    with lock_holder(run.path / ".lock"):
        with pytest.raises(UserError, match="being written by another process"):
            Run.create(store, "r", experiment="x", config={}, seed=0, overwrite=True)
        assert Run.open(store, "r").status == "finished"


def test_a_watch_pattern_no_probe_records_is_refused_before_the_run_exists(tiny_config, tmp_path, capsys):
    store = tmp_path / "store"
    argv = ["--store", str(store), "run", "--config", tiny_config(), "--set", 'events.watch=["tset/*"]']
    assert main(argv) == 2
    assert "events.watch: 'tset/*' matches no metric" in capsys.readouterr().err
    assert not store.exists()


@pytest.mark.parametrize("code", [13, 30, 28])  # EACCES, EROFS, ENOSPC
def test_a_store_that_cannot_be_written_is_one_line(finished, monkeypatch, capsys, code):
    import os

    import phasewatch.store.atomic as atomic

    store, run, _ = finished

    def refuse(path, *args, **kwargs):
        raise OSError(code, os.strerror(code), str(path))

    monkeypatch.setattr(atomic, "open", refuse, raising=False)
    capsys.readouterr()
    assert main(["--store", store, "report", "r"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("phasewatch: error: cannot write") and os.strerror(code) in err and len(err.splitlines()) == 1


def _truncate_part(run):
    truncate(live_parts(run.path / "metrics")[0])


def _empty_array(run):
    sorted((run.path / "arrays").rglob("*.safetensors"))[-1].write_bytes(b"")


def _corrupt_newest_checkpoint(run):
    path = run.path / "checkpoints" / f"step_{run.checkpoint_steps()[-1]:08d}.safetensors"
    path.write_bytes(path.read_bytes()[:-1] + b"\0")


CORRUPTIONS = {
    "truncated metrics part": _truncate_part,
    "deleted manifest": lambda run: (run.path / "checkpoints" / "manifest.json").unlink(),
    "deleted events": lambda run: (run.path / "events.json").unlink(),
    "empty array file": _empty_array,
    "corrupt newest checkpoint": _corrupt_newest_checkpoint,
    "run.json cut short": lambda run: (run.path / "run.json").write_text("{"),
    "damaged report": lambda run: (run.path / "report.html").write_bytes(b""),
}
COMMANDS = [
    ["show", "r"],
    ["report", "r"],
    ["runs"],
    ["sql", "SELECT count(*) FROM metrics"],
    ["run", "--resume", "r", "--no-progress"],
]


@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_every_corruption_against_every_command_is_an_answer_or_one_line(finished, corruption, capsys):
    """No traceback anywhere: each command answers (exit 0) or says what is wrong in one line (2)."""
    import shutil

    store, run, _ = finished
    pristine = run.path.parent.parent / "pristine"
    shutil.copytree(run.path, pristine)
    for argv in COMMANDS:
        shutil.rmtree(run.path)
        shutil.copytree(pristine, run.path)
        if argv[0] == "run":
            Run.open(store, "r").set_status("failed")  # a resumable run, then broken
        CORRUPTIONS[corruption](run)
        capsys.readouterr()
        code = main(["--store", store, *argv])
        err = capsys.readouterr().err.strip()
        assert code in (0, 2), (corruption, argv, err)
        if code == 2:
            assert len(err.splitlines()) == 1 and err.startswith("phasewatch: error:"), (corruption, argv, err)
