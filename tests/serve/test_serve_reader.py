"""The server's store reader: a new metric part, a new run or a changed run.json is seen by the
next request, and a change costs at most two connection rebuilds however many requests follow."""

import time

import numpy as np
import pytest
from serve_store import write_metrics

from phasewatch.serve import reader as reader_module
from phasewatch.serve.reader import StoreReader
from phasewatch.store import Run


@pytest.fixture
def counted(monkeypatch):
    """Counts the connections the reader builds; the racy window shortened to 0.2 s."""
    built, original = [], reader_module.connect

    def connect(root):
        built.append(root)
        return original(root)

    monkeypatch.setattr(reader_module, "connect", connect)
    monkeypatch.setattr(reader_module, "RACY_NS", 200_000_000)
    return built


def last(reader: StoreReader, run: str) -> int:
    return reader.read(lambda con: con.execute("SELECT max(step) FROM metrics WHERE run = ?", [run]).fetchone()[0])


def test_changes_are_seen_by_the_next_request_at_bounded_cost(tmp_path, counted):
    run = Run.create(tmp_path, "r", experiment="e", config={}, seed=0)
    write_metrics(run.path, range(10), {"loss": np.zeros(10)})
    reader = StoreReader(tmp_path)
    assert last(reader, "r") == 9
    time.sleep(0.3)
    write_metrics(run.path, range(10, 20), {"loss": np.zeros(10)})
    assert [last(reader, "r") for _ in range(30)] == [19] * 30
    assert len(counted) <= 3  # the first build, then at most two for the change
    time.sleep(0.3)
    before = len(counted)
    for _ in range(10):
        last(reader, "r")
    assert len(counted) - before <= 1  # the one confirming rebuild, if the last build was too soon
    run.set_status("finished")
    Run.create(tmp_path, "s", experiment="e", config={}, seed=0)
    assert reader.statuses() == {"r": "finished", "s": "running"}
