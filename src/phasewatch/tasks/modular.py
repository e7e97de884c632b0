"""Modular arithmetic `a ∘ b mod p` (Power et al. 2022, "Grokking"; Nanda et al. 2023).

Inputs are the three tokens [a, b, "="] (vocabulary p + 1), the target is c = a ∘ b mod p.
The probe set is every pair. The latent structure is the answer class and the Fourier basis of
the cyclic group the operation lives in: Z_p for + and −, the multiplicative group Z_p^* (order
p − 1, indexed by discrete logarithm) for × and ÷.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from pydantic import Field, field_validator

from phasewatch.tasks.base import Split, Task, TaskConfig

OPERATIONS = ("+", "-", "*", "/")


def is_prime(n: int) -> bool:
    return n >= 2 and all(n % q for q in range(2, int(n**0.5) + 1))


def primitive_root(p: int) -> int:
    """Smallest generator g of Z_p^* (p prime): g^((p−1)/q) ≠ 1 for every prime q dividing p − 1."""
    factors = [q for q in range(2, p) if (p - 1) % q == 0 and is_prime(q)]
    return next(g for g in range(1, p) if all(pow(g, (p - 1) // q, p) != 1 for q in factors))


def answer_table(p: int, operation: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """All valid (a, b) pairs and their answers; ÷ skips b = 0 (b⁻¹ = b^(p−2) by Fermat)."""
    a, b = torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij")
    a, b = a.flatten(), b.flatten()
    if operation == "/":
        keep = b != 0
        a, b = a[keep], b[keep]
    c = {
        "+": lambda: (a + b) % p,
        "-": lambda: (a - b) % p,
        "*": lambda: (a * b) % p,
        "/": lambda: (a * torch.tensor([pow(int(x), p - 2, p) for x in b])) % p,
    }[operation]()
    return a, b, c


def group_index(p: int, operation: str) -> torch.Tensor:
    """Map each residue to its position in the operation's cyclic group, −1 where it has none.

    + and −: the identity on Z_p. × and ÷: the discrete logarithm log_g(x) on Z_p^*; 0 has none.
    """
    if operation in "+-":
        return torch.arange(p)
    g, index = primitive_root(p), torch.full((p,), -1)
    for k in range(p - 1):
        index[pow(g, k, p)] = k
    return index


@dataclass(frozen=True)
class ModularTask(Task):
    """A modular-arithmetic task; `group` maps each answer class to its index in the cyclic group
    (−1 for 0 under × and ÷), `group_order` is that group's order; `train_rows` and `test_rows`
    index the probe set (every pair) in the splits' order."""

    p: int = 0
    operation: str = "+"
    group: torch.Tensor | None = None
    group_order: int = 0
    train_rows: torch.Tensor | None = None
    test_rows: torch.Tensor | None = None

    def probe_rows(self, split: str) -> torch.Tensor | None:
        return {"train": self.train_rows, "test": self.test_rows}.get(split)

    @property
    def in_train(self) -> torch.Tensor:
        """Boolean mask over the probe set: the pair is in the training split."""
        assert self.train_rows is not None  # the builder sets it
        return torch.zeros(len(self.probe), dtype=torch.bool, device=self.train_rows.device).index_fill_(0, self.train_rows, True)


def modular_task(p: int, operation: str, train_fraction: float, seed: int) -> ModularTask:
    """The full table of a ∘ b mod p, split at random (seeded) into train and test."""
    a, b, c = answer_table(p, operation)
    inputs = torch.stack([a, b, torch.full_like(a, p)], dim=1)
    order = torch.randperm(len(c), generator=torch.Generator().manual_seed(seed))
    n_train = max(1, round(train_fraction * len(c)))
    train, test = order[:n_train], order[n_train:]
    return ModularTask(
        name=f"modular({operation}, p={p})",
        vocab_size=p + 1,
        seq_len=3,
        num_classes=p,
        train=Split(inputs[train], c[train]),
        test=Split(inputs[test], c[test]),
        probe=Split(inputs, c),
        p=p,
        operation=operation,
        group=group_index(p, operation),
        group_order=p if operation in "+-" else p - 1,
        train_rows=train,
        test_rows=test,
    )


class ModularTaskConfig(TaskConfig):
    name: Literal["modular"] = "modular"
    p: int = Field(59, ge=3, le=1000, description="a prime")
    operation: Literal[OPERATIONS] = "+"  # type: ignore[valid-type]
    train_fraction: float = Field(0.5, gt=0, lt=1)

    @field_validator("p")
    @classmethod
    def _prime(cls, p: int) -> int:
        if not is_prime(p):
            raise ValueError("must be a prime")
        return p

    builder: ClassVar = staticmethod(modular_task)
