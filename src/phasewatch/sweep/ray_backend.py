"""The `ray` backend: a sweep's points as Ray tasks, each one `run_point` as the local pool runs it.

Without an address a local cluster is started for this sweep and stopped after it, sized for the
machine (explicit CPUs, a small object store, no dashboard: Ray's defaults fail on small machines).
With an address (`HOST:PORT`, `ray://HOST:PORT` or `auto`) the sweep joins a running cluster and
its workers write the runs themselves, to the store path as the driver names it: the store must be
shared storage mounted at the same path on every node, and phasewatch installed on every node. A
worker on each node checks that before anything is launched. A worker that dies mid-point (killed,
out of memory, its node lost) has its point retried, which resumes from the run's last checkpoint.

Ray is an optional extra (`pip install phasewatch[ray]`), imported only here and only when used.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

from phasewatch.errors import UserError
from phasewatch.sweep.spec import Point, Sweep

OBJECT_STORE_BYTES = 80 * 1024**2  # the points' arguments and results are small; Ray's default is 30% of memory
MAX_RETRIES = 2  # a point whose worker dies is tried again this many times, resuming its run
CONNECT_SECONDS = 5.0  # an address that does not accept a connection within this is not a cluster
PREFLIGHT_SECONDS = 120.0  # for a worker on every node to check the store (workers may be starting)
PREFLIGHT = ".sweep-preflight-"  # the files the check writes at the top of the store, then deletes

Results = Callable[[Sweep, list[Point]], Iterator[tuple[Point, "str | None"]]]


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UserError("--backend ray: Ray is not installed (pip install 'phasewatch[ray]')") from None
    return ray


@contextlib.contextmanager
def cluster(root: Path, workers: int | None, address: str | None, reads: tuple[str, ...] = ()) -> Iterator[Results]:
    """Connect (a new local cluster of `workers` CPUs, default the cores; or the one at `address`),
    check that a worker on every node can write `root` and read the files `reads` as the driver
    does (a sweep's config file), and yield what runs the points. UserError, one line, when the
    address does not answer, before anything is written. A cluster this started is stopped at the
    end; one this process was already connected to is left as it is."""
    ray = import_ray()
    if address is not None:
        _check_answers(address)
    started = False
    if ray.is_initialized():
        current = ray.get_runtime_context().gcs_address
        if address not in (None, "auto", current):
            raise UserError(f"--address: this process is already connected to the Ray cluster at {current}, not {address}")
    else:
        try:
            if address is None:
                ray.init(
                    address="local",  # a new cluster, never a running one found on the machine
                    num_cpus=workers or os.cpu_count() or 1,
                    object_store_memory=OBJECT_STORE_BYTES,
                    include_dashboard=False,
                    logging_level=logging.WARNING,
                )
            else:
                ray.init(address=address, logging_level=logging.WARNING)
        except (ConnectionError, RuntimeError, ValueError, OSError) as error:
            if address is None:
                raise UserError(f"ray: cannot start a local Ray cluster: {first_line(error)}") from None
            hint = "is it the head's GCS address, and does this machine have the cluster's auth token (RAY_AUTH_MODE=token)?"
            raise UserError(f"ray: cannot connect to the Ray cluster at {address}: {first_line(error)}; {hint}") from None
        started = True
    try:
        shared = root.absolute()  # the path every worker opens: the driver's, so relative paths do not move
        _preflight(ray, shared, {str(Path(file).absolute()): file_digest(Path(file)) for file in reads})
        yield partial(_results, ray, str(shared), workers)
    finally:
        if started:
            ray.shutdown()


def _check_answers(address: str) -> None:
    """UserError unless something accepts a TCP connection at `address` (`ray.init` on an address
    that does not answer retries for minutes)."""
    if address == "auto":  # the cluster started on this machine (`ray start`): ray.init finds it or fails at once
        return
    host, colon, port = address.removeprefix("ray://").rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"--address: {address!r} is not allowed (HOST:PORT, ray://HOST:PORT or auto)")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_SECONDS).close()
    except OSError as error:
        reason = error.strerror or str(error) or type(error).__name__
        raise UserError(f"--address: no Ray cluster answers at {address} ({reason}); start one with `ray start --head`") from None


def _preflight(ray: Any, root: Path, reads: dict[str, str]) -> None:
    """A task on every alive node reads a file the driver wrote (the store is the same storage
    there), writes and deletes one beside it, and finds the files `reads` (path → sha256) as the
    driver has them; UserError naming the first node that cannot."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    created = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex
    marker = root / f"{PREFLIGHT}{token}"
    marker.write_text(token, encoding="utf-8")
    check = ray.remote(num_cpus=0, max_retries=0)(check_store)  # no CPU: runs even while the cluster is busy
    try:
        nodes = [node["NodeID"] for node in ray.nodes() if node.get("Alive")]
        refs = [
            check.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)).remote(str(root), token, reads)
            for node in nodes
        ]
        try:
            problems = ray.get(refs, timeout=PREFLIGHT_SECONDS)
        except ray.exceptions.GetTimeoutError:
            for ref in refs:
                ray.cancel(ref, force=True)
            raise UserError(
                f"ray: no worker checked the store {root} within {PREFLIGHT_SECONDS:.0f} s (is the cluster full?)"
            ) from None
        except ray.exceptions.RayError as error:
            raise UserError(
                f"ray: a worker could not check the store ({first_line(error)}); is phasewatch installed on every node?"
            ) from None
        if problem := next((p for p in problems if p), None):
            raise UserError(f"ray: {problem}")
    finally:
        marker.unlink(missing_ok=True)
        if created:
            with contextlib.suppress(OSError):
                root.rmdir()  # the check leaves no trace; the sweep creates the store again


def check_store(root: str, token: str, reads: dict[str, str]) -> str | None:
    """On a worker: None when the driver's marker is readable here, a file can be written and
    deleted beside it, and the files `reads` have the driver's contents; else the one-line reason."""
    host = socket.gethostname()
    folder = Path(root)
    shared = "the store must be shared storage, at the same path on every node"
    try:
        if (folder / f"{PREFLIGHT}{token}").read_text(encoding="utf-8") != token:
            raise FileNotFoundError
    except OSError:
        return f"the store {root} on node {host} is not the one the driver writes ({shared})"
    probe = folder / f"{PREFLIGHT}{token}-{os.getpid()}"
    try:
        probe.write_text("ok", encoding="utf-8")
        probe.unlink()
    except OSError as error:
        return f"node {host} cannot write the store {root} ({error.strerror or error}; {shared})"
    for file, digest in reads.items():
        if not same_digest(Path(file), digest):
            return f"node {host} does not have {file} as the driver has it (the sweep's config: put it on shared storage)"
    return None


def file_digest(file: Path) -> str:
    """The sha256 of a file's bytes: what a node compares to tell the driver's file from another."""
    return hashlib.sha256(file.read_bytes()).hexdigest()


def same_digest(file: Path, digest: str) -> bool:
    """Whether `file` is readable here and has `digest` (`file_digest` on the driver)."""
    try:
        return file_digest(file) == digest
    except OSError:
        return False


def _results(ray: Any, root: str, workers: int | None, sweep: Sweep, todo: list[Point]) -> Iterator[tuple[Point, str | None]]:
    """Run `todo` as tasks, at most `workers` at once (default: as many as the cluster's CPUs
    allow), yielding (point, None or the one-line reason it failed) as each ends."""
    from phasewatch.sweep.driver import run_point

    task = ray.remote(num_cpus=1, max_retries=MAX_RETRIES)(run_point)
    shared = ray.put(sweep)  # once, not once per point
    waiting = list(reversed(todo))
    running: dict[Any, Point] = {}
    try:
        while waiting or running:
            while waiting and (workers is None or len(running) < workers):
                point = waiting.pop()
                running[task.remote(root, shared, point)] = point
            ready, _ = ray.wait(list(running), num_returns=1)
            for ref in ready:
                point = running.pop(ref)
                try:
                    error = ray.get(ref)
                except ray.exceptions.RayError as crash:  # its worker died more often than it is retried
                    error = f"{type(crash).__name__}: {first_line(crash)}"
                yield point, error
    finally:
        for ref in running:  # interrupted: the points stay resumable, a rerun finishes them
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)


def first_line(error: BaseException) -> str:
    return next((line.strip() for line in str(error).splitlines() if line.strip()), type(error).__name__)
