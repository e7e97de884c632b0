"""Tiny data and models for the integration tests: generated token sequences with classes and
attributes, and tiny Hugging Face decoders built from configs (nothing is downloaded)."""

from __future__ import annotations

import json
import math

import torch

VOCAB, LENGTH, CLASSES = 64, 12, 4


def sequences(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(tokens (n, LENGTH), classes (n,)): class c walks the vocabulary in strides of c + 1 from a
    random start, with 10 % noise tokens, behind a first token that names the class."""
    g = torch.Generator().manual_seed(seed)
    classes = torch.randint(0, CLASSES, (n,), generator=g)
    start = torch.randint(0, VOCAB, (n,), generator=g)
    walk = start[:, None] + (classes + 1)[:, None] * torch.arange(LENGTH - 1)
    noise = torch.randint(0, VOCAB, (n, LENGTH - 1), generator=g)
    body = torch.where(torch.rand(n, LENGTH - 1, generator=g) < 0.1, noise, walk) % (VOCAB - CLASSES) + CLASSES
    return torch.cat([classes[:, None], body], dim=1), classes


def attributes_of(classes: torch.Tensor) -> torch.Tensor:
    """Two binary latent factors per class (c // 2, c % 2), one-hot: A is (n, 4)."""
    return torch.cat([torch.nn.functional.one_hot(classes // 2, 2), torch.nn.functional.one_hot(classes % 2, 2)], 1).double()


def write_jsonl(path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


def gpt2_config(**overrides):
    from transformers import GPT2Config

    settings = dict(vocab_size=VOCAB, n_positions=LENGTH, n_embd=32, n_layer=2, n_head=2, bos_token_id=0, eos_token_id=0)
    return GPT2Config(**{**settings, **overrides})


def tiny_gpt2(seed: int = 0, **overrides):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(gpt2_config(**overrides))


# ---- a plain PyTorch model (phasewatch's own transformer, `blocks.N`) on (a + b) mod 7 --------------

P = 7
FACTORY_SOURCE = f"""
from phasewatch.models import Transformer


def build():
    return Transformer(vocab_size={P + 1}, seq_len=3, num_classes={P}, d_model=16, n_layers=2, n_heads=2, d_head=8, d_mlp=32)
"""


def modular_rows() -> list[dict]:
    """Every (a, b) as `a b =` with label (a + b) mod 7 and attributes one-hot(a) ++ one-hot(b)."""

    def one_hot(x: int) -> list[float]:
        return [float(i == x) for i in range(P)]

    return [
        {"tokens": [a, b, P], "label": (a + b) % P, "attributes": one_hot(a) + one_hot(b)} for a in range(P) for b in range(P)
    ]


def write_factory(directory) -> str:
    """tiny_factory.py in `directory` (put it on sys.path); returns "tiny_factory:build"."""
    (directory / "tiny_factory.py").write_text(FACTORY_SOURCE)
    return "tiny_factory:build"


def build_modular_model(seed: int = 0):
    from phasewatch.models import Transformer

    torch.manual_seed(seed)
    return Transformer(vocab_size=P + 1, seq_len=3, num_classes=P, d_model=16, n_layers=2, n_heads=2, d_head=8, d_mlp=32)


def save_state(model, path) -> None:
    from safetensors.torch import save_model

    path.parent.mkdir(parents=True, exist_ok=True)
    save_model(model, str(path))  # handles tied tensors, unlike save_file


# ---- a classifier whose features are planted, with closed-form probe values ---------------------------
#
# 4 classes × 4 items in R³. Class means ±A e₁ (classes 0, 1) and ±B e₂ (classes 2, 3); each class
# has the items μ_c ± DELTA d_c (d_c its own axis) and μ_c ± EPS e₃. The head reads logits
# (x, −x, y, −y) from a feature (x, y, z). Attributes: (axis, sign) one-hot.

A, B, DELTA, EPS = 2.0, 1.0, 0.5, 1.0
PLANTED_LABELS = torch.arange(4).repeat_interleave(4)


def planted_features() -> torch.Tensor:
    means = torch.tensor([[A, 0, 0], [-A, 0, 0], [0, B, 0], [0, -B, 0]])
    axes = torch.tensor([[1.0, 0, 0], [1.0, 0, 0], [0, 1.0, 0], [0, 1.0, 0]])
    e3 = torch.tensor([0, 0, 1.0])
    return torch.cat([torch.stack([m + DELTA * d, m - DELTA * d, m + EPS * e3, m - EPS * e3]) for m, d in zip(means, axes)])


def planted_attributes() -> torch.Tensor:
    axis, sign = PLANTED_LABELS // 2, PLANTED_LABELS % 2
    return torch.cat([torch.nn.functional.one_hot(axis, 2), torch.nn.functional.one_hot(sign, 2)], 1).float()


class PlantedClassifier(torch.nn.Module):
    """Item i (its first input token) → feature row i (module `features`) → logits. Built with
    random weights; `plant()` sets the planted ones (a checkpoint carries them in)."""

    def __init__(self):
        super().__init__()
        self.features = torch.nn.Embedding(16, 3)
        self.head = torch.nn.Linear(3, 4, bias=False)

    def plant(self) -> PlantedClassifier:
        with torch.no_grad():
            self.features.weight.copy_(planted_features())
            self.head.weight.copy_(torch.tensor([[1.0, 0, 0], [-1.0, 0, 0], [0, 1.0, 0], [0, -1.0, 0]]))
        return self

    def forward(self, x):
        return self.head(self.features(x[:, 0]))


def planted_inputs() -> torch.Tensor:
    return torch.stack([torch.arange(16), torch.zeros(16, dtype=torch.long)], dim=1)


def planted_rows() -> list[dict]:
    return [
        {"tokens": t, "label": c, "attributes": a}
        for t, c, a in zip(planted_inputs().tolist(), PLANTED_LABELS.tolist(), planted_attributes().tolist())
    ]


def planted_expectations() -> dict[str, float]:
    """What the probes must record for the planted classifier, from closed forms and numpy alone.

    - effective rank of the centred features (their mean is 0): the columns are orthogonal, with
      squared norms 8A² + 4δ², 8B² + 4δ², 8ε²: exp(entropy of the normalised singular values);
    - ETF distance of the means ±A e₁, ±B e₂: Gram G with tr G = 2(A² + B²), ‖G‖_F = 2√(A⁴ + B⁴),
      E = I − 11ᵀ/4 (‖E‖_F = √3, ⟨G, E⟩ = tr G): √(2 − 2 tr G/(‖G‖_F √3));
    - NC1: Σ_W = (δ²/4)(e₁e₁ᵀ + e₂e₂ᵀ) + (ε²/2) e₃e₃ᵀ, Σ_B = (A²/2) e₁e₁ᵀ + (B²/2) e₂e₂ᵀ, so
      (1/4) tr(Σ_W Σ_B⁺) = δ²(1/A² + 1/B²)/8 (the ε spread lies outside Σ_B's range);
    - probe/loss: the mean of logsumexp(z) − z_y over the items, in numpy;
    - semantic alignment/correlation: numpy's least-squares line and Pearson r of the centred
      cosines on K = A Aᵀ over the pairs;
    - weight norms: ‖features‖² = Σ of the column norms² above, ‖head‖² = 4.
    """
    import numpy as np

    h, y = planted_features().double().numpy(), PLANTED_LABELS.numpy()
    sigma = np.sqrt([8 * A**2 + 4 * DELTA**2, 8 * B**2 + 4 * DELTA**2, 8 * EPS**2])
    p = sigma / sigma.sum()
    tr_g, norm_g = 2 * (A**2 + B**2), 2 * math.sqrt(A**4 + B**4)
    logits = np.stack([h[:, 0], -h[:, 0], h[:, 1], -h[:, 1]], axis=1)
    peak = logits.max(1)
    losses = peak + np.log(np.exp(logits - peak[:, None]).sum(1)) - logits[np.arange(16), y]
    attributes = planted_attributes().double().numpy()
    kernel = attributes @ attributes.T
    centred = h - h.mean(0)
    unit = centred / np.linalg.norm(centred, axis=1, keepdims=True)
    i, j = np.triu_indices(16, 1)
    k, cos = kernel[i, j], (unit @ unit.T)[i, j]
    square = 8 * A**2 + 4 * DELTA**2 + 8 * B**2 + 4 * DELTA**2 + 8 * EPS**2
    return {
        "effective_rank/features": float(np.exp(-(p * np.log(p)).sum())),
        "etf_distance/features": math.sqrt(2 - 2 * tr_g / (norm_g * math.sqrt(3))),
        "nc1/features": DELTA**2 * (1 / A**2 + 1 / B**2) / 8,
        "probe/loss": float(losses.mean()),
        "semantic_alignment/features": float(np.polyfit(k, cos, 1)[0]),
        "semantic_correlation/features": float(np.corrcoef(k, cos)[0, 1]),
        "weight_norm/features.weight": math.sqrt(square),
        "weight_norm/head.weight": 2.0,
        "weight_norm/total": math.sqrt(square + 4),
    }


PLANTED_GRAM = torch.tensor([[1.0, -1, 0, 0], [-1, 1, 0, 0], [0, 0, 1, -1], [0, 0, -1, 1]])  # cosines of ±A e₁, ±B e₂
