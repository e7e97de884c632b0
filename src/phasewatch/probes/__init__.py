"""Probes: registered functions that turn a model + its probe items into scalars and arrays.

Add a probe by decorating `function(ctx) -> ProbeResult` with `@probe("name", metrics=..., needs=...)`
in a module imported here; list it in an experiment's `probes.names` (or pass it to `Watcher`).
The registry (`registry.py`) holds every probe and every metric declaration.
"""
from phasewatch.probes import attention, behaviour, icl, in_context, probe_set, progress  # noqa: F401  (they register)
from phasewatch.probes import representation, selection, semantic, structure, training  # noqa: F401
from phasewatch.probes.context import ProbeContext, ProbePass
from phasewatch.probes.registry import (
    METRICS, PROBES, Metric, Needs, ProbeResult, choose, declarations, emits, probe, run_probes, untouched,
)

__all__ = ["METRICS", "PROBES", "Metric", "Needs", "ProbeContext", "ProbePass", "ProbeResult", "choose",
           "declarations", "emits", "probe", "run_probes", "untouched"]
