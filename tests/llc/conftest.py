"""Fixtures for the LLC tests."""

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: these tiny models on a shared 2-core machine run many times slower with two."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
