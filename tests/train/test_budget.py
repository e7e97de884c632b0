"""The memory estimate refuses configs too large for the machine, before anything is built."""

import time

import pytest
import torch

from phasewatch import config as configuration
from phasewatch.cli import main
from phasewatch.errors import UserError
from phasewatch.models import build_model
from phasewatch.tasks import build_task
from phasewatch.train import budget
from phasewatch.train.prepare import prepare

GiB = 1024**3


def config(*assignments):
    return configuration.resolve("grokking", None, list(assignments))[1]


def test_the_estimate_counts_the_real_parameters_and_grows_with_the_batch():
    cfg = config("train.batch_size=64")
    task = build_task(cfg.task, cfg.seed)
    parts = budget.estimate(cfg, task)
    real = sum(p.numel() * 4 for p in build_model(cfg.model, task).parameters())
    assert parts["parameters"] == real and parts["gradients and optimiser state"] == 3 * real  # AdamW: grad, m, v
    doubled = budget.estimate(config("train.batch_size=128"), task)
    assert doubled["training activations"] == 2 * parts["training activations"]
    assert parts["task"] == sum(t.numel() * t.element_size() for s in (task.train, task.test) for t in (s.inputs, s.targets))


def test_estimating_draws_no_random_numbers():
    cfg = config()
    prepared = prepare(cfg)
    torch.manual_seed(cfg.seed)
    task = build_task(cfg.task, cfg.seed)
    plain = build_model(cfg.model, task)
    assert all(torch.equal(a, b) for a, b in zip(prepared.model.parameters(), plain.parameters()))


@pytest.mark.parametrize(
    "assignment, largest",
    [
        ("task.p=997", "training activations"),
        ("model.n_heads=100000", "gradients and optimiser state"),
        ("model.d_model=1000000", ""),
    ],
)
def test_too_large_is_refused_with_the_numbers_before_the_run_exists(assignment, largest, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(budget, "available", lambda device: 4 * GiB)
    started = time.perf_counter()
    assert main(["--store", str(tmp_path / "store"), "run", "grokking", "--set", assignment]) == 2
    error = capsys.readouterr().err
    assert time.perf_counter() - started < 30
    assert "this run needs about" in error and "of the 4.0 GiB available on cpu" in error and largest in error
    assert len(error.strip().splitlines()) == 1 and not (tmp_path / "store").exists()


def test_a_run_that_fits_is_not_refused():
    budget.check(config(), build_task(config().task, 0), torch.device("cpu"), free=lambda device: 4 * GiB)
    with pytest.raises(UserError, match="needs about"):
        budget.check(config(), build_task(config().task, 0), torch.device("cpu"), free=lambda device: 10 * 1024**2)


def test_available_reads_meminfo(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       32000000 kB\nMemAvailable:   1000 kB\n")
    assert budget.available(torch.device("cpu"), meminfo) == 1000 * 1024
    assert budget.available(torch.device("cpu"), tmp_path / "missing") is None
