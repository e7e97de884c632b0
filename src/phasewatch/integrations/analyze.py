"""`analyze`: probe a saved checkpoint series into a run, as if it had been watched live.

Streams one checkpoint at a time (build or reuse the model, load the weights in place, probe,
record, flush), so memory does not grow with the series, and a checkpoint's metrics are on disk
before the next one is read. Run again, it resumes: steps already recorded are skipped, and new
checkpoints in the folder are added. The run has the same layout as a live one, so reports,
`phasewatch sql` and detection work unchanged.

With `backend="ray"` (`phasewatch analyze DIR --backend ray`) the checkpoints are probed by the
workers of a Ray cluster instead, one task per checkpoint (`analyze_ray.py`), and this process
records each result as it comes: the same rows in the same run, resumable either way.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable
from pathlib import Path

from torch import nn

from phasewatch.errors import UserError
from phasewatch.integrations.checkpoints import EVERY_CHECKPOINT, ModelBuilder, find_checkpoints, load_weights
from phasewatch.integrations.probe_data import load_probe_data
from phasewatch.integrations.probing import check_batch_size, probe_setup
from phasewatch.probes import ProbeContext
from phasewatch.record import Recorder
from phasewatch.store import Run, store_root


def analyze(
    directory: str | Path,
    probe_data: str | Path,
    *,
    store: str | Path | None = None,
    name: str | None = None,
    factory: str | Callable[[], nn.Module] | None = None,
    tokenizer: str | Path | None = None,
    sites: list[str] | None = None,
    probes: list[str] | None = None,
    watch: list[str] | None = None,
    batch_size: int = 64,
    device: str = "cpu",
    overwrite: bool = False,
    on_checkpoint: Callable[[int], None] | None = None,
    backend: str = "local",
    address: str | None = None,
    workers: int | None = None,
) -> Run:
    """Probe every checkpoint in `directory` (layouts: `phasewatch.integrations.checkpoints`) on
    the probe set in `probe_data` (JSONL, or text with `tokenizer`: `...integrations.probe_data`)
    and return the finished run (default id `analyze-<folder name>`).

    factory: "module:function" or a callable returning the model (default: each checkpoint's
    config.json, through transformers). sites/probes/watch/batch_size: as for `Watcher` — keep
    them equal to the live run's to compare the two. A recording `Recorder` fed one checkpoint at
    a time. on_checkpoint(step) is called after each
    checkpoint is recorded. Bad input is a one-line `UserError`; checkpoints recorded before it
    stay recorded and the run is marked failed.

    backend: "local" probes here, one checkpoint after another; "ray" spreads the checkpoints over
    a Ray cluster, one task per checkpoint (`analyze_ray`): a new local one of `workers` CPUs, or
    the one at `address` (HOST:PORT, ray://HOST:PORT or auto), whose workers read the series from
    shared storage. Both record the same rows into the same run, so either resumes the other.
    """
    if backend not in ("local", "ray"):
        raise UserError(f"--backend: {backend!r} is not allowed (choose from: local, ray)")
    if backend == "local" and address is not None:
        raise UserError("--address: only with the ray backend (--backend ray)")
    if backend == "local" and workers is not None:
        raise UserError("--workers: only with the ray backend (--backend ray; local probes one checkpoint at a time)")
    if workers is not None and (not isinstance(workers, int) or isinstance(workers, bool) or workers < 1):
        raise UserError(f"--workers: {workers!r} is not allowed (an integer >= 1)")
    batch_size = check_batch_size(batch_size)
    series = find_checkpoints(directory)
    data = load_probe_data(probe_data, tokenizer)
    builder = ModelBuilder(factory, device)
    model = builder.build(series[0])
    setup = probe_setup(model, data, sites=sites, probes=probes, batch_size=batch_size, watch=watch)
    config = {
        "description": f"checkpoint series {Path(directory).resolve()}, analysed by phasewatch analyze",
        "source": {"directory": str(Path(directory).resolve()), "model": builder.describe()},
        **setup.describe(),
    }
    root = store_root(store)
    with contextlib.ExitStack() as stack:
        remote = None
        if backend == "ray":  # connected and checked before the run is opened: a bad address writes nothing
            from phasewatch.integrations.analyze_ray import ray_probes

            remote = stack.enter_context(
                ray_probes(
                    root,
                    series,
                    builder,
                    factory,
                    data=data,
                    sites=setup.context.view.block_sites(),
                    probes=setup.probes,
                    batch_size=batch_size,
                    device=device,
                    workers=workers,
                    address=address,
                )
            )
        run = _open_or_create(root, name or _default_name(directory), config, overwrite)
        run.lock()  # before the repair below: one writer per run
        _, repairs = run.repair()  # damaged parts set aside: their checkpoints are probed again
        for line in [*setup.skipped, *repairs]:
            run.log(line)
        done = set(run.metrics()["step"].tolist())
        recorder = Recorder(
            run,
            setup.context,
            setup.probes,
            {c.step for c in series},
            detection=setup.detection,
            flush_seconds=float("inf"),
            options=EVERY_CHECKPOINT,
        )  # flushed after each checkpoint, below
        todo = [checkpoint for checkpoint in series if checkpoint.step not in done]
        context = setup.context
        try:
            if remote is None:
                for checkpoint in todo:
                    built = builder.build(checkpoint)
                    if built is not context.model:
                        context = ProbeContext.of_data(built, data, context.view.block_sites(), batch_size)
                    load_weights(built, checkpoint)
                    recorder.probe(checkpoint.step, context)
                    recorder.flush()
                    if on_checkpoint is not None:
                        on_checkpoint(checkpoint.step)
            else:  # each result recorded by this one writer as its task ends, in any order
                for step, result in remote(todo):
                    recorder.record_probe(step, result)
                    recorder.flush()
                    if on_checkpoint is not None:
                        on_checkpoint(step)
        except BaseException as error:
            recorder.fail(error)
            run.unlock()
            raise
        recorder.finish(checkpoints=len(series))
        run.unlock()
    return run


def _default_name(directory: str | Path) -> str:
    """`analyze-<folder name>`, made a safe run id."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(directory).resolve().name).strip("-.") or "series"
    return f"analyze-{stem}"


def _open_or_create(root: Path, run_id: str, config: dict, overwrite: bool) -> Run:
    """The run to record into: a new one, or the same analysis begun before (resume)."""
    if overwrite or not (root / run_id / "run.json").is_file():
        return Run.create(root, run_id, experiment="analyze", config=config, seed=0, overwrite=overwrite)
    run = Run.open(root, run_id)
    if run.info["experiment"] != "analyze" or run.config != json.loads(json.dumps(config)):
        raise UserError(
            f"--name: run '{run_id}' exists with other settings (another series, probe data, sites or "
            "probes); give another --name, or --overwrite to replace it"
        )
    run.set_status("running")
    return run
