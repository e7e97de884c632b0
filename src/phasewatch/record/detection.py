"""A run's end: detect and name its transitions, and save what analysis makes of them.

The settings are an experiment's `[events]` section (`config.EventConfig`); a watched run or a
checkpoint series gets `watched_detection`: every metric its probes declare as watched
(`Metric.watch`), plus the user's own patterns.
"""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatch

from phasewatch.analysis import detect_events, fit_ufm, phase_timeline, structure_events, unjudged
from phasewatch.analysis.mirage import judge_events, sharpness
from phasewatch.analysis.stages import stage_boundaries
from phasewatch.config import EventConfig, validate
from phasewatch.errors import UserError
from phasewatch.probes import METRICS, declarations
from phasewatch.probes.llc import LLC_MEAN, LLC_STD, LLCConfig
from phasewatch.probes.semantic import judged_by
from phasewatch.probes.training import TRAIN_LOSS
from phasewatch.store import SHARPNESS, UNJUDGED, Run


def watched_detection(extra: Sequence[str] = ()) -> EventConfig:
    """What a watched run's detection reads: the declared watched metrics, then `extra` patterns
    (a user's own curves, e.g. "train/repeat_loss")."""
    watch = [m.name for m in METRICS if m.watch]
    return EventConfig(watch=list(dict.fromkeys([*watch, *extra])))


def detection_of(run: Run) -> EventConfig:
    """The detection settings a run was analysed with: the ones its run.json records, else (runs
    recorded before it did) its experiment's, else a watched run's."""
    if "detection" in run.info:
        return EventConfig.model_validate(run.info["detection"])
    try:
        return validate(run.config).events
    except UserError:
        return watched_detection()


def analyse_if_missing(run: Run) -> bool:
    """Detect a stopped run's events again when its events.json is missing; whether it did."""
    if run.analysed or run.status == "running" or not run.metric_names():
        return False
    find_events(run, detection_of(run))
    return True


def find_events(run: Run, detection: EventConfig) -> list[dict]:
    """Detect and name transitions; saved to events.json. The `structure_windows` metrics
    (fnmatch patterns, in order) get the structure-window rule (analysis/structure.py, judged
    with the ETF distance at the same site where it was recorded, `probes.semantic.judged_by`);
    the other `watch` metrics the generic detector. With `fit_ufm`, the first windowed metric is
    also fitted with the coupled UFM's curve and saved as analysis/ufm_fit.json. With `phases`,
    the phase timeline (analysis/timeline.py) is saved as analysis/phases.json. A λ̂ curve (the
    `llc` probe) is cut into stages at its critical points (analysis/stages.py). The watched curves
    the detector could not judge, and why, are saved as analysis/unjudged.json."""
    names = run.metric_names()
    windowed = [m for pattern in detection.structure_windows for m in names if fnmatch(m, pattern)]
    windowed = list(dict.fromkeys(windowed))  # a metric matched by two patterns is dated once
    watched = [m for m in names if any(fnmatch(m, p) for p in detection.watch) and m not in windowed]
    curves = {m: run.metric(m) for m in watched}
    events = detect_events(curves, structure_metrics=detection.structure_metrics)
    run.save_analysis(UNJUDGED, {"curves": unjudged(curves)})
    for metric in windowed:
        etf = judged_by(metric)
        events += structure_events(*run.metric(metric), metric=metric, etf=run.metric(etf) if etf in names else None)
    if LLC_MEAN.name in names:
        events += _stages(run, names)
    events.sort(key=lambda e: (e["step"], e["metric"]))
    _judge_mirage(run, events, names)
    run.save_events(events)
    if detection.phases:
        last_step = int(run.metric(TRAIN_LOSS.name)[0].max())
        run.save_analysis("phases", {"phases": phase_timeline(events, detection.phases, last_step)})
    if detection.fit_ufm and windowed:
        fit = fit_ufm(*run.metric(windowed[0]), metric=windowed[0])
        if fit is not None:
            run.save_analysis("ufm_fit", fit)
    return events


def _stages(run: Run, names: Sequence[str]) -> list[dict]:
    """The `stage_boundary` events of the run's λ̂ curve (analysis/stages.py), its noise from the
    chains' spread."""
    steps, values = run.metric(LLC_MEAN.name)
    std = run.metric(LLC_STD.name)[1] if LLC_STD.name in names else None
    try:
        chains = validate(run.config).probes.llc.chains
    except UserError:  # a watched run: the probe's defaults
        chains = LLCConfig().chains
    return stage_boundaries(steps, values, chain_std=std, chains=chains, metric=LLC_MEAN.name)


def _judge_mirage(run: Run, events: list[dict], names: Sequence[str]) -> None:
    """Each event on a discontinuous metric judged against the continuous metrics of the same
    outputs (analysis/mirage.py), and those curves' breakthroughness saved as analysis/sharpness.json."""
    against: dict[str, tuple[str, ...]] = {}
    for metric in names:
        declared = next((d.judged_against for d in declarations(metric) if d.judged_against), ())
        if continuous := tuple(m for m in declared if m in names):
            against[metric] = continuous
    if not against:
        return
    involved = sorted({*against, *(m for ms in against.values() for m in ms)})
    curves = {m: run.metric(m) for m in involved}
    judge_events(events, curves, against)
    run.save_analysis(SHARPNESS, {"breakthroughness": sharpness(curves)})
