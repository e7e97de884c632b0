"""The probe registry: a probe is a function of a `ProbeContext` returning scalars and arrays.

Probes run under `torch.no_grad()` in eval mode on the probe schedule. They share forward passes
through the context: `ctx.forward(split)` runs the model once per split and step, capturing the
activations that the active probes declared with `sites`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from phasewatch.tasks.base import Split, Task


@dataclass
class ProbeResult:
    """`scalars`: metric name → value; `arrays`: array probe name → {tensor key: tensor}."""

    scalars: dict[str, float] = field(default_factory=dict)
    arrays: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)


@dataclass
class ProbeContext:
    model: torch.nn.Module
    task: Task
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    sites: list[str]
    _outputs: dict[str, tuple[torch.Tensor, dict[str, torch.Tensor]]] = field(default_factory=dict)

    def forward(self, split: str) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Logits on `train`, `test` or `probe`, and the cached activations; computed once."""
        if split not in self._outputs:
            if split != "probe" and getattr(self.task, split) is self.task.probe:
                self._outputs[split] = self.forward("probe")  # the same data: the same forward, no copy
            elif (rows := self.task.probe_rows(split)) is not None:  # the split lies inside the probe set: slice, don't recompute
                logits, cache = self.forward("probe")
                self._outputs[split] = logits[rows], {name: value[rows] for name, value in cache.items()}
            else:
                data: Split = getattr(self.task, split)
                self._outputs[split] = self.model.run_with_cache(data.inputs, names=self.sites)
        return self._outputs[split]


@dataclass(frozen=True)
class Probe:
    name: str
    run: Callable[[ProbeContext], ProbeResult]
    sites: Callable[[torch.nn.Module], list[str]]
    doc: str


PROBES: dict[str, Probe] = {}


def probe(name: str, sites: Callable[[torch.nn.Module], list[str]] = lambda model: []):
    """Register `function(ctx) -> ProbeResult` under `name`; `sites(model)` names its activations."""

    def register(function: Callable[[ProbeContext], ProbeResult]) -> Callable[[ProbeContext], ProbeResult]:
        PROBES[name] = Probe(name, function, sites, (function.__doc__ or "").strip().split("\n")[0])
        return function

    return register


def run_probes(names: list[str], model: torch.nn.Module, task: Task, loss) -> ProbeResult:
    """Run the named probes once, sharing forward passes; the model's mode is restored."""
    probes = [PROBES[name] for name in names]
    sites = sorted({site for p in probes for site in p.sites(model)})
    context = ProbeContext(model, task, loss, sites)
    result = ProbeResult()
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for p in probes:
                out = p.run(context)
                result.scalars.update(out.scalars)
                result.arrays.update(out.arrays)
    finally:
        model.train(was_training)
    return result
