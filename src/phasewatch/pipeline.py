"""One experiment end to end: config → run directory → training → events → report."""
from __future__ import annotations

import json
import time
from fnmatch import fnmatch
from pathlib import Path

from phasewatch import config as configuration
from phasewatch.analysis import detect_events, fit_ufm, phase_timeline, structure_events
from phasewatch.errors import UserError
from phasewatch.report import write_report
from phasewatch.store import Run, store_root
from phasewatch.tasks import build_task
from phasewatch.train import train
from phasewatch.train.curriculum import check_curriculum
from phasewatch.train.interventions import check_levers


def run(
    experiment: str | None = None,
    *,
    config_file: str | None = None,
    assignments: list[str] = (),
    store: str | Path | None = None,
    name: str | None = None,
    overwrite: bool = False,
    progress: bool = False,
    **overrides,
) -> Run:
    """Run a built-in experiment (or a config file) and return its `Run`.

    `pw.run("grokking", p=97, seed=1)` is `phasewatch run grokking --set p=97 --set seed=1`.
    """
    assignments = [*assignments, *(f"{key}={_toml(value)}" for key, value in overrides.items())]
    experiment_name, config = configuration.resolve(experiment, config_file, assignments)
    if config.interventions.structure_penalty or config.interventions.attribute_smoothing or config.curriculum.metric:
        task = build_task(config.task, config.seed)  # checked before any run directory exists
        check_levers(config, task)
        check_curriculum(config, task)
    run_id = name or f"{experiment_name}-s{config.seed}-{time.strftime('%Y%m%d-%H%M%S')}"
    new = Run.create(store_root(store), run_id, experiment=experiment_name, config=config.model_dump(mode="json"),
                     seed=config.seed, overwrite=overwrite)
    return _execute(new, config, resume=False, progress=progress)


def resume(run_id: str, *, store: str | Path | None = None, progress: bool = False) -> Run:
    """Continue a stopped run from its newest checkpoint (bit-identical to an uninterrupted run)."""
    existing = Run.open(store_root(store), run_id)
    if existing.status == "finished":
        raise UserError(f"--resume: run {run_id!r} is already finished")
    existing.set_status("running")
    return _execute(existing, configuration.validate(existing.config), resume=True, progress=progress)


def _execute(run: Run, config: configuration.ExperimentConfig, *, resume: bool, progress: bool) -> Run:
    try:
        train(run, config, resume=resume, show_progress=progress)
        find_events(run, config)
    except BaseException as error:  # a Ctrl-C or crash leaves the run resumable and says why
        run.set_status("failed", error=f"{type(error).__name__}: {error}")
        raise
    run.set_status("finished")
    write_report(run)  # after the status, which the report shows; `phasewatch report` rewrites it
    return run


def find_events(run: Run, config: configuration.ExperimentConfig) -> list[dict]:
    """Detect and name transitions; saved to events.json. The `events.structure_windows` metrics
    (fnmatch patterns, in order) get the structure-window rule (analysis/structure.py, judged
    with `etf_distance/<site>` where it was recorded); the other `events.watch` metrics the
    generic detector. With `events.fit_ufm`, the first windowed metric is also fitted with the
    coupled UFM's curve and saved as analysis/ufm_fit.json. With `events.phases`, the phase
    timeline (analysis/timeline.py) is saved as analysis/phases.json."""
    names = run.metric_names()
    windowed = [m for pattern in config.events.structure_windows for m in names if fnmatch(m, pattern)]
    windowed = list(dict.fromkeys(windowed))  # a metric matched by two patterns is dated once
    watched = [m for m in names if any(fnmatch(m, p) for p in config.events.watch) and m not in windowed]
    events = detect_events({m: run.metric(m) for m in watched}, structure_metrics=config.events.structure_metrics)
    for metric in windowed:
        etf = f"etf_distance/{metric.partition('/')[2]}"
        events += structure_events(*run.metric(metric), metric=metric, etf=run.metric(etf) if etf in names else None)
    events.sort(key=lambda e: (e["step"], e["metric"]))
    run.save_events(events)
    if config.events.phases:
        last_step = int(run.metric("train/loss")[0].max())
        run.save_analysis("phases", {"phases": phase_timeline(events, config.events.phases, last_step)})
    if config.events.fit_ufm and windowed:
        fit = fit_ufm(*run.metric(windowed[0]), metric=windowed[0])
        if fit is not None:
            run.save_analysis("ufm_fit", fit)
    return events


def _toml(value) -> str:
    """A Python value as the TOML text `--set` expects."""
    if isinstance(value, bool):
        return str(value).lower()
    return value if isinstance(value, str) else json.dumps(value)  # JSON numbers and arrays are TOML
