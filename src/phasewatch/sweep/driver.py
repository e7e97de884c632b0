"""Running a sweep: the points not yet finished, on a pool of processes, each an ordinary run.

A point's run is finished (skipped), stopped (resumed from its newest checkpoint), or missing
(run from scratch), so running the same sweep again heals it: a killed sweep continues where it
stopped and a failed point is tried again. One driver per sweep (`sweeps/NAME.lock`); a point
whose run another process is still writing (the worker of a killed driver) is waited for.

What a point does is `run_point`, whatever the backend; a backend only decides which processes run
it: `local` a process pool on this machine, `ray` Ray tasks (ray_backend.py), on a local cluster
or a running one (`address`). Both write the same runs, so a sweep may switch between them.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from phasewatch import config as configuration
from phasewatch.errors import UserError
from phasewatch.store import lock
from phasewatch.store.run import Run, read_info, recover, store_root
from phasewatch.store.sweeps import read_record, sweep_path, write_record
from phasewatch.sweep.spec import Point, Sweep, check_backend
from phasewatch.train.ensemble import check_ensemble, train_ensemble
from phasewatch.train.prepare import Prepared, prepare

STATES = ("done", "running", "failed", "missing")


def member_state(root: Path, run_id: str) -> str:
    """done (finished), running (its writer holds the lock), failed (stopped or failed: resumable),
    or missing."""
    path = root / run_id
    if not (path / "run.json").is_file():
        return "missing"
    if lock.held_elsewhere(path / lock.LOCK_FILE):
        return "running"
    try:
        status = read_info(path / "run.json")["status"]
    except UserError:
        return "failed"
    return "done" if status == "finished" else "failed"


def sweep_status(store: str | Path | None, name: str) -> list[tuple[str, str, dict]]:
    """(run id, state, axis values) for each member of the sweep recorded as `name`."""
    root = store_root(store)
    record = read_record(root, name)
    return [(m["run"], member_state(root, m["run"]), {k: v for k, v in m.items() if k != "run"}) for m in record["members"]]


def run_sweep(
    sweep: Sweep,
    store: str | Path | None = None,
    *,
    workers: int | None = None,
    progress: bool = False,
    backend: str | None = None,
    address: str | None = None,
) -> dict[str, int]:
    """Run every point of `sweep` that is not finished; counts by outcome (done before, ran,
    failed). One line on stderr per failed point, naming its axis values. `backend` (default: the
    sweep file's) is `local` or `ray`; `address` (ray only) joins a running Ray cluster. A backend
    that cannot start (Ray missing, an address that does not answer) is a UserError before the
    store is touched."""
    root = store_root(store)
    backend = check_backend(backend or sweep.backend)
    if address is not None and backend != "ray":
        raise UserError(f"--address: only with the ray backend, not {backend!r} (add --backend ray)")
    if workers is not None and workers < 1:
        raise UserError(f"--workers: {workers} is not allowed (an integer >= 1)")
    with _backend(backend, root, workers, address, sweep) as results:
        lock_file = sweep_path(root, sweep.name, ".lock")
        lock_file.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire(lock_file, f"sweep '{sweep.name}'")
        try:
            for line in recover(root):
                print(line, file=sys.stderr)
            write_record(root, sweep.name, sweep.record())
            todo = [p for p in sweep.points if member_state(root, p.run) != "done"]
            counts = {"done before": len(sweep.points) - len(todo), "ran": 0, "failed": 0}
            with _progress(progress) as bar:
                task = bar.add_task(sweep.name, total=len(todo))
                for point, error in results(sweep, todo):
                    counts["failed" if error else "ran"] += 1
                    if error:
                        where = " ".join(point.assignments())
                        print(f"sweep {sweep.name}: point {where} ({point.run}) failed: {error}", file=sys.stderr)
                    bar.advance(task)
            return counts
        finally:
            lock.release(lock_file)


@contextmanager
def _backend(backend: str, root: Path, workers: int | None, address: str | None, sweep: Sweep) -> Iterator:
    """What runs a list of points, yielding (point, None or why it failed) as each ends."""
    if backend == "ray":
        from phasewatch.sweep import ray_backend

        reads = (sweep.config_file,) if sweep.config_file else ()  # every worker reads it: check they can
        with ray_backend.cluster(root, workers, address, reads) as results:
            yield results
    elif backend == "ensemble":
        yield partial(_ensemble, str(root), _ensemble_members(sweep))  # checked before anything is written
    else:
        yield partial(_local, str(root), workers or os.cpu_count() or 1)


def _ensemble_members(sweep: Sweep) -> dict[str, tuple[str, Prepared]]:
    """Every point's (experiment name, prepared config), checked to form one vectorised ensemble
    (train/ensemble.py: members may differ in seed, lr and weight decay); UserError naming the
    first setting that differs otherwise."""
    members = {}
    for point in sweep.points:
        name, config = configuration.resolve(sweep.experiment, sweep.config_file, sweep.assignments(point))
        members[point.run] = (name, prepare(config))
    try:
        check_ensemble([prepared for _, prepared in members.values()])
    except UserError as error:
        raise UserError(f"backend ensemble: {error} (use --backend local)") from None
    return members


def _ensemble(
    root: str, members: dict[str, tuple[str, Prepared]], sweep: Sweep, todo: list[Point]
) -> Iterator[tuple[Point, str | None]]:
    """The points as one vectorised model in this process; a stopped run with checkpoints (a
    member of a killed ensemble) resumes solo, as does a lone point."""
    stopped = [p for p in todo if member_state(Path(root), p.run) == "failed" and (Path(root) / p.run / "checkpoints").is_dir()]
    fresh = [p for p in todo if p not in stopped]
    solo = stopped + (fresh if len(fresh) == 1 else [])
    for point in solo:
        yield point, run_point(root, sweep, point)
    if len(fresh) < 2:
        return
    runs = []
    for point in fresh:
        lock.wait_free(Path(root) / point.run / lock.LOCK_FILE)
        name, prepared = members[point.run]
        config = prepared.config
        overwrite = member_state(Path(root), point.run) == "failed"
        runs.append(
            Run.create(
                root, point.run, experiment=name, config=config.model_dump(mode="json"), seed=config.seed, overwrite=overwrite
            )
        )
    try:
        train_ensemble([(run, members[run.id][1]) for run in runs])
    except Exception as error:  # noqa: BLE001 - the members are marked failed; the sweep reports them
        for point in fresh:
            yield point, f"{type(error).__name__}: {error}"
        return
    for point in fresh:
        yield point, None


def _local(root: str, workers: int, sweep: Sweep, todo: list[Point]) -> Iterator[tuple[Point, str | None]]:
    """The points on a pool of `workers` processes on this machine."""
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        running: dict[Future, Point] = {pool.submit(run_point, root, sweep, point): point for point in todo}
        while running:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                yield running.pop(future), future.result()


def run_point(root: str, sweep: Sweep, point: Point) -> str | None:
    """Run or resume one point in this process; None, or the one-line reason it failed."""
    from phasewatch import pipeline

    path = Path(root) / point.run
    lock.wait_free(path / lock.LOCK_FILE)  # a killed driver's worker may still be finishing it
    try:
        state = member_state(Path(root), point.run)
        if state == "done":
            return None
        if state == "failed" and (path / "checkpoints").is_dir():
            pipeline.resume(point.run, store=root)
        else:
            pipeline.run(
                sweep.experiment,
                config_file=sweep.config_file,
                assignments=sweep.assignments(point),
                store=root,
                name=point.run,
                overwrite=state == "failed",
            )
    except UserError as error:
        return str(error)
    except Exception as error:  # noqa: BLE001 - a point's crash is reported, the sweep goes on
        return f"{type(error).__name__}: {error}"
    return None


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("points"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        disable=not enabled,
    )
