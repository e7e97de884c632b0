"""Fixtures for the LLC tests."""

import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Every test here on one torch thread (the root conftest's `one_thread`)."""
