"""When to probe: log-spaced early (transitions start fast), linear later (and the last step).

`probe_steps` is the schedule of a run of known length (a built-in experiment, a watched run told
its `total_steps`); `OpenEnded` the schedule of a watched run of unknown length; `probe_schedule`
picks one for the `Watcher` and its callbacks.
"""

from __future__ import annotations

import heapq
import operator
from collections.abc import Container, Iterable, Iterator

import numpy as np

from phasewatch.errors import UserError

LOG_POINTS = 30  # a watched run of known length: log-spaced probe steps ...
LINEAR_POINTS = 30  # ... plus this many evenly spaced ones
OPEN_ENDED_EVERY = 1000  # a run of unknown length: ten log-spaced steps a decade, and every 1,000th


class ProbeSteps:
    """Steps 0..total_steps at which probes run: `log_points` log-spaced steps, every `every`-th
    step, and the final one. Answers `step in` without listing the steps, so a run of 10**12 steps
    costs no memory for its schedule; `len` counts them."""

    def __init__(self, total_steps: int, every: int, log_points: int):
        self.total, self.every = total_steps, every
        log_spaced = np.geomspace(1, total_steps, log_points) if log_points and total_steps else np.empty(0)
        self.log_spaced = frozenset(map(int, np.round(log_spaced).astype(int)))

    def __contains__(self, step: object) -> bool:
        try:
            n = operator.index(step)  # type: ignore[arg-type]
        except TypeError:
            return False
        return 0 <= n <= self.total and (n % self.every == 0 or n == self.total or n in self.log_spaced)

    def __len__(self) -> int:
        off_grid = {s for s in self.log_spaced | {self.total} if s % self.every}
        return self.total // self.every + 1 + len(off_grid)

    def __iter__(self) -> Iterator[int]:
        extra = sorted(s for s in self.log_spaced | {self.total} if s % self.every)
        return heapq.merge(range(0, self.total + 1, self.every), extra)

    def rank(self, step: int) -> int:
        """How many scheduled steps come before `step`."""
        return -(-step // self.every) + sum(1 for s in self.log_spaced | {self.total} if s % self.every and s < step)


def probe_steps(total_steps: int, every: int, log_points: int) -> list[int]:
    """The steps of `ProbeSteps`, listed: sorted, unique."""
    return list(ProbeSteps(total_steps, every, log_points))


class OpenEnded:
    """Probe steps when the run's length is unknown: 0, ten log-spaced steps per decade, and every
    `OPEN_ENDED_EVERY`-th step."""

    log_grid = frozenset({0} | {round(10 ** (k / 10)) for k in range(121)})

    def __contains__(self, step: object) -> bool:
        return step in self.log_grid or (isinstance(step, int) and step % OPEN_ENDED_EVERY == 0)

    def rank(self, step: int) -> int:
        """How many scheduled steps come before `step`."""
        return -(-step // OPEN_ENDED_EVERY) + sum(1 for s in self.log_grid if s < step and s % OPEN_ENDED_EVERY)


def schedule_rank(schedule: Container[int], step: int) -> int | None:
    """`step`'s position in `schedule` (how many of its steps come before it); None when `step`
    is not one of them (an adaptive extra probe) or the schedule cannot count."""
    if step not in schedule:
        return None
    if isinstance(schedule, (ProbeSteps, OpenEnded)):
        return schedule.rank(step)
    if isinstance(schedule, Iterable):
        return sum(1 for s in schedule if s < step)
    return None


def probe_schedule(total_steps: int | None = None, schedule: Iterable[int] | None = None) -> tuple[Container[int], dict]:
    """(the steps to probe at, a description for run.json). `schedule`: the steps themselves;
    else log-spaced + linear over `total_steps` (`probe_steps`); else open-ended."""
    if schedule is not None:
        steps = frozenset(check_step(s, "schedule") for s in schedule)
        return steps, {"steps": sorted(steps)}
    if total_steps is not None:
        total = check_step(total_steps, "total_steps")
        every = max(1, total // LINEAR_POINTS)
        return frozenset(probe_steps(total, every, LOG_POINTS)), {"total_steps": total, "every": every, "log_points": LOG_POINTS}
    return OpenEnded(), {"open_ended": True, "every": OPEN_ENDED_EVERY, "log_points_per_decade": 10}


def check_step(step, field: str = "step") -> int:
    """`step` as an int >= 0 (ints, numpy ints, 0-d integer tensors; not floats); UserError otherwise."""
    try:
        n = operator.index(step)
    except TypeError:
        n = -1
    if n < 0:
        raise UserError(f"{field}: {step!r} is not allowed (an integer >= 0)")
    return n
