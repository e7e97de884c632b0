"""Adaptive probing: probe densely while a watched metric is changing, so a transition is dated at
the resolution of the training steps rather than of the schedule.

Rule (online, on the probe values as they arrive). For each watched metric the rate of change
between consecutive probes is |Δvalue| / Δstep. A change is *beginning* when the latest rate
exceeds TRIGGER × every rate of the previous WINDOW intervals (so a curve that has been falling
fast all along, as losses do early, does not trigger: only an acceleration does), and the move is
at least MIN_MOVE of the metric's scale so far (its range, or its mean magnitude if larger: the
far tail of a sigmoid does not) and TRIGGER × the noise of its earlier moves (1.4826 × their
MAD: a flat curve's noise does not) and RESOLUTION (float32 rounding of a deterministic probe). Then every
`dense_every`-th step is probed too, until the change has *passed* (the rate over the last
WINDOW dense intervals of every triggering metric is below 1/TRIGGER of the peak rate seen in
this episode) or the budget of extra probes is spent. The cost is bounded by `budget` and
reported in run.json (`adaptive`: extra probes, episodes, seconds).

A resumed run rebuilds the state from the stored values before its resume step, so it probes
exactly where the uninterrupted run did.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatch

import numpy as np

TRIGGER = 4.0
WINDOW = 5
MIN_MOVE = 0.05
RESOLUTION = 1e-6  # moves below this (relative to max(1, |value|)) are float32 rounding, not change


@dataclass
class _Curve:
    steps: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)

    def rates(self) -> list[float]:
        pairs = zip(zip(self.steps, self.values), zip(self.steps[1:], self.values[1:]))
        return [abs(v1 - v0) / max(s1 - s0, 1) for (s0, v0), (s1, v1) in pairs]


class AdaptiveProbing:
    """Extra probe steps while a watched metric changes (module docstring). `patterns`: fnmatch
    patterns of the metrics to watch; `dense_every`: the spacing of the extra probes; `budget`:
    the most extra probes in the whole run."""

    def __init__(self, patterns: Sequence[str], dense_every: int, budget: int):
        self.patterns, self.dense_every, self.budget = list(patterns), max(1, dense_every), budget
        self.curves: dict[str, _Curve] = {}
        self.active: dict[str, float] = {}  # metric → peak rate of the current episode
        self.extra = 0
        self.episodes: list[list[int]] = []  # [first dense step, last dense step]
        self.seconds = 0.0

    def wants(self, step: int) -> bool:
        """Whether `step` should be probed on top of the schedule."""
        return bool(self.active) and self.extra < self.budget and step % self.dense_every == 0

    def observe(self, step: int, scalars: dict[str, float], scheduled: bool) -> None:
        """Feed one probe step's values (`scheduled`: the schedule asked for it, else it is extra)."""
        if not scheduled:
            self.extra += 1
            self.episodes[-1][1] = step
        for name, value in scalars.items():
            if any(fnmatch(name, p) for p in self.patterns):
                curve = self.curves.setdefault(name, _Curve())
                curve.steps.append(step)
                curve.values.append(value)
                self._update(name, curve, step)

    def _update(self, name: str, curve: _Curve, step: int) -> None:
        rates = curve.rates()
        if len(rates) <= WINDOW:
            return
        latest, earlier = rates[-1], rates[-1 - WINDOW : -1]
        if name in self.active:
            self.active[name] = peak = max(self.active[name], latest)
            if max(rates[-WINDOW:]) < peak / TRIGGER:
                del self.active[name]  # this metric's change has passed
            return
        before = np.asarray(curve.values[:-1])
        scale = max(float(np.ptp(before)), abs(float(before.mean())))
        moves = np.diff(before)
        noise = 1.4826 * float(np.median(np.abs(moves - np.median(moves))))
        moved = abs(curve.values[-1] - curve.values[-2])
        least = max(MIN_MOVE * scale, TRIGGER * noise, RESOLUTION * max(1.0, abs(curve.values[-1])))
        if latest > TRIGGER * max(earlier) and moved > least and self.extra < self.budget:
            if not self.active:
                self.episodes.append([step, step])
            self.active[name] = latest

    @classmethod
    def resumed(
        cls, patterns, dense_every: int, budget: int, history: list[tuple[int, dict[str, float], bool]]
    ) -> AdaptiveProbing:
        """The state after feeding `history`, (step, watched probe values, scheduled) in step
        order: a resumed run's stored values before its resume step."""
        adaptive = cls(patterns, dense_every, budget)
        for step, scalars, scheduled in history:  # the same values make the same decisions
            adaptive.observe(step, scalars, scheduled)
        return adaptive

    def report(self) -> dict:
        """What run.json says of it."""
        return {"extra_probes": self.extra, "budget": self.budget, "dense_every": self.dense_every, "episodes": self.episodes}
