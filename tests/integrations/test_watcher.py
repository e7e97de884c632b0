"""The Watcher: records every step, probes on the schedule, never changes training, finishes a run."""

from __future__ import annotations

import json

import pytest
import torch
from integration_data import (
    PLANTED_GRAM,
    PLANTED_LABELS,
    PlantedClassifier,
    planted_attributes,
    planted_expectations,
    planted_inputs,
    sequences,
    tiny_gpt2,
)

from phasewatch import Run, Watcher
from phasewatch.errors import UserError
from phasewatch.record import probe_schedule, probe_steps


def train(steps: int, watcher_options: dict | None = None) -> torch.nn.Module:
    """A tiny GPT-2 with dropout, AdamW, `steps` updates; watched when `watcher_options` is given."""
    tokens, _ = sequences(64, seed=0)
    model = tiny_gpt2(seed=0)  # dropout 0.1 everywhere: training draws random numbers every step
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    watcher = Watcher(model, tokens[:16], **watcher_options) if watcher_options is not None else None
    for step in range(1, steps + 1):
        batch = tokens[torch.randint(0, 64, (8,))]
        loss = model(batch, labels=batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if watcher:
            watcher.step(step, loss=loss)
    if watcher:
        watcher.close()
    return model


def test_training_with_and_without_the_watcher_is_bit_identical(tmp_path):
    torch.manual_seed(0)
    plain = train(12)
    torch.manual_seed(0)
    watched = train(12, {"store": tmp_path, "name": "w", "schedule": range(13)})  # a probe after every update
    for (name, a), (_, b) in zip(plain.named_parameters(), watched.named_parameters()):
        assert torch.equal(a, b), name
    assert Run.open(tmp_path, "w").metric("probe/loss")[0].tolist() == list(range(1, 13))


def test_scalars_every_step_probes_on_schedule_then_a_finished_run(tmp_path):
    model, (tokens, classes) = tiny_gpt2(), sequences(16, seed=2)
    watcher = Watcher(model, tokens, labels=classes, store=tmp_path, name="run", schedule=[0, 3, 10], seed=7)
    for step in range(13):
        watcher.step(step, loss=torch.tensor(10.0 - step), lr=0.5, **{"eval/accuracy": step / 12})
    run = watcher.close()
    assert run.status == "finished" and run.info["seed"] == 7 and run.info["experiment"] == "watch"
    assert (run.path / "report.html").is_file() and (run.path / "events.json").is_file()
    steps, values = run.metric("train/loss")
    assert steps.tolist() == list(range(13)) and values.tolist() == [10.0 - s for s in range(13)]
    assert run.metric("train/lr")[1].tolist() == [0.5] * 13 and run.metric("eval/accuracy")[1][-1] == 1.0
    assert run.metric("probe/loss")[0].tolist() == [0, 3, 10, 12]  # close() adds the last step
    assert run.array_steps("gram/transformer.h.1") == [0, 3, 10, 12]
    assert {"nc1/transformer.h.0", "effective_rank/transformer.h.1", "weight_norm/total"} <= set(run.metric_names())
    config = run.config
    assert config["probes"]["sites"] == ["transformer.h.0", "transformer.h.1"]
    assert config["probe_data"]["classes"] == 4 and config["probes"]["schedule"] == {"steps": [0, 3, 10]}
    assert watcher.close() is run  # closing twice is harmless


def test_default_schedules():
    steps, info = probe_schedule(total_steps=1000)
    assert sorted(steps) == probe_steps(1000, 33, 30) and info["every"] == 33
    open_ended, _ = probe_schedule()
    assert all(s in open_ended for s in (0, 1, 2, 10, 13, 100, 1000, 3000, 10**6))
    assert 7777 not in open_ended and 47 not in open_ended
    with pytest.raises(UserError, match="total_steps: -5 is not allowed"):
        probe_schedule(total_steps=-5)


def test_bad_calls_are_user_errors(tmp_path):
    watcher = Watcher(tiny_gpt2(), sequences(4, seed=0)[0], store=tmp_path, name="bad", schedule=[])
    watcher.step(5)
    with pytest.raises(UserError, match="step: 4 is not allowed .* the last was 5"):
        watcher.step(4)
    with pytest.raises(UserError, match="step: 2.5 is not allowed"):
        watcher.step(2.5)
    with pytest.raises(UserError, match=r"loss: a tensor of shape \(2,\) is not allowed"):
        watcher.step(6, loss=torch.zeros(2))
    with pytest.raises(UserError, match="lr: 'fast' is not allowed"):
        watcher.step(6, lr="fast")
    with pytest.raises(UserError, match="model: a str is not allowed"):
        Watcher("gpt2", sequences(4, seed=0)[0], store=tmp_path)
    with pytest.raises(UserError, match="run 'bad' already exists"):
        Watcher(tiny_gpt2(), sequences(4, seed=0)[0], store=tmp_path, name="bad")


def test_an_error_in_training_keeps_what_was_recorded_and_marks_the_run_failed(tmp_path):
    with pytest.raises(ValueError, match="diverged"):
        with Watcher(tiny_gpt2(), sequences(4, seed=0)[0], store=tmp_path, name="crash", schedule=[0]) as watcher:
            for step in range(5):
                watcher.step(step, loss=float(step))
            raise ValueError("diverged")
    run = Run.open(tmp_path, "crash")
    assert run.status == "failed" and "diverged" in run.info["error"]
    assert run.metric("train/loss")[0].tolist() == [0, 1, 2, 3, 4] and run.metric("probe/loss")[0].tolist() == [0]
    assert json.loads((run.path / "run.json").read_text())["status"] == "failed"


def _planted_cliff(steps: int, at: int, seed: int = 0) -> list[float]:
    """A loss that sits at 3.0 and falls to 0.5 around step `at` (a logistic in log-step), with noise."""
    import numpy as np

    rng = np.random.default_rng(seed)
    s = np.arange(steps + 1)
    level = 0.5 + 2.5 / (1 + np.exp((np.log10(s + 1) - np.log10(at + 1)) / 0.03))
    return (level + rng.normal(0, 0.02, s.size)).tolist()


@pytest.mark.parametrize("watch, dated", [(["repeat_loss"], True), (["train/repeat_*"], True), (None, False)])
def test_a_users_own_metric_is_detected_when_watched(tmp_path, watch, dated):
    model, (tokens, _) = tiny_gpt2(), sequences(8, seed=3)
    watcher = Watcher(model, tokens, store=tmp_path, name="w", schedule=[0, 400], watch=watch)
    for step, value in enumerate(_planted_cliff(400, at=120)):
        watcher.step(step, repeat_loss=value)
    events = [e for e in watcher.close().events if e["metric"] == "train/repeat_loss"]
    if dated:
        (cliff,) = [e for e in events if e["kind"] == "loss_cliff"]
        assert cliff["step_low"] <= 120 <= cliff["step_high"] or abs(cliff["step"] - 120) < 15
    else:
        assert events == []  # stored, but nobody asked detection to read it


def test_a_flat_users_metric_gives_no_event_even_when_watched(tmp_path):
    import numpy as np

    model, (tokens, _) = tiny_gpt2(), sequences(8, seed=3)
    watcher = Watcher(model, tokens, store=tmp_path, name="flat", schedule=[0, 400], watch=["repeat_loss"])
    for step, value in enumerate(np.random.default_rng(1).normal(2.0, 0.02, 401)):
        watcher.step(step, repeat_loss=float(value))
    assert [e for e in watcher.close().events if e["metric"] == "train/repeat_loss"] == []


def test_probes_whose_needs_are_unmet_are_logged_or_refused(tmp_path):
    model, (tokens, _) = tiny_gpt2(), sequences(8, seed=3)
    watcher = Watcher(model, tokens, store=tmp_path, name="log", schedule=[0])
    watcher.step(0)
    run = watcher.close()
    assert "probe 'collapse' skipped: it needs labelled probe items" in run.log_lines()
    assert {"induction_score/max", "prev_token_score/L1H0"} <= set(run.metric_names())  # the built-in attention probe
    with pytest.raises(UserError, match="probes: 'collapse' is not allowed here"):
        Watcher(model, tokens, store=tmp_path, name="refused", probes=["collapse"])
    assert not (tmp_path / "refused").exists()  # refused before anything was written
    with pytest.raises(UserError, match="watch: 'repeat_loss' is not allowed"):
        Watcher(model, tokens, store=tmp_path, name="bad-watch", watch="repeat_loss")


def test_the_recorded_probe_values_of_a_planted_classifier_are_their_closed_forms(tmp_path):
    """What the Watcher writes to the store at each probe step (not just what the probes return):
    the closed forms of integration_data.planted_expectations, at steps 0 and 2 (probed twice)."""
    model = PlantedClassifier().plant()
    watcher = Watcher(
        model,
        planted_inputs(),
        labels=PLANTED_LABELS,
        attributes=planted_attributes(),
        sites=["features"],
        store=tmp_path,
        name="planted",
        schedule=[0, 2],
    )
    for step in range(3):
        watcher.step(step, loss=0.0)
    run = watcher.close()
    expected = planted_expectations()
    assert set(expected) <= set(run.metric_names())
    for name, value in expected.items():
        steps, values = run.metric(name)
        assert steps.tolist() == [0, 2] and values.tolist() == pytest.approx([value, value], rel=1e-6), name
    assert torch.equal(run.load_array("gram/features", 2)["gram"], PLANTED_GRAM)
