"""Acting on training from what the probes see: keeping the semantic structure that one-hot
training forms and then collapses (docs/science/structure_before_collapse.md, "Keeping the
structure").

- `Objective` — the training loss, changed by two levers:
  a structure penalty μ·max(0, target − b)², b the semantic alignment of the batch's class-mean
  features (differentiable: `geometry.alignment_slope`), and attribute smoothing: targets
  q = (1 − ε)·onehot(y) + ε·K̃_y, K̃ the attribute kernel with its diagonal zeroed and rows
  normalised (label smoothing toward items that share attributes; Szegedy et al. 2016's label
  smoothing with a semantic prior).
- `KeepPeak` — keep the model state at the peak of a metric, decided live from the probes with
  `analysis.PeakTracker` (only values seen so far), and optionally stop there.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from phasewatch.analysis.peak import PeakTracker
from phasewatch.config import ExperimentConfig, InterventionConfig
from phasewatch.errors import UserError
from phasewatch.probes import emits, geometry
from phasewatch.probes.training import KEEP_PEAK, KEEP_PEAK_STATE
from phasewatch.tasks.base import Task
from phasewatch.tasks.objective import Loss


def check_levers(config: ExperimentConfig, task: Task) -> None:
    """UserError unless the configured levers suit the task (they need attributes on the classes)."""
    settings = config.interventions
    if (settings.structure_penalty > 0 or settings.attribute_smoothing > 0) and (
        task.attributes is None or task.items is not None or task.sequence_targets
    ):
        lever = "structure_penalty" if settings.structure_penalty > 0 else "attribute_smoothing"
        raise UserError(
            f"interventions.{lever}: needs a classification task whose classes carry attributes (task {task.name!r} has none)"
        )
    if settings.attribute_smoothing > 0 and config.train.loss != "cross_entropy":
        raise UserError(f"interventions.attribute_smoothing: needs train.loss = 'cross_entropy', not {config.train.loss!r}")


class Objective:
    """loss(inputs, targets) → (loss, logits): the task's loss plus any configured lever."""

    def __init__(self, config: ExperimentConfig, task: Task, model: torch.nn.Module, loss_of: Loss):
        settings = config.interventions
        self.model, self.loss_of = model, loss_of
        self.penalty, self.target = settings.structure_penalty, settings.structure_target
        self.smoothing = settings.attribute_smoothing
        check_levers(config, task)
        self.kernel = task.attribute_kernel()
        if self.kernel is not None and self.smoothing > 0:
            shared = self.kernel.float().fill_diagonal_(0)
            self.soft = shared / shared.sum(1, keepdim=True).clamp(min=1)

    def __call__(self, inputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.penalty == 0:
            logits = self.model(inputs)
            return self._loss(logits, targets), logits
        site = self.model.feature_site
        logits, cache = self.model.run_with_cache(inputs, names=[site], keep_grad=True)  # type: ignore[operator]  # torch: Tensor | Module
        return self._loss(logits, targets) + self.penalty * self._shortfall(cache[site], targets), logits

    def _loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if self.smoothing == 0:
            return self.loss_of(logits, targets)
        hard = F.one_hot(targets, logits.shape[-1]).to(logits.dtype)
        soft = (1 - self.smoothing) * hard + self.smoothing * self.soft[targets].to(logits.dtype)
        return -(soft * logits.log_softmax(-1)).sum(-1).mean()

    def _shortfall(self, features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """max(0, target − b)² for the class means of the batch's features."""
        assert self.kernel is not None  # check_levers: the penalty needs attributes
        present = torch.unique(targets)
        means = torch.zeros(len(self.kernel), features.shape[-1], dtype=features.dtype, device=features.device)
        means = means.index_add(0, targets, features) / torch.bincount(targets, minlength=len(self.kernel)).clamp(min=1)[:, None]
        kernel = self.kernel[present][:, present]
        return (self.target - geometry.alignment_slope(means[present], kernel)).clamp(min=0).square()


class KeepPeak:
    """A listener (record.Listener): saves the model's tensors as a checkpoint tagged `keep_peak`
    at each new peak of `metric` and records `keep_peak/step` and `keep_peak/value` once the tracker says the
    peak is past."""

    @staticmethod
    def check(settings: InterventionConfig, probes: list[str]) -> None:
        """UserError, before any run exists, unless one of the `probes` records the metric."""
        if settings.keep_peak and not emits(probes, settings.keep_peak):
            raise UserError(
                f"interventions.keep_peak: {settings.keep_peak!r} is not recorded by the probes ({', '.join(probes)})"
            )

    def __init__(self, settings: InterventionConfig, run, start: int):
        self.metric, self.stop, self.run = settings.keep_peak, settings.stop_at_peak, run
        self.tracker = PeakTracker(patience=settings.patience)
        self.decided = False
        if self.metric in run.metric_names():  # a resumed run replays what it had seen
            for step, value in zip(*run.metric(self.metric)):
                if step >= start or self.decided:  # live, nothing is fed after the decision either
                    break
                self.decided = self.tracker.update(int(step), float(value)) == "past_peak"

    def observe(self, step: int, scalars: dict[str, float], recorder) -> bool:
        """Feed one probe step; True when training should stop here."""
        if self.metric not in scalars:
            raise UserError(
                f"interventions.keep_peak: {self.metric!r} is not recorded by the probes (recorded: {', '.join(sorted(scalars))})"
            )
        if not self.decided:
            state = self.tracker.update(step, scalars[self.metric])
            if state == "new_peak":
                model = recorder.context.model
                self.run.save_checkpoint(
                    step,
                    {k: t.detach().cpu() for k, t in model.state_dict().items()},
                    {"step": step, self.metric: scalars[self.metric]},
                    tag=KEEP_PEAK_STATE,
                )
            elif state == "past_peak":
                assert self.tracker.peak_step is not None and self.tracker.peak_value is not None  # a peak is past
                self.decided = True
                recorder.log(
                    step,
                    {KEEP_PEAK.at("step"): float(self.tracker.peak_step), KEEP_PEAK.at("value"): float(self.tracker.peak_value)},
                )
        return self.decided and self.stop
