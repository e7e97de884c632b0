"""One experiment end to end: config → checks → run directory → training → events → report."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from phasewatch import config as configuration
from phasewatch.analysis.forecast import Forecaster
from phasewatch.errors import UserError
from phasewatch.record.forecast import FORECASTER, load_forecaster
from phasewatch.store import Run, store_root
from phasewatch.train import train
from phasewatch.train.prepare import prepare


def run(
    experiment: str | None = None,
    *,
    config_file: str | None = None,
    assignments: Sequence[str] = (),
    store: str | Path | None = None,
    name: str | None = None,
    overwrite: bool = False,
    progress: bool = False,
    forecast: str | Path | dict | Forecaster | None = None,
    **overrides,
) -> Run:
    """Run a built-in experiment (or a config file) and return its `Run`.

    `pw.run("grokking", p=97, seed=1)` is `phasewatch run grokking --set p=97 --set seed=1`.
    `forecast`: a fitted forecaster (`phasewatch forecast fit`'s JSON file) recorded live
    (record/forecast.py).
    """
    assignments = [*assignments, *(f"{key}={_toml(value)}" for key, value in overrides.items())]
    experiment_name, config = configuration.resolve(experiment, config_file, assignments)
    prepared = prepare(config)  # every check before any run directory exists
    forecaster = load_forecaster(forecast) if forecast is not None else None
    run_id = name or f"{experiment_name}-s{config.seed}-{time.strftime('%Y%m%d-%H%M%S')}"
    new = Run.create(
        store_root(store),
        run_id,
        experiment=experiment_name,
        config=config.model_dump(mode="json"),
        seed=config.seed,
        overwrite=overwrite,
    )
    if forecaster is not None:
        new.save_analysis(FORECASTER, forecaster.to_dict())
    return _execute(new, prepared, resume=False, progress=progress)


def resume(run_id: str, *, store: str | Path | None = None, progress: bool = False) -> Run:
    """Continue a stopped run from its newest intact checkpoint (bit-identical to an uninterrupted
    run). Damaged metrics parts are moved aside and their rows recorded again from a checkpoint
    before them; a lost checkpoint manifest is rebuilt from the checkpoint files."""
    existing = Run.open(store_root(store), run_id)
    existing.lock()  # before anything is touched: a second --resume of this run stops here
    try:
        before, notices = existing.repair()
        for notice in notices:
            print(notice, file=sys.stderr)
            existing.log(notice)
        if existing.status == "finished" and before is None:
            missing = (
                ""
                if (existing.path / "report.html").is_file()
                else f"; its report is missing: `phasewatch report {run_id}` writes it"
            )
            raise UserError(f"--resume: run {run_id!r} is already finished{missing}")
        prepared = prepare(configuration.validate(existing.config))
        existing.set_status("running")
        return _execute(existing, prepared, resume=True, progress=progress, before=before)
    finally:
        existing.unlock()


def _execute(run: Run, prepared, *, resume: bool, progress: bool, before: int | None = None) -> Run:
    try:
        train(run, prepared, resume=resume, show_progress=progress, before=before)
    except BaseException as error:  # a Ctrl-C or crash leaves the run resumable and says why
        run.set_status("failed", error=f"{type(error).__name__}: {error}")
        raise
    return run


def _toml(value) -> str:
    """A Python value as the TOML text `--set` expects."""
    if isinstance(value, bool):
        return str(value).lower()
    return value if isinstance(value, str) else json.dumps(value)  # JSON numbers and arrays are TOML
