"""Tiny data and models for the integration tests: generated token sequences with classes and
attributes, and tiny Hugging Face decoders built from configs (nothing is downloaded)."""

from __future__ import annotations

import json

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
