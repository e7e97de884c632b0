"""The Hugging Face Trainer callback: a Trainer run, watched live, and `analyze` over its saved
checkpoint-N/ directories give the same probe values."""

from __future__ import annotations

import pytest
from agreement import assert_agree
from integration_data import sequences, tiny_gpt2

from phasewatch import Run, analyze
from phasewatch.cli import main


def test_trainer_run_and_analyze_over_its_checkpoints_agree(tmp_path, probe_file):
    from transformers import Trainer, TrainingArguments

    from phasewatch.integrations.hf import PhasewatchCallback

    tokens, _ = sequences(256, seed=0)
    args = TrainingArguments(
        str(tmp_path / "out"),
        max_steps=60,
        per_device_train_batch_size=8,
        learning_rate=3e-3,
        save_steps=20,
        logging_steps=10,
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
        seed=0,
    )
    callback = PhasewatchCallback(probe_file, store=tmp_path / "store", name="live", schedule=[0, 5, 20, 40, 60])
    Trainer(
        model=tiny_gpt2(), args=args, train_dataset=[{"input_ids": t, "labels": t} for t in tokens], callbacks=[callback]
    ).train()
    live = Run.open(tmp_path / "store", "live")
    assert live.status == "finished" and live.info["seed"] == 0
    assert live.metric("probe/loss")[0].tolist() == [0, 5, 20, 40, 60]
    assert live.metric("train/loss")[0].tolist() == [10, 20, 30, 40, 50, 60]
    assert "train/learning_rate" in live.metric_names()
    # checkpoint-N/ hold model.safetensors and config.json beside the Trainer's own pickles (not read)
    offline = analyze(tmp_path / "out", probe_file, store=tmp_path / "store")
    assert offline.config["source"]["model"] == "each checkpoint's config.json, via transformers"
    assert_agree(live, offline, [20, 40, 60])


def test_trainer_logs_become_train_and_eval_metrics():
    from phasewatch.integrations.hf import logged_scalars

    logs = {
        "loss": 2.5,
        "learning_rate": 1e-3,
        "grad_norm": 0.7,
        "epoch": 0.4,
        "eval_loss": 2.9,
        "eval_accuracy": 0.5,
        "eval_runtime": 1.2,
        "eval_samples_per_second": 80.0,
        "train_runtime": 30.0,
    }
    assert logged_scalars(logs) == {
        "train/loss": 2.5,
        "train/learning_rate": 1e-3,
        "train/grad_norm": 0.7,
        "eval/loss": 2.9,
        "eval/accuracy": 0.5,
    }


@pytest.mark.slow
def test_a_few_hundred_steps_at_the_default_schedule_then_the_analyze_command(tmp_path, probe_file):
    from transformers import Trainer, TrainingArguments

    from phasewatch.integrations.hf import PhasewatchCallback

    tokens, _ = sequences(2048, seed=0)
    args = TrainingArguments(
        str(tmp_path / "out"),
        max_steps=300,
        per_device_train_batch_size=16,
        learning_rate=3e-3,
        save_steps=50,
        logging_steps=10,
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
        seed=0,
    )
    callback = PhasewatchCallback(probe_file, store=tmp_path / "store", name="live")  # default schedule over 300 steps
    Trainer(
        model=tiny_gpt2(), args=args, train_dataset=[{"input_ids": t, "labels": t} for t in tokens], callbacks=[callback]
    ).train()
    live = Run.open(tmp_path / "store", "live")
    assert set(range(0, 301, 50)) <= set(live.metric("probe/loss")[0].tolist())  # every 10th step is on the schedule
    assert live.metric("probe/loss")[1][-1] < live.metric("probe/loss")[1][0] - 1  # it learned something
    assert main(["--store", str(tmp_path / "store"), "analyze", str(tmp_path / "out"), "--probe-data", probe_file]) == 0
    assert_agree(live, Run.open(tmp_path / "store", "analyze-out"), list(range(50, 301, 50)))
