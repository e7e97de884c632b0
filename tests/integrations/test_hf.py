"""The Hugging Face Trainer callback: a Trainer run, watched live, and `analyze` over its saved
checkpoint-N/ directories give the same probe values."""
from __future__ import annotations

from agreement import assert_agree
from integration_data import sequences, tiny_gpt2

from phasewatch import Run, analyze


def test_trainer_run_and_analyze_over_its_checkpoints_agree(tmp_path, probe_file):
    from transformers import Trainer, TrainingArguments

    from phasewatch.integrations.hf import PhasewatchCallback

    tokens, _ = sequences(256, seed=0)
    args = TrainingArguments(str(tmp_path / "out"), max_steps=60, per_device_train_batch_size=8, learning_rate=3e-3,
                             save_steps=20, logging_steps=10, report_to=[], use_cpu=True, disable_tqdm=True, seed=0)
    callback = PhasewatchCallback(probe_file, store=tmp_path / "store", name="live", schedule=[0, 5, 20, 40, 60])
    Trainer(model=tiny_gpt2(), args=args, train_dataset=[{"input_ids": t, "labels": t} for t in tokens],
            callbacks=[callback]).train()
    live = Run.open(tmp_path / "store", "live")
    assert live.status == "finished" and live.info["seed"] == 0
    assert live.metric("probe/loss")[0].tolist() == [0, 5, 20, 40, 60]
    assert live.metric("train/loss")[0].tolist() == [10, 20, 30, 40, 50, 60]
    assert "train/learning_rate" in live.metric_names()
    # checkpoint-N/ hold model.safetensors and config.json beside the Trainer's own pickles (not read)
    offline = analyze(tmp_path / "out", probe_file, store=tmp_path / "store")
    assert offline.config["source"]["model"].startswith("config.json")
    assert_agree(live, offline, [20, 40, 60])
