"""What every task provides: data, a probe set, and the latent structure probes compare against."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar, TypeVar

import torch

from phasewatch.schema import Kind


@dataclass(frozen=True)
class Split:
    """A labelled set of inputs: `inputs` (N, T) token ids or (N, D) real vectors; `targets` (N,)
    class ids (predicted at the last position), or (N, T) next-token ids with −100 = not scored."""

    inputs: torch.Tensor
    targets: torch.Tensor

    def __len__(self) -> int:
        return len(self.targets)

    def to(self, device: torch.device | str) -> Split:
        return Split(self.inputs.to(device), self.targets.to(device))


TaskT = TypeVar("TaskT", bound="Task")


@dataclass(frozen=True)
class Task:
    """A task: train/test splits, the probe set, and its known latent structure.

    The latent structure: `attributes` is the (items × attribute values) one-hot matrix (or None);
    its kernel A Aᵀ is the reference geometry for structure probes. `items` are the class ids
    the attribute rows describe (None: every class, in order). `probe_labels` gives each probe
    row's item index (−1: none) and `probe_positions` the position whose representation is its
    feature (None: the targets of the probe split, at the last position).

    `stream`, for generated tasks with unlimited data: `stream(generator, batch_size, stage)` →
    a fresh training batch on the CPU, drawn from the generator alone (the loop seeds it from the
    run's seed and the step, so a resumed run sees the same batches); `stage` is the curriculum
    stage (0: the easy data, 1: the full distribution; runs without a curriculum use 1). `train`
    is then a fixed sample of the stream. `bytes_per_token`: for text, the held-out split's bytes
    per scored target (0: not text), so the behaviour probe can report bits per byte.
    """

    name: str
    vocab_size: int
    seq_len: int
    num_classes: int
    train: Split
    test: Split
    probe: Split
    attributes: torch.Tensor | None = None
    items: torch.Tensor | None = None
    probe_labels: torch.Tensor | None = None
    probe_positions: torch.Tensor | None = None
    item_dims: int = 0  # leading input coordinates that name the item (a model's per-item pathway reads them)
    stream: Callable[[torch.Generator, int, int], Split] | None = None
    factors: tuple[tuple[str, int], ...] = ()  # (name, size) of each one-hot block of `attributes`, in order
    bytes_per_token: float = 0.0

    def probe_rows(self, split: str) -> torch.Tensor | None:
        """Where `split`'s rows sit in the probe set, in the split's order (None: not inside it).
        Lets probes reuse one forward pass over the probe set. Here: every row, when the split is
        the probe set itself (e.g. `test` = `probe`); a task whose splits are slices of the probe
        set says where they lie."""
        if split != "probe" and getattr(self, split) is self.probe:
            return torch.arange(len(self.probe), device=self.probe.targets.device)
        return None

    def to(self: TaskT, device: torch.device | str) -> TaskT:
        """The same task with every tensor field on `device`; fields that were one object stay one
        (so a split that is the probe set still is)."""
        moved: dict[int, torch.Tensor | Split] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, (torch.Tensor, Split)) and id(value) not in moved:
                moved[id(value)] = value.to(device)
        changes: dict[str, Any] = {
            f.name: moved[id(getattr(self, f.name))] for f in fields(self) if id(getattr(self, f.name)) in moved
        }
        return replace(self, **changes)

    def attribute_kernel(self) -> torch.Tensor | None:
        """K = A Aᵀ: how many attribute values two items share."""
        return None if self.attributes is None else self.attributes @ self.attributes.T

    @property
    def item_ids(self) -> torch.Tensor:
        """The class ids the attribute rows describe."""
        return self.items if self.items is not None else torch.arange(self.num_classes, device=self.probe.targets.device)

    @property
    def item_labels(self) -> torch.Tensor:
        """Each probe row's item index (−1 where the row is about no attributed item)."""
        return self.probe_labels if self.probe_labels is not None else self.probe.targets

    @property
    def sequence_targets(self) -> bool:
        """True for language modelling (a target at every position)."""
        return self.train.targets.dim() == 2


class TaskConfig(Kind):
    """A task's config section; each task module defines one beside its builder. `builder(**fields,
    seed=...)` makes the task (without `seed` when `seeded` is False: the fields fix it)."""

    kinds: ClassVar[dict[str, type[Kind]]] = {}
    name: str
    builder: ClassVar[Any]
    seeded: ClassVar[bool] = True

    def build(self, seed: int) -> Task:
        settings = self.model_dump(exclude={"name"})
        if "factor_sizes" in settings:
            settings["factor_sizes"] = tuple(settings["factor_sizes"])
        return self.builder(**settings, seed=seed) if self.seeded else self.builder(**settings)
