"""Running sweeps: every point an ordinary run, healing on a second run, a kill -9 mid-sweep."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from phasewatch.cli import main
from phasewatch.store import Run, list_runs, query
from phasewatch.sweep import load_sweep, sweep_status

CLI = [sys.executable, "-m", "phasewatch.cli"]


def test_a_sweep_runs_its_points_as_runs_then_runs_nothing_again(sweep_file, tmp_path, capsys):
    store = str(tmp_path / "store")
    assert main(["--store", store, "sweep", sweep_file(), "--workers", "2"]) == 0
    assert "done before 0, ran 4, failed 0" in capsys.readouterr().out
    states = sweep_status(store, "grid")
    assert [state for _, state, _ in states] == ["done"] * 4
    runs = list_runs(store)
    assert sorted(zip(runs.train_fraction, runs.seed)) == [(0.3, 0), (0.3, 1), (0.5, 0), (0.5, 1)]
    for run_id, _, values in states:
        run = Run.open(store, run_id)
        assert run.config["task"]["train_fraction"] == values["train_fraction"] and run.config["seed"] == values["seed"]
    assert main(["--store", store, "sweep", sweep_file(), "--workers", "2"]) == 0
    assert "done before 4, ran 0, failed 0" in capsys.readouterr().out
    events = query("SELECT train_fraction, seed, count(*) AS n FROM events JOIN runs USING (run) GROUP BY ALL", store)
    assert len(events) >= 1 and set(events.columns) == {"train_fraction", "seed", "n"}
    assert main(["--store", store, "sweep", "status", "grid"]) == 0
    assert "done 4  running 0  failed 0  missing 0" in capsys.readouterr().out
    assert main(["--store", store, "sweep", "report", "grid", "--event", "transition"]) == 0
    html = (tmp_path / "store" / "sweeps" / "grid.html").read_text()
    assert "Regions" in html and all(f"../{run_id}/report.html" in html for run_id, _, _ in states)
    assert main(["--store", store, "sweep", "report", "grid", "--x", "lr"]) == 2


def test_a_killed_sweep_heals_to_the_store_an_uninterrupted_sweep_writes(sweep_file, tmp_path):
    file = sweep_file(seeds=(0, 1, 2), steps=400)
    whole = str(tmp_path / "whole")
    assert main(["--store", whole, "sweep", file, "--workers", "2", "--no-progress"]) == 0

    killed = str(tmp_path / "killed")
    driver = subprocess.Popen([*CLI, "--store", killed, "sweep", file, "--workers", "2"], start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and sum(s == "done" for _, s, _ in _states(killed)) < 2:
        time.sleep(0.1)
    os.killpg(driver.pid, signal.SIGKILL)  # the driver and its workers, mid-sweep
    driver.wait()
    done = sum(s == "done" for _, s, _ in _states(killed))
    assert 2 <= done < 6

    result = subprocess.run([*CLI, "--store", killed, "sweep", file, "--workers", "2"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f"done before {done}, ran {6 - done}, failed 0" in result.stdout
    for run_id, state, _ in sweep_status(whole, "grid"):
        assert state == "done"
        a, b = Run.open(whole, run_id), Run.open(killed, run_id)
        assert a.metrics().equals(b.metrics()) and a.events == b.events


def _states(store):
    try:
        return sweep_status(store, "grid")
    except Exception:  # noqa: BLE001 - the record is not written yet
        return []


def test_one_driver_per_sweep(sweep_file, tmp_path, lock_holder):
    from phasewatch.errors import UserError
    from phasewatch.store import lock
    from phasewatch.sweep import run_sweep

    store = tmp_path / "store"
    (store / "sweeps").mkdir(parents=True)
    with lock_holder(store / "sweeps" / "grid.lock"):
        with pytest.raises(UserError, match="sweep 'grid' is being written by another process"):
            run_sweep(load_sweep(sweep_file()), store)
    assert not lock.held_elsewhere(store / "sweeps" / "grid.lock")


def test_the_ensemble_backend_writes_the_runs_the_local_one_does(sweep_file, tmp_path, capsys):
    file = sweep_file(seeds=(0, 1, 2), fractions=(0.5,))
    local, ensemble = str(tmp_path / "local"), str(tmp_path / "ensemble")
    assert main(["--store", local, "sweep", file, "--workers", "2", "--no-progress"]) == 0
    assert main(["--store", ensemble, "sweep", file, "--backend", "ensemble", "--no-progress"]) == 0
    assert "done before 0, ran 3, failed 0" in capsys.readouterr().out
    for run_id, state, _ in sweep_status(local, "grid"):
        a, b = Run.open(local, run_id), Run.open(ensemble, run_id)
        assert state == "done" and b.info["ensemble"] == 3
        x, y = a.metrics(), b.metrics()
        assert (x[["step", "metric"]].to_numpy() == y[["step", "metric"]].to_numpy()).all()
        np.testing.assert_allclose(y["value"], x["value"], rtol=1e-4, atol=1e-5)  # vmapped sums round differently


def test_an_ensemble_over_a_setting_it_cannot_vectorise_is_refused_before_anything_is_written(sweep_file, tmp_path, capsys):
    store = tmp_path / "store"
    assert main(["--store", str(store), "sweep", sweep_file(), "--backend", "ensemble"]) == 2
    err = capsys.readouterr().err
    assert "backend ensemble: task.train_fraction: members differ" in err and len(err.strip().splitlines()) == 1
    assert not store.exists()
