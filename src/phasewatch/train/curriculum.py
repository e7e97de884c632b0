"""A phase-aware data schedule: easy data until a probe says the first phase is over, then the
full distribution (the curriculum the "coherence crystallisation" article credits with 30–50 %
less compute; issue 5 tests it, science/language.md).

Stage 0 trains on the task's easy stream (for the generated language: short sentences, no
adjectives or prepositional phrases), stage 1 on everything. The switch is decided live from the
probe metric `curriculum.metric` (e.g. held-out syntactic accuracy): at a probe step where it has
reached `floor` and gained at most `tolerance` over the last `patience` probes (it has
saturated), stage 1 begins with the next update. Each probe step records `curriculum/stage`
(the stage of the next update). The decision is a function of the values seen so far, so a
resumed run replays its stored values and switches at the same step.
"""
from __future__ import annotations

from phasewatch.config import ExperimentConfig
from phasewatch.errors import UserError
from phasewatch.tasks.base import Task


def check_curriculum(config: ExperimentConfig, task: Task) -> None:
    """A curriculum changes the data, so the task must stream it (tasks/base.py `stream`)."""
    if config.curriculum.metric and task.stream is None:
        raise UserError(f"curriculum.metric: {config.curriculum.metric!r} is not allowed for task {config.task.name!r} "
                        "(a curriculum needs a task that streams its data in stages, e.g. grammar)")


class Curriculum:
    def __init__(self, config: ExperimentConfig, run, start: int):
        self.settings = config.curriculum
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
        if self.stage == 0 and len(recent) > settings.patience and value >= settings.floor and value - recent[0] <= settings.tolerance:
            self.stage = 1

    def observe(self, step: int, scalars: dict[str, float], writer) -> None:
        """Feed one probe step's metrics; the stage then applies from the next update on."""
        if self.settings.metric not in scalars:
            raise UserError(f"curriculum.metric: {self.settings.metric!r} is not recorded by the probes "
                            f"(recorded: {', '.join(sorted(scalars))})")
        self._feed(scalars[self.settings.metric])
        writer.log(step, {"curriculum/stage": float(self.stage)})
