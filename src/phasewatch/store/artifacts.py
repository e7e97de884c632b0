"""Tensor artifacts of a run, in safetensors: probe arrays and sha256-checked checkpoints.

    arrays/<probe>/step_NNNNNNNN.safetensors     probe may contain '/', e.g. gram/class_means
    checkpoints/step_NNNNNNNN.safetensors        metadata {"meta": <json>}
    checkpoints/manifest.json                    {file name: sha256}

Nothing is pickled. A checkpoint counts only once the manifest lists it: the file is written
first and the manifest second, so a process killed in between leaves a file that is ignored.
"""

from __future__ import annotations

import hashlib
import json
import operator
import os
import re
from pathlib import Path

import safetensors
import safetensors.torch
import torch

from phasewatch.errors import UserError
from phasewatch.store.atomic import atomic_write_bytes, atomic_write_json

NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]*"
PROBE_PATTERN = rf"{NAME_PATTERN}(?:/{NAME_PATTERN})*"
MAX_NAME = 200  # file systems refuse names over 255 bytes; room for the prefixes and suffixes we add
MANIFEST = "manifest.json"
_STEP_FILE = re.compile(r"step_(\d+)\.safetensors")


def check_name(value: str, field: str, pattern: str = NAME_PATTERN) -> str:
    """`value` if it is a safe file name (no '..', no hidden names), else UserError."""
    if isinstance(value, str) and len(value) > MAX_NAME:
        raise UserError(f"{field}: a name of {len(value)} characters is not allowed (at most {MAX_NAME})")
    if not isinstance(value, str) or not re.fullmatch(pattern, value):
        parts = "'/'-separated names, each " if pattern == PROBE_PATTERN else ""
        raise UserError(
            f"{field}: {value!r} is not allowed ({parts}letters, digits, '.', '_' or '-', starting with a letter or digit)"
        )
    return value


def step_file(step: int) -> str:
    try:
        n = operator.index(step)  # ints and numpy ints, not floats
    except TypeError:
        n = -1
    if n < 0:
        raise UserError(f"step: {step!r} is not allowed (an integer >= 0)")
    return f"step_{n:08d}.safetensors"


def _steps_in(names) -> list[int]:
    return sorted(int(m[1]) for name in names if (m := _STEP_FILE.fullmatch(name)))


def _prepare(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out, seen = {}, set()
    for key, t in tensors.items():
        if not isinstance(t, torch.Tensor):
            raise UserError(f"tensors[{key!r}]: a {type(t).__name__} is not allowed (a torch.Tensor)")
        t = t.detach().cpu().contiguous()
        ptr = t.untyped_storage().data_ptr()
        if ptr and ptr in seen:
            t = t.clone()  # safetensors refuses tensors that share memory, e.g. tied embed/unembed
        seen.add(ptr)
        out[key] = t
    return out


def _write(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> str:
    """Write a safetensors file atomically; return the sha256 of its bytes."""
    data = safetensors.torch.save(_prepare(tensors), metadata)
    atomic_write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def _read(path: Path, kind: str, sha256: str | None = None) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and metadata of a safetensors file, checked against `sha256` when given."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{kind} {path} not found") from None
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise UserError(f"{kind} {path} is corrupt: sha256 mismatch")
    try:
        tensors = safetensors.torch.load(data)
        # The header is an 8-byte little-endian length, then JSON; its "__metadata__" is ours.
        header = json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")])
    except (safetensors.SafetensorError, ValueError):
        raise UserError(f"{kind} {path} is not a readable safetensors file") from None
    return tensors, header.get("__metadata__") or {}


# ---- arrays ------------------------------------------------------------------------------------


def _probe_dir(run_dir: Path, probe: str) -> Path:
    return run_dir.joinpath("arrays", *check_name(probe, "probe", PROBE_PATTERN).split("/"))


def save_array(run_dir: Path, probe: str, step: int, tensors: dict[str, torch.Tensor]) -> None:
    _write(_probe_dir(run_dir, probe) / step_file(step), tensors)


def array_steps(run_dir: Path, probe: str) -> list[int]:
    """The steps with a readable array of `probe`: a damaged file (empty, cut short) is left out,
    so that one bad file costs its frame, not the report."""
    directory = _probe_dir(run_dir, probe)
    steps = _steps_in(os.listdir(directory)) if directory.is_dir() else []
    return [step for step in steps if _complete(directory / step_file(step))]


def _complete(path: Path) -> bool:
    """Whether a safetensors file is whole: its header parses and its last tensor ends at the
    file's end. Reads the header only."""
    try:
        with open(path, "rb") as file:
            length = int.from_bytes(file.read(8), "little")
            header = json.loads(file.read(length)) if 0 < length < 100_000_000 else None
            size = os.fstat(file.fileno()).st_size
    except (OSError, ValueError):
        return False
    if not isinstance(header, dict):
        return False
    ends = [
        entry.get("data_offsets", [0, 0])[1] for key, entry in header.items() if key != "__metadata__" and isinstance(entry, dict)
    ]
    return size == 8 + length + max(ends, default=0)


def load_array(run_dir: Path, probe: str, step: int) -> dict[str, torch.Tensor]:
    return _read(_probe_dir(run_dir, probe) / step_file(step), "array")[0]


# ---- checkpoints -------------------------------------------------------------------------------


def _read_manifest(directory: Path) -> dict[str, str]:
    path = directory / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        raise UserError(f"checkpoint manifest {path} is not readable JSON") from None
    if not isinstance(manifest, dict) or not all(isinstance(v, str) for v in manifest.values()):
        raise UserError(f"checkpoint manifest {path} is corrupt: expected {{file name: sha256}}")
    return manifest


def _checkpoint_dir(run_dir: Path, tag: str | None) -> Path:
    """`checkpoints/` for the training state a resume reads, `checkpoints/<tag>/` for a tagged
    model state (e.g. keep-peak's), each with its own manifest."""
    directory = run_dir / "checkpoints"
    return directory if tag is None else directory / check_name(tag, "checkpoint tag")


def save_checkpoint(run_dir: Path, step: int, tensors: dict[str, torch.Tensor], meta: dict, tag: str | None = None) -> None:
    directory = _checkpoint_dir(run_dir, tag)
    name = step_file(step)
    manifest = _read_manifest(directory)
    if name in manifest:
        # Re-saving a step (after a resume): unlist it first, so that a kill between the two
        # writes below cannot pair the old hash with the new bytes.
        del manifest[name]
        atomic_write_json(directory / MANIFEST, manifest)
    manifest[name] = _write(directory / name, tensors, {"meta": json.dumps(meta)})
    atomic_write_json(directory / MANIFEST, manifest)


def rebuild_manifest(run_dir: Path) -> int:
    """Write a lost `checkpoints/manifest.json` again from the checkpoint files that read as
    complete safetensors whose meta step matches their name; how many it lists (0: nothing to
    rebuild). Each file was written atomically, so a listed one is whole; bit rot inside it is what
    the lost checksums no longer catch."""
    directory = _checkpoint_dir(run_dir, None)
    if (directory / MANIFEST).exists() or not directory.is_dir():
        return 0
    manifest = {}
    for step in _steps_in(os.listdir(directory)):
        path = directory / step_file(step)
        try:
            _, metadata = _read(path, "checkpoint")
            intact = json.loads(metadata.get("meta", "{}")).get("step") == step
        except (UserError, ValueError):
            intact = False
        if intact:
            manifest[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    if manifest:
        atomic_write_json(directory / MANIFEST, manifest)
    return len(manifest)


def checkpoint_steps(run_dir: Path, tag: str | None = None) -> list[int]:
    directory = _checkpoint_dir(run_dir, tag)
    return _steps_in(name for name in _read_manifest(directory) if (directory / name).is_file())


def load_checkpoint(run_dir: Path, step: int, tag: str | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    directory = _checkpoint_dir(run_dir, tag)
    name = step_file(step)
    manifest = _read_manifest(directory)
    if name not in manifest:
        raise UserError(f"checkpoint step {step} not found in {directory} (saved steps: {checkpoint_steps(run_dir, tag)})")
    tensors, metadata = _read(directory / name, "checkpoint", manifest[name])
    return tensors, json.loads(metadata.get("meta", "{}"))
