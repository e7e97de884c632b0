"""A Lightning `Callback` that watches a `Trainer.fit` with a `Watcher`.

    trainer = L.Trainer(max_steps=1000, callbacks=[PhasewatchCallback("probes.jsonl", module="model")])

Step S is `trainer.global_step`: the parameters after S optimizer steps. `module` names the
submodule to watch (e.g. the `nn.Module` your LightningModule wraps as `self.model`), so that
site and parameter names match a checkpoint of that module; default: the LightningModule itself.
The loss your `training_step` returns is recorded as `train/loss`. Only global rank 0 records.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

try:
    from lightning.pytorch import Callback
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError("phasewatch.integrations.lightning needs lightning: pip install 'phasewatch[lightning]'") from error

from phasewatch.errors import UserError
from phasewatch.integrations.watcher import Watcher


class PhasewatchCallback(Callback):
    """`PhasewatchCallback(probe_inputs, module=None, **watcher_options)`: the options of
    `Watcher`; `total_steps` defaults to the trainer's max_steps (or its estimate from epochs)."""

    def __init__(self, probe_inputs, *, module: str | None = None, **watcher_options):
        self.probe_inputs = probe_inputs
        self.module = module
        self.options = watcher_options
        self.watcher: Watcher | None = None

    def on_train_start(self, trainer, pl_module) -> None:
        if not trainer.is_global_zero:
            return
        try:
            model = pl_module.get_submodule(self.module) if self.module else pl_module
        except AttributeError:
            raise UserError(
                f"module: {self.module!r} is not allowed (a submodule of {type(pl_module).__name__}, e.g. 'model' for self.model)"
            ) from None
        total = trainer.max_steps if trainer.max_steps > 0 else trainer.estimated_stepping_batches
        options = {"total_steps": int(total) if total != float("inf") else None, **self.options}
        self.watcher = Watcher(model, self.probe_inputs, **options)
        self.watcher.step(trainer.global_step)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        # With gradient accumulation the step stays put until the optimizer steps: record once.
        if self.watcher is None or trainer.global_step == self.watcher.last_step:
            return
        loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
        self.watcher.step(trainer.global_step, loss=loss if isinstance(loss, torch.Tensor) else None)

    def on_train_end(self, trainer, pl_module) -> None:
        if self.watcher is not None:
            self.watcher.close()

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        if self.watcher is not None:
            self.watcher.fail(exception)
