"""A run's phase timeline: the spans between events, named after the metrics that moved.

`phases` (the config's `events.phases`) maps a phase name to fnmatch patterns of metrics, in
order, e.g. {"syntax": ["selection/syntactic_*"], "semantics": ["selection/semantic_*"]}; a
pattern may instead name an event kind ("induction_onset"), which matches events of that kind on
any metric — so a small wobble of the same metric in a control run opens nothing. The rule:

- An event belongs to the first phase (in `phases` order) one of whose patterns matches its
  metric; plateaus are spans, not changes, and are left out; events on metrics no pattern
  matches open nothing. Rises and falls count alike.
- Phases overlap (semantic measures start to move while syntax is still being learned), so the
  timeline puts each boundary where the next phase's change is half done: the present phases (a
  phase with no event is absent: it did not happen, or was not measured) are ordered by their
  earliest event midpoint `step` (ties: `phases` order); the first opens at the earliest `onset`
  of any phase event (the first structured change), each later one at its earliest midpoint.
- Spans: "memorisation" = [0, first opening) when that is > 0 (only token statistics, i.e. the
  loss, had moved); each phase = [its opening, the next phase's opening); the last phase ends at
  the latest `end` of any phase event; then "refinement" = [that end, last_step] when it is not
  empty. Boundaries are clipped to [0, last_step]. No phase event at all: the timeline is [].

Each span is {name, start, end, start_share, end_share, metrics, events}: shares are fractions of
`last_step` (the run's length); `metrics` (sorted) and `events` (a count) are the phase's own
events, and for memorisation and refinement the other non-plateau events whose midpoint `step`
lies in the span (e.g. the loss cliff of memorisation).
"""

from __future__ import annotations

from fnmatch import fnmatch

MEMORISATION = "memorisation"
REFINEMENT = "refinement"


def phase_timeline(events: list[dict], phases: dict[str, list[str]], last_step: int) -> list[dict]:
    """The named spans of a run, in step order (the rule: the module docstring)."""
    last_step = max(int(last_step), 0)
    changes = [e for e in events if e.get("kind") != "plateau"]
    owned: dict[str, list[dict]] = {name: [] for name in phases}
    others: list[dict] = []
    for event in changes:
        name = next((n for n, patterns in phases.items() if any(_matches(event, p) for p in patterns)), None)
        (owned[name] if name is not None else others).append(event)
    order = list(phases)
    present = sorted((n for n in phases if owned[n]), key=lambda n: (min(e["step"] for e in owned[n]), order.index(n)))
    if not present:
        return []
    phase_events = [e for n in present for e in owned[n]]
    openings = [_clip(min(e["onset"] for e in phase_events), last_step)]
    for name in present[1:]:
        openings.append(max(openings[-1], _clip(min(e["step"] for e in owned[name]), last_step)))
    close = max(openings[-1], _clip(max(e["end"] for e in phase_events), last_step))
    spans = []
    if openings[0] > 0:
        spans.append(_span(MEMORISATION, 0, openings[0], _inside(others, 0, openings[0]), last_step))
    for k, name in enumerate(present):
        end = openings[k + 1] if k + 1 < len(present) else close
        spans.append(_span(name, openings[k], end, owned[name], last_step))
    if close < last_step:
        spans.append(_span(REFINEMENT, close, last_step, _inside(others, close, last_step + 1), last_step))
    return spans


def timeline_lines(timeline: list[dict]) -> list[str]:
    """One sentence per span, e.g. "syntax: steps 120–900 (4–30 % of training), from
    selection/syntactic_accuracy, selection/syntactic_mass"."""
    lines = []
    for span in timeline:
        line = (
            f"{span['name']}: steps {span['start']:,}–{span['end']:,} "
            f"({percent(span['start_share'])}–{percent(span['end_share'])} % of training)"
        )
        lines.append(line + (f", from {', '.join(span['metrics'])}" if span["metrics"] else ""))
    return lines


def percent(share: float) -> str:
    """A share of training as a whole percentage ("4"), one decimal below 1 % ("0.4")."""
    value = 100 * float(share)
    return f"{value:.1f}" if 0 < value < 1 else f"{value:.0f}"


def _clip(step, last_step: int) -> int:
    return min(max(int(round(step)), 0), last_step)


def _inside(events: list[dict], start: int, end: int) -> list[dict]:
    return [e for e in events if start <= e["step"] < end]


def _span(name: str, start: int, end: int, events: list[dict], last_step: int) -> dict:
    length = max(last_step, 1)
    return {
        "name": name,
        "start": int(start),
        "end": int(end),
        "start_share": start / length,
        "end_share": end / length,
        "metrics": sorted({e["metric"] for e in events}),
        "events": len(events),
    }


def _matches(event: dict, pattern: str) -> bool:
    return event.get("kind") == pattern or fnmatch(event["metric"], pattern)
