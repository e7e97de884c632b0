"""A phase-aware data schedule: easy data until a probe says the first phase is over, then the
full distribution (the curriculum the "coherence crystallisation" article credits with 30–50 %
less compute; docs/science/language.md, measured in bench/RESULTS.md).

Stage 0 trains on the task's easy stream (for the generated language: short sentences, no
adjectives or prepositional phrases), stage 1 on everything. The switch is decided live from the
probe metric `curriculum.metric` (e.g. held-out syntactic accuracy): at a probe step where it has
reached `floor` and gained at most `tolerance` over the last `patience` probes (it has
saturated), stage 1 begins with the next update. Each probe step records `curriculum/stage`
(the stage of the next update). The decision is a function of the values seen so far, so a
resumed run replays its stored values and switches at the same step.
"""

from __future__ import annotations

from phasewatch.config import CurriculumConfig
from phasewatch.errors import UserError
from phasewatch.probes import emits
from phasewatch.probes.training import CURRICULUM_STAGE
from phasewatch.tasks.base import Task


class Curriculum:
    """A listener (record.Listener) that decides the data stage from a probe metric."""

    @staticmethod
    def check(settings: CurriculumConfig, task_kind: str, task: Task, probes: list[str]) -> None:
        """UserError, before any run exists, unless the task streams its data in stages
        (tasks/base.py `stream`) and one of the `probes` records the metric."""
        if settings.metric and task.stream is None:
            raise UserError(
                f"curriculum.metric: {settings.metric!r} is not allowed for task {task_kind!r} "
                "(a curriculum needs a task that streams its data in stages, e.g. grammar)"
            )
        if settings.metric and not emits(probes, settings.metric):
            raise UserError(f"curriculum.metric: {settings.metric!r} is not recorded by the probes ({', '.join(probes)})")

    def __init__(self, settings: CurriculumConfig, run, start: int):
        self.settings = settings
        self.seen: list[float] = []
        self.stage = 0
        if self.settings.metric in run.metric_names():  # a resumed run replays what it had seen
            for step, value in zip(*run.metric(self.settings.metric)):
                if step >= start:
                    break
                self._feed(float(value))

    def _feed(self, value: float) -> None:
        self.seen.append(value)
        settings = self.settings
        recent = self.seen[-settings.patience - 1 :]
        if (
            self.stage == 0
            and len(recent) > settings.patience
            and value >= settings.floor
            and value - recent[0] <= settings.tolerance
        ):
            self.stage = 1

    def observe(self, step: int, scalars: dict[str, float], recorder) -> bool:
        """Feed one probe step's metrics; the stage then applies from the next update on.
        Never stops training."""
        if self.settings.metric not in scalars:
            raise UserError(
                f"curriculum.metric: {self.settings.metric!r} is not recorded by the probes "
                f"(recorded: {', '.join(sorted(scalars))})"
            )
        self._feed(scalars[self.settings.metric])
        recorder.log(step, {CURRICULUM_STAGE.name: float(self.stage)})
        return False
