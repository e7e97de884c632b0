"""Probes: registered functions that turn a model + its probe items into scalars and arrays.

Add a probe by writing a module in this package with a function decorated `@probe("name",
metrics=..., needs=...)`: every module here is imported (so registered) when the package is, and
the name can go in an experiment's `probes.names` or a `Watcher(probes=[...])`. The registry
(`registry.py`) holds every probe and every metric declaration.
"""

import importlib
import pkgutil

from phasewatch.probes.context import ProbeContext, ProbePass
from phasewatch.probes.registry import (
    METRICS,
    PROBES,
    Metric,
    Needs,
    ProbeResult,
    check_names,
    choose,
    declarations,
    emits,
    probe,
    recordable,
    run_probes,
    untouched,
)

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "METRICS",
    "PROBES",
    "Metric",
    "Needs",
    "ProbeContext",
    "ProbePass",
    "ProbeResult",
    "check_names",
    "choose",
    "declarations",
    "emits",
    "probe",
    "recordable",
    "run_probes",
    "untouched",
]
