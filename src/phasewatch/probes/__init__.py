"""Probes: registered functions that turn a model + task into scalars and arrays.

Add a probe by decorating `function(ctx) -> ProbeResult` with `@probe("name", sites=...)` in a
module imported here; list it in an experiment's `probes.names`.
"""
from phasewatch.probes import attention, behaviour, icl, in_context, progress, representation  # noqa: F401  (they register)
from phasewatch.probes import selection, semantic, structure  # noqa: F401
from phasewatch.probes.registry import PROBES, ProbeContext, ProbeResult, probe, run_probes

__all__ = ["PROBES", "ProbeContext", "ProbeResult", "probe", "run_probes"]
