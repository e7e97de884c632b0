"""The phase-aware curriculum: the switch rule, the stage it feeds the stream, and an exact resume."""

import pytest

import phasewatch as pw
from phasewatch import pipeline
from phasewatch.config import validate
from phasewatch.errors import UserError
from phasewatch.record import recorder as recorder_module
from phasewatch.tasks import build_task
from phasewatch.train import curriculum as curriculum_module
from phasewatch.train import loop
from phasewatch.train.prepare import prepare

GRAMMAR = {
    "seed": 0,
    "task": {"name": "grammar", "test_sentences": 64},
    "model": {"name": "transformer", "d_model": 16, "n_layers": 1, "n_heads": 2, "d_head": 8, "d_mlp": 32},
    "train": {"steps": 120, "batch_size": 16, "lr": 3e-3, "weight_decay": 0.0, "checkpoint_every": 40, "device": "cpu"},
    "probes": {"names": ["behaviour", "selection"], "every": 10, "log_points": 5},
    "events": {"watch": ["train/loss"]},
    "curriculum": {"metric": "selection/syntactic_accuracy", "floor": 0.0, "patience": 10, "tolerance": 1.0},
}


class Stored:
    """A stand-in run whose stored metric is `values` at steps 0, 10, 20, …"""

    def __init__(self, values):
        self.values = values

    def metric_names(self):
        return ["m"]

    def metric(self, name):
        return list(range(0, 10 * len(self.values), 10)), self.values


def config(**curriculum):
    return validate({"curriculum": {"metric": "m", **curriculum}}).curriculum


class Log:
    def __init__(self):
        self.rows = []

    def log(self, step, scalars):
        self.rows.append((step, scalars))


def test_stage_one_begins_once_the_metric_is_high_and_flat():
    schedule = curriculum_module.Curriculum(config(floor=0.9, patience=2, tolerance=0.02), Stored([]), start=0)
    log, stages = Log(), []
    for step, value in enumerate([0.2, 0.6, 0.85, 0.91, 0.95, 0.955, 0.96, 0.97]):
        schedule.observe(step, {"m": value}, log)
        stages.append(schedule.stage)
    # 0.95 → 0.955 → 0.96 gains 0.01 over 2 probes: flat, and above the floor, at the 7th probe
    assert stages == [0, 0, 0, 0, 0, 0, 1, 1]
    assert [row[1]["curriculum/stage"] for row in log.rows] == stages


def test_a_flat_metric_below_the_floor_never_switches_and_a_missing_one_is_a_clear_error():
    schedule = curriculum_module.Curriculum(config(floor=0.9, patience=2), Stored([]), start=0)
    for step in range(10):
        schedule.observe(step, {"m": 0.5}, Log())
    assert schedule.stage == 0
    with pytest.raises(UserError, match="curriculum.metric"):
        schedule.observe(11, {"other": 1.0}, Log())


def test_a_resumed_schedule_replays_the_stored_values_before_its_start():
    stored = Stored([0.95, 0.95, 0.95, 0.95])  # flat and high: stage 1 from the third value (step 20)
    assert curriculum_module.Curriculum(config(patience=2), stored, start=20).stage == 0
    assert curriculum_module.Curriculum(config(patience=2), stored, start=21).stage == 1


def test_a_curriculum_run_streams_easy_data_then_resumes_exactly_after_a_crash(tmp_path, monkeypatch):
    whole = pipeline._execute(
        pw.Run.create(tmp_path, "whole", experiment="t", config=GRAMMAR, seed=0),
        prepare(validate(GRAMMAR)),
        resume=False,
        progress=False,
    )
    steps, stage = whole.metric("curriculum/stage")
    assert stage[0] == 0 and stage[-1] == 1
    switch = int(steps[stage.argmax()])
    assert 40 < switch < 100  # after the first checkpoint, before the crash below: the resume must replay it

    real = recorder_module.run_probes

    def crash_at_100(names, context):
        if loop_step["now"] == 100:
            raise KeyboardInterrupt
        return real(names, context)

    loop_step = {"now": -1}
    real_batch = loop.batch_at

    def batch_at(task, step, batch_size, seed, stage=1):
        loop_step["now"] = step
        return real_batch(task, step, batch_size, seed, stage)

    monkeypatch.setattr(recorder_module, "run_probes", crash_at_100)
    monkeypatch.setattr(loop, "batch_at", batch_at)
    crashed = pw.Run.create(tmp_path, "crashed", experiment="t", config=GRAMMAR, seed=0)
    with pytest.raises(KeyboardInterrupt):
        pipeline._execute(crashed, prepare(validate(GRAMMAR)), resume=False, progress=False)
    monkeypatch.undo()
    resumed = pipeline.resume("crashed", store=tmp_path)
    assert (whole.metrics().to_numpy() == resumed.metrics().to_numpy()).all()


def test_stage_zero_batches_are_short_sentences():
    task = build_task(validate(GRAMMAR).task, 0)
    short = loop.batch_at(task, 5, 32, 0, stage=0)
    full = loop.batch_at(task, 5, 32, 0, stage=1)
    scored = lambda split: (split.targets >= 0).sum(1)  # noqa: E731
    assert scored(short).max() == 6 and scored(full).max() > 6


def test_a_curriculum_on_a_task_without_stages_is_refused_before_any_run_exists(tmp_path):
    with pytest.raises(UserError, match="curriculum.metric: .* task 'modular'"):
        pipeline.run("grokking", store=tmp_path, assignments=["curriculum.metric=test/accuracy"])
    assert not list(tmp_path.iterdir())
