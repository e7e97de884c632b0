"""`phasewatch analyze --backend ray`: the rows a serial analyze records, a rerun probes nothing, a bad
checkpoint is one line and the run resumes, bad addresses and a missing Ray are one line before
anything is written. On the session's one local cluster (`ray_cluster`, tests/conftest.py); the tests
that need Ray are skipped without it."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from integration_data import build_modular_model, save_state
from safetensors.torch import load_file

from phasewatch.cli import main
from phasewatch.integrations import analyze
from phasewatch.store import Run


def argv(store: str, *extra: str) -> list[str]:
    return ["--store", store, "analyze", "series", "--probe-data", "probe.jsonl", "--factory", "tiny_factory:build", *extra]


def test_ray_records_what_a_serial_analyze_records_and_a_rerun_probes_nothing(ray_cluster, series):
    assert main(argv("local")) == 0
    assert main(argv("remote", "--backend", "ray", "--workers", "2")) == 0
    a, b = Run.open("local", "analyze-series"), Run.open("remote", "analyze-series")
    assert b.status == "finished" and a.config == b.config
    assert len(a.metrics()) and a.metrics().equals(b.metrics()) and a.events == b.events
    arrays = sorted(str(p.relative_to(a.path)) for p in a.path.glob("arrays/**/*.safetensors"))  # attention, gram/...
    assert arrays and arrays == sorted(str(p.relative_to(b.path)) for p in b.path.glob("arrays/**/*.safetensors"))
    for file in arrays:
        x, y = load_file(a.path / file), load_file(b.path / file)
        assert x.keys() == y.keys() and all(x[k].equal(y[k]) for k in x)
    assert not list(Path("remote").glob(".sweep-preflight-*"))  # the store check left nothing

    recorded: list[int] = []
    rerun = analyze(
        "series", "probe.jsonl", store="remote", factory="tiny_factory:build", backend="ray", on_checkpoint=recorded.append
    )
    assert recorded == [] and rerun.status == "finished" and rerun.metrics().equals(a.metrics())


def test_a_bad_checkpoint_through_ray_is_one_line_and_a_rerun_probes_only_what_is_missing(ray_cluster, series, capsys):
    path = series / "series" / "step_300.safetensors"
    path.write_bytes(path.read_bytes()[:200])
    assert main(argv("store", "--backend", "ray", "--probe", "loss")) == 2
    err = capsys.readouterr().err
    assert "step_300.safetensors: truncated or corrupt" in err and len(err.strip().splitlines()) == 1
    run = Run.open("store", "analyze-series")
    assert run.status == "failed" and sorted(run.metrics()["step"].unique()) == [100, 200]  # the others still recorded

    save_state(build_modular_model(seed=300), path)
    recorded: list[int] = []
    finished = analyze(
        "series",
        "probe.jsonl",
        store="store",
        factory="tiny_factory:build",
        probes=["loss"],
        backend="ray",
        on_checkpoint=recorded.append,
    )
    assert recorded == [300] and finished.status == "finished"
    assert sorted(finished.metrics()["step"].unique()) == [100, 200, 300]


def test_an_address_that_does_not_answer_is_one_line_and_writes_nothing(series, capsys):
    pytest.importorskip("ray")
    began = time.monotonic()
    assert main(argv("store", "--backend", "ray", "--address", "127.0.0.1:1")) == 2
    assert time.monotonic() - began < 10
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no Ray cluster answers at 127.0.0.1:1" in err
    assert not (series / "store").exists()


@pytest.mark.parametrize(
    "extra, message",
    [
        (("--address", "127.0.0.1:6379"), "--address: only with the ray backend"),
        (("--workers", "2"), "--workers: only with the ray backend"),
        (("--backend", "ray", "--workers", "0"), "--workers: 0 is not allowed (an integer >= 1)"),
        (("--backend", "dask"), "argument --backend: invalid choice: 'dask'"),
    ],
)
def test_ray_options_without_the_ray_backend_are_one_line(series, capsys, extra, message):
    assert main(argv("store", *extra)) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (series / "store").exists()


def test_without_ray_installed_the_ray_backend_is_one_line(series, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    assert main(argv("store", "--backend", "ray")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'phasewatch[ray]'" in err
    assert not (series / "store").exists()


def test_the_series_check_on_a_worker_names_what_is_not_shared(series):
    from phasewatch.integrations.analyze_ray import check_series
    from phasewatch.sweep.ray_backend import file_digest

    file = series / "series" / "step_100.safetensors"
    module = (str(series / "tiny_factory.py"), file_digest(series / "tiny_factory.py"))
    size = file.stat().st_size
    assert check_series({str(file): size}, module) is None
    assert "does not have" in check_series({str(file): size + 1}, None)  # another copy of the series
    assert "shared storage" in check_series({str(series / "elsewhere.safetensors"): size}, None)  # not mounted here
    (series / "tiny_factory.py").write_text("def build(): ...\n")  # this node's factory module differs
    assert "--factory module" in check_series({str(file): size}, module)
