"""The CLI end to end on a tiny run, its bad-input contract, and kill -9 + resume."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from phasewatch.cli import main
from phasewatch.cli_parser import build_parser
from phasewatch.config import flatten, preset_config
from phasewatch.store import Run

CHINCHILLA = Path(__file__).parent / "data" / "chinchilla" / "points.csv"

CLI = [sys.executable, "-m", "phasewatch.cli"]


def test_run_show_runs_report_sql(tiny_config, tmp_path, capsys):
    store = str(tmp_path / "store")
    assert main(["--store", store, "run", "--config", tiny_config(), "--name", "tiny", "--no-progress"]) == 0
    run = Run.open(store, "tiny")
    assert run.status == "finished" and (run.path / "report.html").exists()
    assert {"train/loss", "test/accuracy", "restricted_loss/logits", "weight_norm/total"} <= set(run.metric_names())
    assert run.array_steps("gram/class_means")[0] == 0
    for command in (
        ["runs"],
        ["show", "tiny"],
        ["report", "tiny"],
        ["sql", "SELECT count(*) AS n FROM metrics WHERE metric = 'test/accuracy'"],
    ):
        assert main(["--store", store, *command]) == 0
    out = capsys.readouterr().out
    assert "tiny" in out and "preset" not in out  # a --config run has no preset to differ from
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
        (
            ["run", "grokking", "--set", "attribute_smoothing=0.1"],
            "interventions.attribute_smoothing: needs a classification task",
        ),
        (["run", "structure-before-collapse", "--set", "setting=nope"], "setting: 'nope' is not allowed (choose from"),
        (["experiments", "nope"], "experiment: 'nope' is not a built-in experiment (choose from: addition, corpus, grammar,"),
        (["runs", "--store"], "argument --store: expected one argument"),
        (["scaling", "fit", "missing.csv"], "CSV: 'missing.csv' is not a file"),
        (["scaling", "fit", str(CHINCHILLA), "--starts", "x"], "--starts: 'x' is not allowed"),
        (["scaling", "fit", str(CHINCHILLA), "--form", "kaplan", "--variable", "T"], "invalid choice: 'T'"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(argv, message, tmp_path):
    store = tmp_path / "store"
    result = subprocess.run([*CLI, "--store", str(store), *argv], capture_output=True, text=True)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not store.exists() or not any(store.iterdir())


@pytest.mark.parametrize(
    "argv, store",
    [
        (["runs"], None),
        (["--store", "a", "runs"], "a"),
        (["runs", "--store", "b"], "b"),
        (["--store", "a", "runs", "--store", "b"], "b"),  # after the subcommand wins
        (["--store", "a", "sql", "--store", "b", "SELECT 1"], "b"),
        (["sql", "SELECT 1", "--store", "b"], "b"),
        (["--store", "a", "run", "grokking", "--store", "b", "--set", "p=7"], "b"),
        (["run", "--resume", "r", "--store", "b"], "b"),
        (["--store", "a", "analyze", "out", "--probe-data", "p.jsonl", "--store", "b"], "b"),
        (["--store", "a", "show", "r"], "a"),
        (["report", "r", "--store", "b"], "b"),
        (["experiments", "grokking", "--store", "b"], "b"),
    ],
)
def test_store_before_or_after_the_subcommand(argv, store):
    assert build_parser().parse_args(argv).store == store


def test_help_says_which_store_wins(capsys):
    for argv, text in (
        (["--help"], "also accepted after the subcommand, which wins when both are given"),
        (["runs", "--help"], "wins over a --store given before the subcommand"),
    ):
        with pytest.raises(SystemExit) as exit:
            main(argv)
        assert exit.value.code == 0 and text in " ".join(capsys.readouterr().out.split())


TINY_GROKKING = {
    "task.p": ("p=7", "59 -> 7"),
    "model.d_model": ("d_model=16", "128 -> 16"),
    "model.n_heads": ("n_heads=2", "4 -> 2"),
    "model.d_head": ("d_head=8", "32 -> 8"),
    "model.d_mlp": ("d_mlp=32", "512 -> 32"),
    "train.steps": ("steps=60", "4500 -> 60"),
    "train.device": ("device=cpu", '"auto" -> "cpu"'),
    "train.checkpoint_every": ("checkpoint_every=20", "100 -> 20"),
    "probes.every": ("every=10", "25 -> 10"),
    "probes.log_points": ("log_points=5", "30 -> 5"),
}


def test_show_prints_the_settings_that_differ_from_the_preset(tmp_path, capsys):
    store, elsewhere = tmp_path / "store", tmp_path / "elsewhere"
    sets = [a for assignment, _ in TINY_GROKKING.values() for a in ("--set", assignment)]
    assert main(["--store", str(elsewhere), "run", "grokking", *sets, "--name", "g", "--no-progress", "--store", str(store)]) == 0
    assert Run.open(store, "g").status == "finished" and not elsewhere.exists()
    capsys.readouterr()
    assert main(["show", "g", "--store", str(store)]) == 0
    out = capsys.readouterr().out.splitlines()
    header = out.index("settings that differ from preset 'grokking' (preset -> run):")
    assert out[header + 1 :] == [f"  {key}: {change}" for key, (_, change) in TINY_GROKKING.items()]
    info_file = store / "g" / "run.json"
    for config, line in (
        (preset_config("grokking").model_dump(mode="json"), "settings: as preset 'grokking'"),
        (
            {**Run.open(store, "g").config, "setting": "gone"},  # a variant the preset no longer has
            "settings: not compared with preset 'grokking' (setting: 'gone' is not allowed (this experiment has no settings))",
        ),
    ):
        info_file.write_text(json.dumps({**json.loads(info_file.read_text()), "config": config}))
        assert main(["show", "g", "--store", str(store)]) == 0
        assert capsys.readouterr().out.splitlines()[-1] == line


def test_sql_names_its_store_and_notes_an_empty_one(tmp_path, capsys):
    full, empty = tmp_path / "full", tmp_path / "typo"
    run = Run.create(full, "a", experiment="grokking", config={}, seed=0)
    with run.writer(flush_seconds=0) as writer:
        writer.log(0, {"train/loss": 1.0, "test/accuracy": 0.5})
    assert main(["sql", "--store", str(full), "SELECT count(*) AS n FROM metrics"]) == 0
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [f"store: {full.resolve()}"] and "│ 2 │" in captured.out
    assert main(["--store", str(empty), "sql", "SELECT count(*) AS n FROM runs"]) == 0
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        f"store: {empty.resolve()}",
        f"phasewatch: note: store {empty.resolve()} holds no runs (give --store DIR, or set $PHASEWATCH_STORE)",
    ]
    assert "│ 0 │" in captured.out
    assert main(["sql", "--store", str(empty), "SELEC 1"]) == 2  # a bad query: the error line alone
    assert capsys.readouterr().err.splitlines()[0].startswith("phasewatch: error: sql: Parser Error")


def test_experiments_name_lists_its_settings(capsys):
    assert main(["experiments", "grokking"]) == 0
    settings = dict(line.split(" = ", 1) for line in capsys.readouterr().out.splitlines())
    assert set(settings) == set(flatten(preset_config("grokking")))  # every key, each a --set key
    assert (settings["task.p"], settings["train.lr"], settings["model.name"]) == ("59", "0.001", '"transformer"')
    assert main(["experiments", "structure-before-collapse"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert 'setting = "selectional"' in lines and not any(line.startswith("settings.") for line in lines)
    assert lines[-1] == (
        "settings: selectional, selectional-keep-peak, selectional-smoothing, selectional-plain, hierarchical, "
        "hierarchical-plain, text, language, language-context "
        "(the values above are for setting = 'selectional'; choose another with --set setting=NAME)"
    )


def corrupt(path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_corrupt_newest_checkpoint_resumes_from_the_one_before(tiny_config, tmp_path):
    store = str(tmp_path / "store")
    assert main(["--store", store, "run", "--config", tiny_config(), "--name", "r", "--no-progress"]) == 0
    run = Run.open(store, "r")
    expected = run.metric("test/loss")
    run.set_status("failed")
    newest = run.checkpoint_steps()[-1]
    corrupt(run.path / "checkpoints" / f"step_{newest:08d}.safetensors")
    result = subprocess.run([*CLI, "--store", store, "run", "--resume", "r", "--no-progress"], capture_output=True, text=True)
    notices = [line for line in result.stderr.splitlines() if "corrupt" in line]
    assert result.returncode == 0 and len(notices) == 1 and "resuming from the checkpoint before it" in notices[0]
    run = Run.open(store, "r")
    assert run.status == "finished" and run.info["resumed_from"] == run.checkpoint_steps()[-2]
    assert all((a == b).all() for a, b in zip(run.metric("test/loss"), expected))  # re-recorded identically
    run.load_checkpoint(newest)  # rewritten, its checksum holds again


def test_no_valid_checkpoint_is_a_clear_error(tiny_config, tmp_path):
    store = str(tmp_path / "store")
    assert main(["--store", store, "run", "--config", tiny_config(), "--name", "r", "--no-progress"]) == 0
    run = Run.open(store, "r")
    run.set_status("failed")
    for step in run.checkpoint_steps():
        corrupt(run.path / "checkpoints" / f"step_{step:08d}.safetensors")
    result = subprocess.run([*CLI, "--store", store, "run", "--resume", "r"], capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.strip().splitlines()[-1].count("corrupt") == 1
    assert "Traceback" not in result.stderr


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

    result = subprocess.run(
        [*CLI, "--store", store, "run", "--resume", "killed", "--no-progress"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    whole, resumed = Run.open(store, "whole").metrics(), Run.open(store, "killed").metrics()
    assert len(whole) == len(resumed)
    assert (whole.to_numpy() == resumed.to_numpy()).all()  # bit-identical, every row once


def test_probes_lists_every_probe_with_its_needs_and_declared_metrics(capsys, monkeypatch):
    from phasewatch.probes import PROBES

    monkeypatch.setenv("COLUMNS", "400")  # one table row per line
    assert main(["probes"]) == 0
    out = capsys.readouterr().out
    assert all(f" {name} " in out for name in PROBES)
    row = next(line for line in out.splitlines() if " induction_score/* " in line)
    assert "attention_patterns" in row and "rise: induction_onset" in row and "better" in row
    assert "rise: crystallisation, fall: collapse" in next(line for line in out.splitlines() if "semantic_alignment/*" in line)


def test_resuming_a_finished_run_without_its_report_names_the_command_that_writes_it(tiny_config, tmp_path):
    store = str(tmp_path / "store")
    assert main(["--store", store, "run", "--config", tiny_config(), "--name", "r", "--no-progress"]) == 0
    (Run.open(store, "r").path / "report.html").unlink()  # killed between "finished" and the report
    result = subprocess.run([*CLI, "--store", store, "run", "--resume", "r"], capture_output=True, text=True)
    assert result.returncode == 2 and "`phasewatch report r` writes it" in result.stderr
    assert main(["--store", store, "report", "r"]) == 0 and (Run.open(store, "r").path / "report.html").is_file()


def test_scaling_fit_prints_json_with_intervals_and_writes_its_page(tmp_path, capsys):
    store = tmp_path / "store"
    assert main(["--store", str(store), "scaling", "fit", str(CHINCHILLA), "--resamples", "30", "--json"]) == 0
    fit = json.loads(capsys.readouterr().out)
    assert fit["form"] == "chinchilla" and fit["points"] == 234 and fit["resamples"] == 30
    for key in ("E", "A", "B", "alpha", "beta"):
        low, high = fit["intervals"][key]
        assert low < fit[key] < high
    assert abs(fit["alpha"] - 0.3426) < 1e-3
    page = (store / "scaling" / "points-chinchilla.html").read_text()
    assert "compute-optimal" in page and "tokens per parameter" in page
