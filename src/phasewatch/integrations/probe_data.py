"""The probe set of a watched model: fixed inputs, optionally with labels and attributes.

File formats (`load_probe_data`):

- **JSONL** (`.jsonl`), one item per line:
  ``{"tokens": [12, 7, 33, 4], "label": 2, "attributes": [1, 0, 0, 1]}``
  `tokens`: token ids (ints >= 0), the same number on every line (at least 2); the key may also
  be `input_ids` (a Hugging Face dataset's column name), but one of the two on every line, not both;
  `label` (optional): a class id (int >= 0) — enables the class-mean Gram, ETF distance and NC1;
  `attributes` (optional): a list of numbers, the item's row of the attribute matrix A (e.g.
  one-hot per latent factor) — enables semantic alignment/correlation against K = A Aᵀ.
  Give `label` on every line or on none; the same for `attributes`.
- **Text** (any other suffix), one item per non-empty line. Needs a local tokenizer directory
  (`tokenizer=`); every item is cut to the length of the shortest line, so that the items stack
  into one (N, T) batch. No labels or attributes.

In Python, the probe set can also be a tensor of inputs (token ids, or real vectors for a model
that is not a language model), with `labels` and `attributes` tensors beside it.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
from dataclasses import dataclass
from pathlib import Path

import torch

from phasewatch.errors import UserError

KEYS = ("tokens", "label", "attributes")
TOKEN_KEYS = ("tokens", "input_ids")  # either names a line's token ids; read as `tokens`


@dataclass(frozen=True)
class ProbeData:
    """`inputs` (N, ...) fed to the model as `model(inputs)`; `labels` (N,) class ids or None;
    `attributes` (N, k) rows of the attribute matrix A or None; `source` says where it came from."""

    inputs: torch.Tensor
    labels: torch.Tensor | None = None
    attributes: torch.Tensor | None = None
    source: str = "tensor"

    def __post_init__(self) -> None:
        if not isinstance(self.inputs, torch.Tensor) or self.inputs.dim() < 1 or len(self.inputs) < 2:
            raise UserError(f"probe data: inputs {_describe(self.inputs)} are not allowed (a tensor of at least 2 items)")
        n = len(self.inputs)
        if self.labels is not None:
            labels = self.labels
            valid = isinstance(labels, torch.Tensor) and labels.shape == (n,) and not labels.is_floating_point()
            if not valid or bool((labels < 0).any()):
                raise UserError(f"probe data: labels {_describe(labels)} are not allowed (a tensor of {n} class ids >= 0)")
        if self.attributes is not None:
            a = self.attributes
            if not isinstance(a, torch.Tensor) or a.dim() != 2 or len(a) != n or not bool(torch.isfinite(a.double()).all()):
                raise UserError(f"probe data: attributes {_describe(a)} are not allowed (a finite ({n}, k) tensor)")

    def __len__(self) -> int:
        return len(self.inputs)

    @property
    def num_classes(self) -> int:
        return 0 if self.labels is None else int(self.labels.max()) + 1

    def attribute_kernel(self) -> torch.Tensor:
        """K = A Aᵀ (N × N): for one-hot-per-factor rows, how many attribute values two items share."""
        assert self.attributes is not None  # asked only when the items have attributes
        a = self.attributes.double()
        return a @ a.T

    def describe(self) -> dict:
        """What a run records about its probe set (JSON-ready); `sha256` identifies the content."""
        digest = hashlib.sha256()
        for tensor in (self.inputs, self.labels, self.attributes):
            if tensor is not None:
                digest.update(str((tensor.dtype, tuple(tensor.shape))).encode())
                digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return {
            "source": self.source,
            "sha256": digest.hexdigest(),
            "items": len(self),
            "shape": list(self.inputs.shape),
            "classes": self.num_classes,
            "attributes": 0 if self.attributes is None else self.attributes.shape[1],
        }


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"of shape {tuple(value.shape)} and dtype {str(value.dtype).removeprefix('torch.')}"
    return f"of type {type(value).__name__}"


def as_probe_data(probe_inputs, labels: torch.Tensor | None = None, attributes: torch.Tensor | None = None) -> ProbeData:
    """A `ProbeData` from a `ProbeData`, a path to a JSONL file, or a tensor of inputs."""
    if isinstance(probe_inputs, ProbeData):
        if labels is not None or attributes is not None:
            raise UserError("labels/attributes: not allowed with a ProbeData (it carries its own)")
        return probe_inputs
    if isinstance(probe_inputs, (str, Path)):
        data = load_probe_data(probe_inputs)
        if labels is not None or attributes is not None:
            raise UserError("labels/attributes: not allowed with a probe data file (put them in the file)")
        return data
    if isinstance(probe_inputs, torch.Tensor):
        return ProbeData(probe_inputs.detach(), labels, attributes)
    raise UserError(f"probe_inputs: a {type(probe_inputs).__name__} is not allowed (a tensor, a ProbeData or a JSONL path)")


def load_probe_data(path: str | Path, tokenizer: str | Path | None = None) -> ProbeData:
    """Read a probe set from a JSONL file, or from a text file with a local tokenizer directory
    (formats in the module docstring). Bad content is a one-line `UserError` naming the line."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--probe-data: {path} is not a file (a .jsonl file, or a text file with --tokenizer)")
    if path.suffix == ".jsonl":
        if tokenizer is not None:
            raise UserError("--tokenizer: not allowed with a .jsonl probe set (it already holds token ids)")
        return _read_jsonl(path)
    if tokenizer is None:
        raise UserError(
            f"--probe-data: {path} is text, which needs --tokenizer DIR (a local tokenizer "
            "directory); or give a .jsonl file of token ids"
        )
    return _read_text(path, Path(tokenizer))


def _read_jsonl(path: Path) -> ProbeData:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"--probe-data: {path} is not readable UTF-8 text ({e})") from None
    items = {
        number: _read_item(f"probe data {path.name} line {number}", line)
        for number, line in enumerate(lines, start=1)
        if line.strip()
    }
    if len(items) < 2:
        raise UserError(f"--probe-data: {path} has {len(items)} items (at least 2 are needed)")
    first_line, first = next(iter(items.items()))
    for number, item in items.items():
        where = f"probe data {path.name} line {number}"
        if len(item["tokens"]) != len(first["tokens"]):
            raise UserError(
                f"{where}: {len(item['tokens'])} tokens is not allowed "
                f"(every item has as many as line {first_line}: {len(first['tokens'])})"
            )
        for key in ("label", "attributes"):
            if (key in item) != (key in first):
                raise UserError(
                    f"{where}: {key} is {'given' if key in item else 'missing'} "
                    f"(give it on every line or on none, as line {first_line})"
                )
        if "attributes" in item and len(item["attributes"]) != len(first["attributes"]):
            raise UserError(
                f"{where}: {len(item['attributes'])} attributes is not allowed "
                f"(every item has as many as line {first_line}: {len(first['attributes'])})"
            )
    rows = list(items.values())
    return ProbeData(
        torch.tensor([item["tokens"] for item in rows], dtype=torch.long),
        torch.tensor([item["label"] for item in rows], dtype=torch.long) if "label" in first else None,
        torch.tensor([item["attributes"] for item in rows], dtype=torch.float64) if "attributes" in first else None,
        source=str(path.resolve()),
    )


def _read_item(where: str, line: str) -> dict:
    """One JSONL line, each field checked on its own (agreement between lines is checked after).
    The token ids come back under `tokens`, whichever of `tokens` and `input_ids` the line used."""
    try:
        item = json.loads(line)
    except ValueError:
        raise UserError(f'{where}: not valid JSON (one object per line: {{"tokens": [ids...]}})') from None
    if not isinstance(item, dict):
        raise UserError(f'{where}: {line[:40]!r} is not allowed (an object with a "tokens" or "input_ids" list)')
    given = [key for key in TOKEN_KEYS if key in item]
    if len(given) != 1:
        problem = "both tokens and input_ids are given" if given else "no tokens or input_ids is given"
        raise UserError(f"{where}: {problem} (one of the two: the line's token ids)")
    if unknown := sorted(set(item) - set(KEYS) - set(TOKEN_KEYS)):
        raise UserError(f"{where}: key {unknown[0]!r} is not allowed (tokens or input_ids, label, attributes)")
    key = given[0]
    tokens = item[key]
    if not isinstance(tokens, list) or len(tokens) < 2 or not all(_is_int(t) and t >= 0 for t in tokens):
        raise UserError(f"{where}: {key} {str(tokens)[:40]} is not allowed (a list of at least 2 token ids >= 0)")
    if "label" in item and not (_is_int(item["label"]) and item["label"] >= 0):
        raise UserError(f"{where}: label {str(item['label'])[:40]} is not allowed (a class id >= 0)")
    attributes = item.get("attributes", [0])
    if not isinstance(attributes, list) or not attributes or not all(_is_number(a) and math.isfinite(a) for a in attributes):
        raise UserError(f"{where}: attributes {str(attributes)[:40]} is not allowed (a non-empty list of numbers)")
    item["tokens"] = item.pop(key)
    return item


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _read_text(path: Path, tokenizer_dir: Path) -> ProbeData:
    try:
        from transformers import AutoTokenizer
    except ImportError:
        raise UserError("--tokenizer: reading a tokenizer needs transformers (pip install 'phasewatch[hf]')") from None
    if not tokenizer_dir.is_dir():
        raise UserError(f"--tokenizer: {tokenizer_dir} is not a directory (a local tokenizer saved with save_pretrained)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir), local_files_only=True)
    except (OSError, ValueError) as e:
        raise UserError(f"--tokenizer: {tokenizer_dir} holds no readable tokenizer ({str(e).splitlines()[0][:80]})") from None
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    ids = [tokenizer(line, add_special_tokens=False)["input_ids"] for line in lines]
    length = min(map(len, ids), default=0)
    if len(ids) < 2 or length < 2:
        raise UserError(
            f"--probe-data: {path} gives {len(ids)} items, the shortest {length} tokens "
            "(at least 2 items of at least 2 tokens are needed)"
        )
    return ProbeData(torch.tensor([row[:length] for row in ids], dtype=torch.long), source=str(path.resolve()))
