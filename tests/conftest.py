"""Tiny, fast fixtures: a 16-wide transformer on (a + b) mod 7; one local Ray cluster per session.

Under pytest-xdist (`make test`: `-n auto --dist loadgroup`) every test that uses Ray runs in the
same worker: one cluster for the session."""

import contextlib
import logging
import subprocess
import sys

import pytest

TINY = """
description = "tiny test run"
seed = 0
[task]
name = "modular"
p = 7
train_fraction = 0.5
[model]
name = "transformer"
d_model = 16
n_heads = 2
d_head = 8
d_mlp = 32
[train]
steps = {steps}
lr = 1e-2
weight_decay = 1.0
warmup_steps = 5
checkpoint_every = {checkpoint_every}
device = "cpu"
[probes]
names = ["behaviour", "weight_norm", "class_gram", "fourier", "progress_measures"]
every = 10
log_points = 5
[events]
watch = ["train/*", "test/*", "restricted_loss/*"]
"""


def pytest_collection_modifyitems(items):
    for item in items:
        if "ray_cluster" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("ray"))


@pytest.fixture
def tiny_config(tmp_path):
    def write(steps: int = 60, checkpoint_every: int = 20) -> str:
        path = tmp_path / f"tiny-{steps}-{checkpoint_every}.toml"
        path.write_text(TINY.format(steps=steps, checkpoint_every=checkpoint_every))
        return str(path)

    return write


@pytest.fixture
def one_thread():
    """One torch thread: tiny models on a shared 2-core machine run many times slower with two
    (tests/llc and tests/integrations use it for every test)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def ray_cluster():
    """One local Ray cluster for the whole test session (sweeps and `analyze --backend ray`):
    explicit CPUs, a small object store, no dashboard. The backends find it initialised and use it
    (and leave it running). Tests that ask for it are skipped without Ray."""
    ray = pytest.importorskip("ray")
    ray.init(
        address="local",
        num_cpus=2,
        object_store_memory=80 * 1024**2,
        include_dashboard=False,
        logging_level=logging.WARNING,
    )
    yield
    ray.shutdown()


@pytest.fixture
def lock_holder():
    """`with lock_holder(FILE) as pid:` another process holds the lock on FILE (store/lock.py)
    until the block ends."""

    @contextlib.contextmanager
    def hold(file):
        code = f"from phasewatch.store import lock; lock.acquire({str(file)!r}, 'x'); print('held', flush=True); input()"
        holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout.readline().strip() == "held"
            yield holder.pid
        finally:
            holder.communicate("")

    return hold
