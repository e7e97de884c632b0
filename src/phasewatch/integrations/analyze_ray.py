"""`analyze --backend ray`: a checkpoint series spread over a Ray cluster, one task per checkpoint.

The driver does what a serial `analyze` does before and after the loop (find the checkpoints, read
the probe data, build one model to check the sites and probes, open or resume the run, detect at
the end) and stays the run's one writer. Each task builds the model in its worker with the same
`ModelBuilder` and factory, loads ONE checkpoint, runs the probes and returns the `ProbeResult`
(scalars, and arrays as CPU tensors); the driver records it at that checkpoint's step and flushes,
in completion order. Steps already recorded are not submitted, so a rerun resumes (and a series
begun serially can be finished here, and the other way round: the run is the same).

The cluster is started or joined by the sweep backend's `cluster` (a local one sized `workers`, or
`--address`, checked to answer first). The workers read the checkpoints themselves, so the series
folder must be shared storage at the same path on every node, and a `--factory` module from the
current directory must be there too: a task on every node checks both (sizes of the weight files,
the module's contents) before anything is recorded. The probe data is sent from the driver.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from phasewatch.errors import UserError
from phasewatch.integrations.checkpoints import EVERY_CHECKPOINT, Checkpoint, ModelBuilder, load_weights
from phasewatch.integrations.probe_data import ProbeData
from phasewatch.probes import ProbeContext, ProbeResult, run_probes
from phasewatch.sweep.ray_backend import MAX_RETRIES, PREFLIGHT_SECONDS, cluster, file_digest, first_line, import_ray, same_digest

Factory = str | Callable[[], nn.Module] | None
SHARED = "the checkpoint series must be shared storage, at the same path on every node"


@dataclass(frozen=True)
class Job:
    """What every task of one analysis shares, sent to the cluster once."""

    factory: str | bytes | None  # "module:function", a cloudpickled callable, or None (config.json)
    cwd: str  # the driver's working directory: where a factory module is imported from
    device: str
    data: ProbeData
    sites: list[str]
    probes: list[str]
    batch_size: int


@contextlib.contextmanager
def ray_probes(
    root: Path,
    checkpoints: list[Checkpoint],
    builder: ModelBuilder,
    factory: Factory,
    *,
    data: ProbeData,
    sites: list[str],
    probes: list[str],
    batch_size: int,
    device: str,
    workers: int | None,
    address: str | None,
) -> Iterator[Callable[[list[Checkpoint]], Iterator[tuple[int, ProbeResult]]]]:
    """Start or join the cluster (the store checked by `ray_backend.cluster`), check that a worker
    on every node reads the series (and the factory module) as the driver does, and yield what
    probes a list of checkpoints there: an iterator of (step, result) in completion order, which
    raises the first checkpoint's UserError after recording what was still running. Everything
    here is checked before the run is opened: a bad address or a node without the series is one
    line and writes nothing."""
    ray = import_ray()
    checkpoints = [_absolute(checkpoint) for checkpoint in checkpoints]
    with cluster(root, workers, address):
        listed = [file for c in checkpoints for file in (*c.files, *([c.config] if c.config else []))]
        files = {str(file): file.stat().st_size for file in listed if file.is_file()}  # a missing shard: its task says so
        module = _factory_module(builder)
        problem = _on_every_node(ray, check_series, files, module and (module, file_digest(Path(module))))
        if problem:
            raise UserError(f"ray: {problem}")
        # a callable is unpickled in the task, once the driver's cwd is importable (it may come from there)
        sent = ray.cloudpickle.dumps(factory) if callable(factory) else factory
        job = ray.put(Job(sent, os.getcwd(), device, data, list(sites), list(probes), batch_size))
        task = ray.remote(num_cpus=1, num_gpus=1 if device == "cuda" else 0, max_retries=MAX_RETRIES)(probe_checkpoint)
        lookup = {checkpoint.step: checkpoint for checkpoint in checkpoints}
        yield lambda todo: _results(ray, task, job, [lookup[c.step] for c in todo], workers)


def _absolute(checkpoint: Checkpoint) -> Checkpoint:
    """The checkpoint with the paths a worker opens: the driver's, so relative paths do not move."""
    config = checkpoint.config.absolute() if checkpoint.config else None
    files = tuple(file.absolute() for file in checkpoint.files)
    return dataclasses.replace(checkpoint, path=checkpoint.path.absolute(), files=files, config=config)


def _factory_module(builder: ModelBuilder) -> str | None:
    """The factory's module file when it lies under the current directory (the user's own module,
    imported by the workers from the same path); None otherwise (an installed package, config.json,
    a function of the script being run, which is sent by value)."""
    name = getattr(builder.factory, "__module__", None)
    module = sys.modules.get(name) if name and name != "__main__" else None
    file = getattr(module, "__file__", None)
    if not file or not Path(file).resolve().is_relative_to(Path.cwd().resolve()):
        return None
    return str(Path(file).absolute())


def _on_every_node(ray: Any, check: Callable[..., str | None], *args: Any) -> str | None:
    """Run `check(*args)` on every alive node (no CPU: it runs while the cluster is busy) and
    return the first problem it names, or None."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    remote = ray.remote(num_cpus=0, max_retries=0)(check)
    nodes = [node["NodeID"] for node in ray.nodes() if node.get("Alive")]
    refs = [remote.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)).remote(*args) for node in nodes]
    try:
        problems = ray.get(refs, timeout=PREFLIGHT_SECONDS)
    except ray.exceptions.GetTimeoutError:
        for ref in refs:
            ray.cancel(ref, force=True)
        return f"no worker checked the checkpoint series within {PREFLIGHT_SECONDS:.0f} s (is the cluster full?)"
    except ray.exceptions.RayError as error:
        return f"a worker could not check the checkpoint series ({first_line(error)}); is phasewatch installed on every node?"
    return next((problem for problem in problems if problem), None)


def check_series(files: dict[str, int], module: tuple[str, str] | None) -> str | None:
    """On a worker: None when every file of the series (path → size) is readable here at the
    driver's size, and the factory module (path, sha256) has the driver's contents; else the
    one-line reason."""
    host = socket.gethostname()
    for file, size in files.items():
        try:
            same = os.stat(file).st_size == size and os.access(file, os.R_OK)
        except OSError:
            same = False
        if not same:
            return f"node {host} does not have {file} as the driver has it ({SHARED})"
    if module is not None:
        path, digest = module
        if not same_digest(Path(path), digest):
            return f"node {host} does not have {path} as the driver has it (the --factory module: put it on shared storage)"
    return None


def probe_checkpoint(job: Job, checkpoint: Checkpoint) -> tuple[int, ProbeResult | None, str | None]:
    """On a worker: build the model, load `checkpoint`, run the probes. (step, the result with
    every array on the CPU, None), or (step, None, the one-line UserError) for a bad checkpoint."""
    try:
        if job.cwd not in sys.path:
            sys.path.insert(0, job.cwd)  # as on the driver (`load_factory`): the user's own modules
        factory: Factory
        if isinstance(job.factory, bytes):
            try:
                factory = import_ray().cloudpickle.loads(job.factory)
            except Exception as error:  # noqa: BLE001 - whatever stops the function from loading here
                raise UserError(f"--factory: cannot be loaded on node {socket.gethostname()} ({first_line(error)})") from None
        else:
            factory = job.factory
        model = ModelBuilder(factory, job.device).build(checkpoint)
        load_weights(model, checkpoint)
        context = ProbeContext.of_data(model, job.data, job.sites, job.batch_size)
        context.rank, context.options = 0, EVERY_CHECKPOINT  # as the driver's Recorder: every checkpoint is probed in full
        result = run_probes(job.probes, context)
    except UserError as error:
        return checkpoint.step, None, str(error)
    arrays = {name: {key: tensor.detach().cpu() for key, tensor in tensors.items()} for name, tensors in result.arrays.items()}
    return checkpoint.step, ProbeResult(result.scalars, arrays), None


def _results(ray: Any, task: Any, job: Any, todo: list[Checkpoint], workers: int | None) -> Iterator[tuple[int, ProbeResult]]:
    """Probe `todo` as tasks, at most `workers` at once (default: as many as the cluster runs),
    yielding (step, result) as each ends. After a bad checkpoint nothing more is submitted, what is
    running is still yielded, then its UserError is raised; a worker that dies more often than it
    is retried counts as a bad checkpoint. Interrupted, the running tasks are cancelled."""
    waiting = list(reversed(todo))
    running: dict[Any, Checkpoint] = {}
    problem: str | None = None
    try:
        while running or (waiting and problem is None):
            while waiting and problem is None and (workers is None or len(running) < workers):
                checkpoint = waiting.pop()
                running[task.remote(job, checkpoint)] = checkpoint
            ready, _ = ray.wait(list(running), num_returns=1)
            for ref in ready:
                checkpoint = running.pop(ref)
                try:
                    step, result, error = ray.get(ref)
                except ray.exceptions.RayTaskError:
                    raise  # not a bad checkpoint: a bug, or out of memory in the probes, as serially
                except ray.exceptions.RayError as crash:
                    step, result = checkpoint.step, None
                    error = f"checkpoint {checkpoint.path}: its Ray worker died {MAX_RETRIES + 1} times ({first_line(crash)})"
                if result is None:
                    problem = problem or error
                else:
                    yield step, result
    finally:
        for ref in running:  # interrupted: those checkpoints are not recorded, a rerun probes them
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
    if problem:
        raise UserError(problem)
