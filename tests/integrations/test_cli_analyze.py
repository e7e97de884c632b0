"""`phasewatch analyze`: end to end, and every broken input one line, exit 2, earlier checkpoints kept."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from integration_data import build_modular_model, save_state, write_jsonl
from safetensors.torch import save_file

from phasewatch.cli import main
from phasewatch.store import Run


def analyze_argv(*extra: str) -> list[str]:
    return ["--store", "store", "analyze", "series", "--probe-data", "probe.jsonl", "--factory", "tiny_factory:build", *extra]


def test_analyze_then_show_and_sql(series, capsys):
    assert main(analyze_argv("--name", "offline", "--site", "blocks.1", "--probe", "loss", "--probe", "collapse")) == 0
    run = Run.open("store", "offline")
    assert run.status == "finished" and run.info["experiment"] == "analyze"
    assert set(run.metric_names()) == {"probe/loss", "etf_distance/blocks.1", "nc1/blocks.1"}
    assert run.metric("nc1/blocks.1")[0].tolist() == [100, 200, 300]
    assert "report: " in capsys.readouterr().out
    assert main(["--store", "store", "sql", "SELECT count(*) AS n FROM metrics WHERE run = 'offline'"]) == 0
    assert " 9 " in capsys.readouterr().out  # 3 metrics x 3 checkpoints


def break_step_300(kind: str, directory) -> None:
    path = directory / "series" / "step_300.safetensors"
    state = build_modular_model().state_dict()
    if kind == "missing tensor":
        del state["blocks.1.mlp.W_out"]
        save_file(state, str(path))
    elif kind == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    elif kind == "pickle":
        path.unlink()
        torch.save(state, directory / "series" / "step_300.pt")


@pytest.mark.parametrize(
    "kind, message",
    [
        ("missing tensor", "step_300.safetensors: tensor 'blocks.1.mlp.W_out' is missing"),
        ("truncated", "step_300.safetensors: truncated or corrupt (a complete safetensors file)"),
    ],
)
def test_a_bad_checkpoint_is_one_line_exit_2_and_earlier_ones_stay_recorded(series, capsys, kind, message):
    break_step_300(kind, series)
    assert main(analyze_argv()) == 2
    err = capsys.readouterr().err
    assert err.startswith("phasewatch: error: checkpoint ") and message in err and len(err.strip().splitlines()) == 1
    run = Run.open("store", "analyze-series")
    assert run.status == "failed" and sorted(run.metrics()["step"].unique()) == [100, 200]
    save_state(build_modular_model(seed=300), series / "series" / "step_300.safetensors")  # fixed: resume finishes it
    assert main(analyze_argv()) == 0
    assert sorted(Run.open("store", "analyze-series").metrics()["step"].unique()) == [100, 200, 300]


@pytest.mark.parametrize(
    "setup, argv, message",
    [
        ("empty folder", analyze_argv(), "checkpoint directory: series holds no checkpoints"),
        (
            "",
            ["--store", "store", "analyze", "series", "--probe-data", "probe.jsonl"],
            "--factory: needed, since series/step_100.safetensors has no config.json",
        ),
        ("", analyze_argv()[:-2] + ["--factory", "tiny_factory"], "--factory: 'tiny_factory' is not allowed (module:function"),
        ("probe rows of two lengths", analyze_argv(), "probe data probe.jsonl line 2: 4 tokens is not allowed"),
        (
            "probe ids past the vocabulary",
            analyze_argv(),
            # a phasewatch model's vocabulary is read through its interface (embed.W), so the id itself is named
            "probe data: token id 99 is not allowed (ids below the model's vocabulary size, 8)",
        ),
        ("", analyze_argv("--site", "blocks.9"), "sites: 'blocks.9' is not allowed"),
        ("", analyze_argv("--batch-size", "0"), "batch_size: 0 is not allowed (an integer >= 1)"),
        ("", analyze_argv("--batch-size", "many"), "argument --batch-size: invalid int value: 'many'"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(series, capsys, setup, argv, message):
    if setup == "empty folder":
        for path in (series / "series").iterdir():
            path.unlink()
    elif setup == "probe rows of two lengths":
        write_jsonl(series / "probe.jsonl", [{"tokens": [1, 2, 7]}, {"tokens": [1, 2, 3, 7]}])
    elif setup == "probe ids past the vocabulary":
        write_jsonl(series / "probe.jsonl", [{"tokens": [1, 2, 7]}, {"tokens": [1, 99, 7]}])
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (series / "store").exists() or not any((series / "store").iterdir())


def test_a_pickle_checkpoint_through_the_real_command(series):
    break_step_300("pickle", series)
    result = subprocess.run([sys.executable, "-m", "phasewatch.cli", *analyze_argv()], capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        "phasewatch: error: checkpoint: series/step_300.pt is not read (pickle checkpoints are not read; convert to safetensors)"
    )


@pytest.mark.parametrize(
    "links, message",
    [
        ({"checkpoint-600": "."}, "checkpoint: series/checkpoint-600 leads to a folder holding it, not allowed"),
        (
            {"step_400.safetensors": "step_500.safetensors", "step_500.safetensors": "step_400.safetensors"},
            "checkpoint: series/step_400.safetensors is a symlink loop, not allowed",
        ),
    ],
)
def test_a_symlink_that_loops_or_climbs_is_refused_before_anything_is_recorded(series, capsys, links, message):
    for name, target in links.items():
        (series / "series" / name).symlink_to(target)
    assert main(analyze_argv()) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"phasewatch: error: {message}") and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (series / "store").exists() or not any((series / "store").iterdir())


def test_a_damaged_part_is_probed_again_by_the_same_analyze(series):
    from phasewatch.store.metrics import live_parts

    assert main(analyze_argv("--name", "a", "--probe", "loss")) == 0
    before = Run.open("store", "a").metrics()
    (part,) = live_parts(Run.open("store", "a").path / "metrics")
    part.write_bytes(part.read_bytes()[:50])
    assert main(analyze_argv("--name", "a", "--probe", "loss")) == 0
    after = Run.open("store", "a").metrics()
    assert len(after) == len(before) and (after.to_numpy() == before.to_numpy()).all()
    assert any("damaged metrics parts moved" in line for line in Run.open("store", "a").log_lines())
