"""What a watched run and an analysed checkpoint series share: how probe results are stored and
how a run is finished (detection, events.json, status, report) — the pipeline's own parts."""
from __future__ import annotations

from fnmatch import fnmatch

from phasewatch.analysis import detect_events
from phasewatch.probes.registry import ProbeResult
from phasewatch.report import write_report
from phasewatch.store import MetricsWriter, Run

# The curves detection reads (fnmatch patterns), and those whose rise is `crystallisation` and fall
# `collapse`. Per-position losses are left out: dozens of near-copies of probe/loss.
WATCH = ("train/loss", "eval/loss", "probe/loss", "effective_rank/*", "etf_distance/*", "nc1/*",
         "semantic_alignment/*", "weight_norm/total")
STRUCTURE = ("semantic_alignment/*",)
EVENTS = {"watch": list(WATCH), "structure_metrics": list(STRUCTURE)}


def record_result(run: Run, writer: MetricsWriter, step: int, result: ProbeResult) -> None:
    """Scalars into the metrics writer (buffered), arrays into the run's safetensors artifacts."""
    writer.log(step, result.scalars)
    for name, tensors in result.arrays.items():
        run.save_array(name, step, tensors)


def finish_run(run: Run, **fields) -> list[dict]:
    """Detect events on the watched curves (every writer must be closed), mark the run finished
    with `fields` in run.json, and write its report. Returns the events."""
    watched = [m for m in run.metric_names() if any(fnmatch(m, pattern) for pattern in WATCH)]
    events = detect_events({m: run.metric(m) for m in watched}, structure_metrics=STRUCTURE)
    run.save_events(events)
    run.set_status("finished", **fields)
    write_report(run)
    return events
