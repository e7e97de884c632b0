"""The CLI end to end on a tiny run, its bad-input contract, and kill -9 + resume."""
import os
import signal
import subprocess
import sys
import time

import pytest

from phasewatch.cli import main
from phasewatch.store import Run

CLI = [sys.executable, "-m", "phasewatch.cli"]


def test_run_show_runs_report_sql(tiny_config, tmp_path, capsys):
    store = str(tmp_path / "store")
    assert main(["--store", store, "run", "--config", tiny_config(), "--name", "tiny", "--no-progress"]) == 0
    run = Run.open(store, "tiny")
    assert run.status == "finished" and (run.path / "report.html").exists()
    assert {"train/loss", "test/accuracy", "restricted_loss/logits", "weight_norm/total"} <= set(run.metric_names())
    assert run.array_steps("gram/class_means")[0] == 0
    for command in (["runs"], ["show", "tiny"], ["report", "tiny"], ["sql", "SELECT count(*) AS n FROM metrics WHERE metric = 'test/accuracy'"]):
        assert main(["--store", store, *command]) == 0
    assert "tiny" in capsys.readouterr().out
    assert main(["experiments"]) == 0 and "grokking-no-wd" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "grokking", "--set", "p=-3"], "task.p: -3 is not allowed"),
        (["run", "no-such-experiment"], "'no-such-experiment' is not a built-in experiment"),
        (["run", "grokking", "--set", "colour=red"], "'colour' is not a known key"),
        (["show", "missing"], "run 'missing' not found"),
        (["run", "--resume", "missing"], "run 'missing' not found"),
        (["run"], "name an experiment"),
        (["frobnicate"], "invalid choice"),
        (["run", "grokking", "--set", "attribute_smoothing=0.1"], "interventions.attribute_smoothing: needs a classification task"),
        (["run", "structure-before-collapse", "--set", "setting=nope"], "setting: 'nope' is not allowed (choose from"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(argv, message, tmp_path):
    store = tmp_path / "store"
    result = subprocess.run([*CLI, "--store", str(store), *argv], capture_output=True, text=True)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not store.exists() or not any(store.iterdir())


def test_corrupt_checkpoint_is_a_clear_error(tiny_config, tmp_path):
    store = str(tmp_path / "store")
    assert main(["--store", store, "run", "--config", tiny_config(), "--name", "r", "--no-progress"]) == 0
    run = Run.open(store, "r")
    run.set_status("failed")
    path = run.path / "checkpoints" / f"step_{run.checkpoint_steps()[-1]:08d}.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    result = subprocess.run([*CLI, "--store", store, "run", "--resume", "r"], capture_output=True, text=True)
    assert result.returncode == 2 and "corrupt" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_sigkill_then_resume_equals_an_uninterrupted_run(tiny_config, tmp_path):
    config = tiny_config(steps=1200, checkpoint_every=100)
    store = str(tmp_path / "store")
    assert main(["--store", store, "run", "--config", config, "--name", "whole", "--no-progress"]) == 0

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    victim = subprocess.Popen([*CLI, "--store", store, "run", "--config", config, "--name", "killed", "--no-progress"], env=env)
    checkpoints = tmp_path / "store" / "killed" / "checkpoints"
    deadline = time.time() + 60
    while time.time() < deadline and len(list(checkpoints.glob("*.safetensors"))) < 3:
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    killed = Run.open(store, "killed")
    assert killed.status == "running" and 0 < killed.checkpoint_steps()[-1] < 1200

    result = subprocess.run([*CLI, "--store", store, "run", "--resume", "killed", "--no-progress"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    whole, resumed = Run.open(store, "whole").metrics(), Run.open(store, "killed").metrics()
    assert len(whole) == len(resumed)
    assert (whole.to_numpy() == resumed.to_numpy()).all()  # bit-identical, every row once
