"""The ray backend: the same runs as the local pool, a rerun runs nothing, a killed worker's point
resumes, bad addresses are one line before anything is written. One small local cluster per session
(`ray_cluster`, tests/conftest.py); the tests that need Ray are skipped without it."""

import hashlib
import os
import signal
import sys
import threading
import time
from pathlib import Path

from phasewatch.cli import main
from phasewatch.store import Run, lock
from phasewatch.sweep import load_sweep, run_sweep, sweep_status


def test_ray_writes_the_runs_the_local_pool_writes_and_a_rerun_runs_nothing(ray_cluster, sweep_file, tmp_path, capsys):
    file = sweep_file()
    local, remote = str(tmp_path / "local"), str(tmp_path / "ray")
    assert main(["--store", local, "sweep", file, "--workers", "2", "--no-progress"]) == 0
    assert main(["--store", remote, "sweep", file, "--backend", "ray", "--workers", "2", "--no-progress"]) == 0
    assert capsys.readouterr().out.count("done before 0, ran 4, failed 0") == 2
    a, b = sweep_status(local, "grid"), sweep_status(remote, "grid")
    assert [run for run, _, _ in a] == [run for run, _, _ in b]
    assert {state for _, state, _ in a + b} == {"done"}
    for run_id, _, _ in a:
        x, y = Run.open(local, run_id), Run.open(remote, run_id)
        assert x.metrics().equals(y.metrics()) and x.events == y.events
    assert not list(Path(remote).glob(".sweep-preflight-*"))  # the store check left nothing

    assert main(["--store", remote, "sweep", file, "--backend", "ray", "--no-progress"]) == 0
    assert "done before 4, ran 0, failed 0" in capsys.readouterr().out


def test_a_killed_ray_worker_has_its_point_retried_from_its_last_checkpoint(ray_cluster, sweep_file, tmp_path):
    sweep = load_sweep(sweep_file(seeds=(0,), fractions=(0.5,), steps=600, checkpoint_every=20))
    store = tmp_path / "store"
    path = store / sweep.points[0].run
    outcome: dict = {}
    driver = threading.Thread(target=lambda: outcome.update(run_sweep(sweep, store, backend="ray")))
    driver.start()
    deadline = time.time() + 90
    while time.time() < deadline and len(list(path.glob("checkpoints/step_*"))) < 3:  # step 0 and two more
        time.sleep(0.02)
    assert lock.held_elsewhere(path / lock.LOCK_FILE), "the point finished before it could be killed"
    worker = int((path / lock.LOCK_FILE).read_text())
    assert worker != os.getpid()
    os.kill(worker, signal.SIGKILL)
    driver.join(120)
    assert outcome == {"done before": 0, "ran": 1, "failed": 0}
    run = Run.open(store, sweep.points[0].run)
    assert run.status == "finished" and run.info["resumed_from"] > 0


def test_an_address_that_does_not_answer_is_one_line_and_writes_nothing(ray_cluster, sweep_file, tmp_path, capsys):
    store = tmp_path / "store"
    began = time.monotonic()
    assert main(["--store", str(store), "sweep", sweep_file(), "--backend", "ray", "--address", "127.0.0.1:1"]) == 2
    assert time.monotonic() - began < 10
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "127.0.0.1:1" in err
    assert not store.exists()


def test_address_only_with_the_ray_backend(sweep_file, tmp_path, capsys):
    store = tmp_path / "store"
    assert main(["--store", str(store), "sweep", sweep_file(), "--backend", "local", "--address", "127.0.0.1:6379"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--address: only with the ray backend" in err
    assert not store.exists()


def test_the_files_backend_is_the_default_and_backend_overrides_it(ray_cluster, sweep_file, tmp_path, capsys):
    file = Path(sweep_file())
    file.write_text('backend = "ray"\n' + file.read_text())
    store = tmp_path / "store"
    assert main(["--store", str(store), "sweep", str(file), "--address", "127.0.0.1:1"]) == 2
    assert "no Ray cluster answers at 127.0.0.1:1" in capsys.readouterr().err
    assert main(["--store", str(store), "sweep", str(file), "--backend", "local", "--address", "127.0.0.1:1"]) == 2
    assert "--address: only with the ray backend" in capsys.readouterr().err
    assert not store.exists()


def test_without_ray_installed_the_ray_backend_is_one_line(sweep_file, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    store = tmp_path / "store"
    assert main(["--store", str(store), "sweep", sweep_file(), "--backend", "ray"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'phasewatch[ray]'" in err
    assert not store.exists()


def test_an_unknown_backend_is_one_line(sweep_file, tmp_path, capsys):
    assert main(["--store", str(tmp_path / "store"), "sweep", sweep_file(), "--backend", "dask"]) == 2
    assert "backend: 'dask' is not allowed (choose from: local, ray, ensemble)" in capsys.readouterr().err


def test_the_store_check_on_a_worker_names_what_is_not_shared(tmp_path):
    from phasewatch.sweep.ray_backend import PREFLIGHT, check_store

    config = tmp_path / "tiny.toml"
    config.write_text("seed = 0\n")
    digest = {str(config): hashlib.sha256(b"seed = 0\n").hexdigest()}
    assert "is not the one the driver writes" in check_store(str(tmp_path), "abc", digest)  # no marker: another disk
    (tmp_path / f"{PREFLIGHT}abc").write_text("abc")
    assert check_store(str(tmp_path), "abc", digest) is None
    config.write_text("seed = 1\n")  # this node's copy of the config differs
    assert "does not have" in check_store(str(tmp_path), "abc", digest)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{PREFLIGHT}abc", "tiny.toml"]  # its own file deleted
