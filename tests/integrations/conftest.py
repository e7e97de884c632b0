"""Fixtures for the integration tests (data and models in integration_data.py)."""

from __future__ import annotations

import pytest
import torch
from integration_data import attributes_of, sequences, write_jsonl


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: tiny models on a shared 2-core machine run ~40x slower with two."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def probe_file(tmp_path) -> str:
    """24 probe items with labels and attributes, as JSONL."""
    tokens, classes = sequences(24, seed=1)
    rows = [
        {"tokens": t, "label": c, "attributes": a}
        for t, c, a in zip(tokens.tolist(), classes.tolist(), attributes_of(classes).tolist())
    ]
    return write_jsonl(tmp_path / "probe.jsonl", rows)
