"""A small store (tests/serve/serve_store.py) and a TestClient over the dashboard's app on it."""

import pytest
from serve_store import make_store


@pytest.fixture
def store(tmp_path):
    return make_store(tmp_path / "store")


@pytest.fixture
def client(store):
    pytest.importorskip("httpx")
    from starlette.testclient import TestClient

    from phasewatch.serve.app import create_app

    return TestClient(create_app(store))
