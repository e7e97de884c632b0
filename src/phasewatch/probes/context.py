"""What a probe reads: a model (through its `ModelView`) and the items to probe it on.

One `ProbeContext`, built either from a `Task` (a built-in run: train/test/probe splits and the
task's latent structure) or from `ProbeData` (a watched model or a checkpoint series: the user's
probe items, with labels and attributes when given). Probes declare what they need
(`registry.Needs`); the context answers `has_labels`, `has_attributes` and `view.can(...)`.

Forward passes are shared: `forward(split)` runs the model once per split and probe step,
capturing the activations the active probes asked for; `probe_pass()` runs the user's probe set
once, in batches, keeping each site's representation and each item's loss; `representations()`
gives either source's per-item vectors at every block site, for probes that work on both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from phasewatch.errors import UserError
from phasewatch.models.hooks import capture, representation, untouched
from phasewatch.models.interface import HookedView, ModelView, ModuleView, logits_of
from phasewatch.tasks.base import Split, Task


@dataclass(frozen=True)
class ProbePass:
    """One pass over the user's probe set: `losses` (N, T − 1) next-token losses for a causal LM,
    (N, 1) class losses for a labelled classifier, or None; `features[site]` (N, d) the site's
    representation of each item (`models.hooks.representation`)."""

    losses: torch.Tensor | None
    features: dict[str, torch.Tensor]


class ProbeContext:
    def __init__(
        self,
        model: nn.Module,
        view: ModelView,
        *,
        task: Task | None = None,
        data=None,
        loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
        batch_size: int = 64,
    ):
        self.model, self.view, self.task, self.data, self.loss = model, view, task, data, loss
        self.batch_size = batch_size
        self.final: ProbeContext | None = None  # the finished model's context, for `at_end` probes
        self.rank: int | None = None  # the step's position in the probe schedule (None: a step off it)
        self.options: dict[str, Any] = {}  # probe name → its settings (e.g. "llc" → probes.llc.LLCConfig)
        self.sites: list[str] = []
        self._outputs: dict[str, tuple[torch.Tensor, dict[str, torch.Tensor]]] = {}
        self._pass: ProbePass | None = None

    @classmethod
    def of_task(cls, model: nn.Module, task: Task, loss: Callable | None = None) -> ProbeContext:
        """A built-in run's context: `model` a phasewatch model (or anything with `run_with_cache`)."""
        return cls(model, HookedView(model), task=task, loss=loss)

    @classmethod
    def of_data(cls, model: nn.Module, data, sites: list[str] | None = None, batch_size: int = 64) -> ProbeContext:
        """A watched model's context: `data` a `ProbeData`, `sites` module names (default: its blocks)."""
        return cls(model, ModuleView(model, sites), data=data, batch_size=batch_size)

    # ---- what the context offers ---------------------------------------------------------------

    @property
    def has_labels(self) -> bool:
        return self.task is not None or (self.data is not None and self.data.labels is not None)

    @property
    def has_attributes(self) -> bool:
        source = self.task if self.task is not None else self.data
        return source is not None and source.attributes is not None

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters(), torch.empty(0)).device

    def token_shape(self) -> tuple[int, int]:
        """(vocabulary, sequence length) for probes that make their own token sequences."""
        if self.task is not None:
            return self.task.vocab_size, self.task.seq_len
        return self.view.vocab_size() or 0, self.data.inputs.shape[1]

    def check_fits(self) -> None:
        """A watched model can read the probe set: token ids within its vocabulary (when its first
        nn.Embedding, the token embedding in every decoder we know, or its config says so), items
        within its context, and a forward pass of the first batch succeeds and runs every site.
        UserError otherwise."""
        model, data, sites = self.model, self.data, self.view.block_sites()
        if not data.inputs.is_floating_point():
            vocab = self.view.vocab_size()
            largest = int(data.inputs.max())
            if vocab is not None and largest >= vocab:
                raise UserError(f"probe data: token id {largest} is not allowed (ids below the model's vocabulary size, {vocab})")
            context = getattr(getattr(model, "config", None), "max_position_embeddings", None)
            if isinstance(context, int) and data.inputs.dim() == 2 and data.inputs.shape[1] > context:
                raise UserError(
                    f"probe data: {data.inputs.shape[1]} tokens per item is not allowed (at most the model's context, {context})"
                )
        try:
            with untouched(model), capture(model, sites) as cache:
                model(data.inputs[: self.batch_size].to(self.device))
        except (IndexError, RuntimeError, ValueError, TypeError) as error:
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:100]
            raise UserError(
                f"probe data: inputs of shape {tuple(data.inputs.shape)} are not allowed (what the model "
                f"takes: ids below its vocabulary size, items within its context; it said: {reason})"
            ) from None
        if missing := [site for site in sites if site not in cache]:
            raise UserError(
                f"sites: {missing[0]!r} is not allowed (it did not run in the model's forward; watch a module the forward calls)"
            )

    def reset(self, sites: list[str]) -> None:
        """Start a probe step: forget cached passes; capture `sites` in the next ones."""
        self.sites = sites
        self._outputs.clear()
        self._pass = None

    # ---- shared forward passes -----------------------------------------------------------------

    def forward(self, split: str) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """A task's logits on `train`, `test` or `probe`, and the cached activations; computed once."""
        if split not in self._outputs:
            task = self.task
            assert task is not None, "forward(split) reads a task's splits (a built-in run's context)"
            if split != "probe" and getattr(task, split) is task.probe:
                self._outputs[split] = self.forward("probe")  # the same data: the same forward, no copy
            elif (rows := task.probe_rows(split)) is not None:  # the split lies inside the probe set: slice, don't recompute
                logits, cache = self.forward("probe")
                self._outputs[split] = logits[rows], {name: value[rows] for name, value in cache.items()}
            else:
                data: Split = getattr(task, split)
                output, activations = self.view.run_with_cache(data.inputs, self.sites)
                assert output is not None, "a built-in task's model returns logits"
                self._outputs[split] = output, activations
        return self._outputs[split]

    def representations(self) -> dict[str, torch.Tensor]:
        """Each block site's (N, d) representation of the probe items (`models.hooks.representation`:
        the output at the last position), from a task's probe split or the user's probe set. A probe
        that reads them lists `ctx.view.block_sites()` as its sites."""
        if self.task is None:
            return self.probe_pass().features
        _, cache = self.forward("probe")
        return {site: representation(cache[site]) for site in self.view.block_sites()}

    def probe_pass(self) -> ProbePass:
        """The user's probe set through the model in batches of `batch_size`, with hooks on every
        block site; computed once per probe step."""
        if self._pass is None:
            data, sites = self.data, self.view.block_sites()
            features: dict[str, list[torch.Tensor]] = {site: [] for site in sites}
            losses: list[torch.Tensor] = []
            with capture(self.model, sites, transform=representation) as cache:
                for start in range(0, len(data), self.batch_size):
                    inputs = data.inputs[start : start + self.batch_size].to(self.device)
                    labels = None if data.labels is None else data.labels[start : start + self.batch_size].to(self.device)
                    item_losses = _item_losses(logits_of(self.model(inputs)), inputs, labels)
                    if item_losses is not None:
                        losses.append(item_losses)
                    for site in sites:
                        features[site].append(cache.pop(site))
            self._pass = ProbePass(
                torch.cat(losses) if losses else None, {site: torch.cat(values) for site, values in features.items()}
            )
        return self._pass


def _item_losses(logits: torch.Tensor | None, inputs: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor | None:
    """Per-item cross-entropy in float64: (B, T − 1) next-token losses for a causal LM, (B, 1)
    class losses for a classifier with labels, None when the output is neither."""
    if logits is None or inputs.is_floating_point():
        lm = False
    else:
        lm = logits.dim() == 3 and inputs.dim() == 2 and logits.shape[:2] == inputs.shape
    if lm and logits is not None:
        predictions = logits[:, :-1].double()
        return F.cross_entropy(predictions.flatten(0, 1), inputs[:, 1:].flatten(), reduction="none").view(len(inputs), -1)
    if logits is not None and labels is not None and logits.dim() == 2 and logits.shape[1] > int(labels.max()):
        return F.cross_entropy(logits.double(), labels, reduction="none")[:, None]
    return None
