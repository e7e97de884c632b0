"""What every task provides: data, a probe set, and the latent structure probes compare against."""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch


@dataclass(frozen=True)
class Split:
    """A labelled set of inputs: `inputs` (N, T) token ids, `targets` (N,) class ids."""

    inputs: torch.Tensor
    targets: torch.Tensor

    def __len__(self) -> int:
        return len(self.targets)

    def to(self, device: torch.device | str) -> "Split":
        return Split(self.inputs.to(device), self.targets.to(device))


@dataclass(frozen=True)
class Task:
    """A task: train/test splits, the probe set, and its known latent structure.

    `attributes` is the (num_classes × num_attribute_values) one-hot attribute matrix (or None);
    its kernel A Aᵀ is the reference geometry for structure probes.
    """

    name: str
    vocab_size: int
    seq_len: int
    num_classes: int
    train: Split
    test: Split
    probe: Split
    attributes: torch.Tensor | None = None

    def probe_rows(self, split: str) -> torch.Tensor | None:
        """Where `split`'s rows sit in the probe set, in the split's order (None: not inside it).
        Lets probes reuse one forward pass over the probe set."""
        return None

    def to(self, device: torch.device | str) -> "Task":
        """The same task with every tensor field on `device`."""
        moved = {f.name: getattr(self, f.name) for f in fields(self)}
        moved = {k: v.to(device) for k, v in moved.items() if isinstance(v, (torch.Tensor, Split))}
        return replace(self, **moved)

    def attribute_kernel(self) -> torch.Tensor | None:
        return None if self.attributes is None else self.attributes @ self.attributes.T
