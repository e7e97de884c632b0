"""The probe registry: one place that says what every probe needs and what every metric means.

A probe is a function of a `ProbeContext` returning a `ProbeResult` (scalars and arrays). It is
registered with `@probe(name, needs=..., metrics=...)`:

- `needs` (`Needs`): what the context must offer — a task of a given kind, labels or attributes
  on the probe items, a model capability (`attention_patterns`, `unembedding`, ...). A probe whose
  needs are not met is skipped (or refused, when the user asked for it by name).
- `metrics` (`Metric`): the names it emits (fnmatch patterns) and their meaning: the direction of
  improvement, the family, the event kinds a rise or fall may carry, the report panel. The
  detector, the report and the listeners read these declarations; no module outside `probes/`
  spells a metric name.

Probes run under `torch.no_grad()` with the model in eval mode (see `untouched`) and share
forward passes through the context. A probe registered `at_end=True` needs the finished model: it
runs once training is over, over the run's stored checkpoints, with `ctx.final` the final model's
context (Nanda et al.'s restricted loss uses the final model's key frequencies at every step).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatch

import torch

from phasewatch.errors import UserError
from phasewatch.probes.context import ProbeContext, untouched


@dataclass(frozen=True)
class Metric:
    """One metric (or a family of them, `name` an fnmatch pattern such as "induction_score/*").

    meaning: one line for people. higher: "better" | "worse" | "neither" (what a rise means).
    rise / fall: the event kind a detected rise / fall carries ("crystallisation",
    "induction_onset", ...), None for the generic `transition`. level: the rise carries `rise`
    only when it ends at or above this value. reference: for `grokking`, the curve that must
    have saturated first, with `{name}` standing for the part after the split ("train/{name}").
    panel: the report panel that draws it ("" for the generic curves), label: its short name
    there. watch: a watched run's detection reads it by default. judged_against: for a
    discontinuous metric (exact match, an argmax accuracy), the continuous metrics of the same
    outputs its events are checked against (analysis/mirage.py: persists or metric artefact).
    """

    name: str
    meaning: str
    higher: str = "neither"
    rise: str | None = None
    fall: str | None = None
    level: float | None = None
    reference: str | None = None
    panel: str = ""
    label: str = ""
    watch: bool = False
    judged_against: tuple[str, ...] = ()

    @property
    def family(self) -> str:
        """The part before the first '/': `induction_score` for "induction_score/*"."""
        return self.name.split("/")[0]

    def matches(self, metric: str) -> bool:
        return fnmatch(metric, self.name)

    def at(self, *parts: str | int) -> str:
        """The concrete name under this family: `INDUCTION.at("L1H0")` → "induction_score/L1H0"."""
        return "/".join([self.family, *map(str, parts)])


@dataclass(frozen=True)
class Needs:
    """What a probe needs from its context. task: a built-in task (True: any; a class: a task of
    that kind); probe_data: the user's probe items (a watched model or a checkpoint series);
    labels / attributes: per-item labels or attribute rows (from the task or the probe data);
    sequences: a task whose targets are a token per position (a language model's);
    capabilities: what the model must offer (`models.interface`)."""

    task: bool | type = False
    probe_data: bool = False
    labels: bool = False
    attributes: bool = False
    sequences: bool = False
    capabilities: tuple[str, ...] = ()

    def unmet(self, ctx: ProbeContext) -> str | None:
        """Why this context cannot serve the probe, or None."""
        if self.task and ctx.task is None:
            kind = "" if self.task is True else f" of kind {self.task.__name__}"
            return f"a built-in task{kind} (a watched model has probe data instead)"
        if isinstance(self.task, type) and ctx.task is not None and not isinstance(ctx.task, self.task):
            return f"a task of kind {self.task.__name__}, not {ctx.task.name!r}"
        if self.sequences and ctx.task is not None and not ctx.task.sequence_targets:
            return f"a task with a target at every position, not {ctx.task.name!r}"
        if self.probe_data and ctx.data is None:
            return "probe data of a watched model (a built-in run probes its task instead)"
        if self.labels and not ctx.has_labels:
            return "labelled probe items"
        if self.attributes and not ctx.has_attributes:
            return "probe items with attributes"
        missing = [c for c in self.capabilities if not ctx.view.can(c)]
        return f"a model with {', '.join(missing)}" if missing else None


@dataclass
class ProbeResult:
    """`scalars`: metric name → value; `arrays`: array probe name → {tensor key: tensor}."""

    scalars: dict[str, float] = field(default_factory=dict)
    arrays: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)


@dataclass(frozen=True)
class Probe:
    name: str
    run: Callable[[ProbeContext], ProbeResult]
    sites: Callable[[ProbeContext], list[str]]
    doc: str
    needs: Needs
    metrics: tuple[Metric, ...]
    at_end: bool = False
    on_request: bool = False


PROBES: dict[str, Probe] = {}
METRICS: list[Metric] = []  # every declaration, probes' and the training loop's (probes/training.py)


def probe(
    name: str,
    *,
    metrics: Iterable[Metric],
    needs: Needs = Needs(),
    sites: Callable[[ProbeContext], list[str]] = lambda ctx: [],
    at_end: bool = False,
    on_request: bool = False,
):
    """Register `function(ctx) -> ProbeResult` under `name`; `sites(ctx)` names the activations
    its context's forward pass must capture; `at_end`: it runs over the stored checkpoints once
    the run is over (module docstring); `on_request`: it is costly, so it runs only when named
    (never among a watched model's default probes)."""

    def register(function: Callable[[ProbeContext], ProbeResult]) -> Callable[[ProbeContext], ProbeResult]:
        declared = tuple(metrics)
        doc = (function.__doc__ or "").strip().split("\n")[0]
        PROBES[name] = Probe(name, function, sites, doc, needs, declared, at_end, on_request)
        declare(*declared)
        return function

    return register


def declare(*metrics: Metric) -> None:
    """Add metric declarations that no probe makes (the training loop's own, probes/training.py)."""
    METRICS.extend(m for m in metrics if m not in METRICS)


def declarations(metric: str) -> list[Metric]:
    """The declarations whose pattern matches `metric`: exact names, then families ("nc1/*"),
    then the generic rules ("*loss*")."""
    found = [m for m in METRICS if m.matches(metric)]
    return sorted(found, key=lambda m: (m.name.startswith("*"), "*" in m.name or "?" in m.name))


def recordable(pattern: str) -> bool:
    """Whether an fnmatch `pattern` (an `events.watch` entry) can match a metric that some probe
    or the training loop declares. Two patterns overlap when either matches the other with its
    wildcards filled in; the generic rules ("*loss*") are left out, or every typo would pass."""
    fill = str.maketrans({"*": "x", "?": "x"})
    return any(
        fnmatch(m.name.translate(fill), pattern) or fnmatch(pattern.translate(fill), m.name)
        for m in METRICS
        if not m.name.startswith("*")
    )


def emits(probe_names: Iterable[str], metric: str) -> bool:
    """Whether one of the named probes declares `metric`."""
    return any(m.matches(metric) for name in probe_names for m in PROBES[name].metrics)


def check_names(names: Iterable[str], field_name: str = "probes") -> list[str]:
    """The names, each a registered probe; UserError otherwise."""
    names = list(dict.fromkeys(names))
    for name in names:
        if name not in PROBES:
            raise UserError(f"{field_name}: {name!r} is not a probe (known: {', '.join(sorted(PROBES))})")
    return names


def choose(names: Iterable[str] | None, ctx: ProbeContext, field_name: str = "probes") -> tuple[list[str], list[str]]:
    """(the probes to run, one line per probe skipped). `names` None: every registered probe whose
    needs the context meets, but those that run only on request. Named probes must all be met: UserError otherwise, before anything
    is recorded."""
    if names is None:
        chosen, skipped = [], []
        for name, p in PROBES.items():
            reason = "to be named (it is costly)" if p.on_request else p.needs.unmet(ctx)
            (skipped.append(f"probe {name!r} skipped: it needs {reason}") if reason else chosen.append(name))
        return chosen, skipped
    chosen = check_names(names, field_name)
    for name in chosen:
        reason = PROBES[name].needs.unmet(ctx)
        if reason is not None:
            raise UserError(f"{field_name}: {name!r} is not allowed here (it needs {reason})")
    return chosen, []


def run_probes(names: list[str], ctx: ProbeContext) -> ProbeResult:
    """Run the named probes once on `ctx`, sharing its forward passes; the model is left as it was.
    During training (`ctx.final` None) the `at_end` probes are left out; over a finished run's
    checkpoints (`ctx.final` set) only they run."""
    probes = [PROBES[name] for name in names if PROBES[name].at_end == (ctx.final is not None)]
    ctx.reset(sorted({site for p in probes for site in p.sites(ctx)}))
    result = ProbeResult()
    with untouched(ctx.model):
        for p in probes:
            out = p.run(ctx)
            result.scalars.update(out.scalars)
            result.arrays.update(out.arrays)
    ctx.reset([])
    return result
