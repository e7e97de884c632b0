"""A Hugging Face `TrainerCallback` that watches a `Trainer` run with a `Watcher`.

    trainer = Trainer(model, args, train_dataset=...,
                      callbacks=[PhasewatchCallback("probes.jsonl", store="runs", name="my-gpt")])

Step S is `state.global_step`: the parameters after S optimizer updates, the same step as the
Trainer's `checkpoint-S/`, so `phasewatch analyze` over the saved checkpoints reproduces the live
probe values. The Trainer's logs become `train/loss`, `train/learning_rate`, `train/grad_norm`
and, from evaluations, `eval/<name>`. Only the main process records.
"""

from __future__ import annotations

import numbers

try:
    from transformers import TrainerCallback
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError("phasewatch.integrations.hf needs transformers: pip install 'phasewatch[hf]'") from error

from phasewatch.integrations.watcher import Watcher

TRAIN_LOGS = ("loss", "learning_rate", "grad_norm")


def logged_scalars(logs: dict) -> dict[str, float]:
    """The Trainer's log entries phasewatch keeps, under phasewatch names: the training loss,
    learning rate and gradient norm, and evaluation metrics (not evaluation timings)."""
    scalars = {f"train/{key}": logs[key] for key in TRAIN_LOGS if key in logs}
    scalars.update(
        {
            f"eval/{key.removeprefix('eval_')}": value
            for key, value in logs.items()
            if key.startswith("eval_")
            and not key.endswith(("_runtime", "_per_second"))
            and isinstance(value, numbers.Real)
            and not isinstance(value, bool)
        }
    )
    return scalars


class PhasewatchCallback(TrainerCallback):
    """`PhasewatchCallback(probe_inputs, **watcher_options)`: the options of `Watcher` (store,
    name, probes, sites, schedule, ...); `total_steps` defaults to the Trainer's max_steps."""

    def __init__(self, probe_inputs, **watcher_options) -> None:
        self.probe_inputs = probe_inputs
        self.options = watcher_options
        self.watcher: Watcher | None = None

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if state.is_world_process_zero:
            options = {"total_steps": state.max_steps, "seed": args.seed, **self.options}
            self.watcher = Watcher(model, self.probe_inputs, **options)
            self.watcher.step(state.global_step)

    def on_step_end(self, args, state, control, **kwargs):
        if self.watcher is not None:
            self.watcher.step(state.global_step)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.watcher is not None and not self.watcher.closed and logs:
            self.watcher.record(state.global_step, **logged_scalars(logs))

    def on_train_end(self, args, state, control, **kwargs):
        if self.watcher is not None:
            self.watcher.close()
