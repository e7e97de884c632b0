"""Fixtures for the integration tests (data and models in integration_data.py)."""

from __future__ import annotations

import pytest
from integration_data import attributes_of, build_modular_model, modular_rows, save_state, sequences, write_factory, write_jsonl


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Every test here on one torch thread (the root conftest's `one_thread`)."""


@pytest.fixture
def probe_file(tmp_path) -> str:
    """24 probe items with labels and attributes, as JSONL."""
    tokens, classes = sequences(24, seed=1)
    rows = [
        {"tokens": t, "label": c, "attributes": a}
        for t, c, a in zip(tokens.tolist(), classes.tolist(), attributes_of(classes).tolist())
    ]
    return write_jsonl(tmp_path / "probe.jsonl", rows)


@pytest.fixture
def series(tmp_path, monkeypatch):
    """A folder of three checkpoints (steps 100, 200, 300), a probe file, a factory module in the cwd."""
    monkeypatch.chdir(tmp_path)
    write_factory(tmp_path)
    for step in (100, 200, 300):
        save_state(build_modular_model(seed=step), tmp_path / "series" / f"step_{step}.safetensors")
    write_jsonl(tmp_path / "probe.jsonl", modular_rows())
    return tmp_path
