"""A saved checkpoint series: find the checkpoints in a folder, build the model, load weights.

A folder holds either loose safetensors files (`step_500.safetensors`, `ckpt-1000.safetensors`)
or `save_pretrained` directories (`checkpoint-500/`, `step1000/`) with `model.safetensors` (or
shards listed in `model.safetensors.index.json`, or any `*.safetensors`). The step is the last
number in the name; names without one (e.g. the final `model.safetensors` a Trainer leaves in its
output folder) are skipped. The architecture comes from `config.json` (the checkpoint
directory's, else the folder's) through transformers, never downloading, or from a factory.

Nothing is unpickled: a `.bin`/`.pt`/`.pth`/`.ckpt`/`.pkl` checkpoint is an error.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import safetensors
import torch
from safetensors import safe_open
from torch import nn

from phasewatch.errors import UserError
from phasewatch.probes.llc import LLCConfig

# A checkpoint series is already sparse: the probes that thin out a training run's dense schedule
# (the LLC's every k-th probe step) estimate at every checkpoint of it.
EVERY_CHECKPOINT = {"llc": LLCConfig(every=1)}
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
PICKLE_ERROR = "pickle checkpoints are not read; convert to safetensors"
_LAST_NUMBER = re.compile(r"(\d+)\D*$")
_LAYOUTS = "*.safetensors files or save_pretrained directories such as checkpoint-500/, the step in the name"
_SYMLINKS = "symlinks only to files or sibling folders inside the series folder"


@dataclass(frozen=True)
class Checkpoint:
    step: int
    path: Path  # the file, or the checkpoint directory
    files: tuple[Path, ...]  # the safetensors files holding its weights
    config: Path | None  # the config.json describing its architecture, if any


def _step(name: str) -> int | None:
    match = _LAST_NUMBER.search(name)
    return int(match[1]) if match else None


def find_checkpoints(directory: str | Path) -> list[Checkpoint]:
    """The checkpoints in `directory`, sorted by step (layouts in the module docstring)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise UserError(f"checkpoint directory: {directory} is not a directory ({_LAYOUTS})")
    root = directory.resolve()  # the folder may itself be a symlink
    folder_config = directory / "config.json" if (directory / "config.json").is_file() else None
    found: dict[int, Checkpoint] = {}
    for entry in sorted(directory.iterdir()):
        step = _step(entry.stem if entry.is_file() else entry.name)
        if entry.name.startswith(".") or step is None:
            continue
        _check_inside(entry, root)  # before is_dir: `checkpoint-600 -> .` would list the folder's own files
        if entry.is_dir():
            _check_inside(entry / "model.safetensors.index.json", root)  # read by _weight_files
            files = _weight_files(entry)
            config = entry / "config.json" if (entry / "config.json").is_file() else folder_config
        elif entry.suffix == ".safetensors":
            files, config = (entry,), folder_config
        elif entry.suffix in PICKLE_SUFFIXES:
            raise UserError(f"checkpoint: {entry} is not read ({PICKLE_ERROR})")
        else:
            continue
        for path in (*files, *([config] if config else [])):
            _check_inside(path, root)  # shards and config.json may be symlinks too
        if step in found:
            raise UserError(f"checkpoint: {entry} is step {step}, as is {found[step].path} (one checkpoint per step)")
        found[step] = Checkpoint(step, entry, files, config)
    if not found:
        raise UserError(f"checkpoint directory: {directory} holds no checkpoints ({_LAYOUTS})")
    return [found[step] for step in sorted(found)]


def _check_inside(path: Path, root: Path) -> None:
    """Refuse a path (a symlink, or a shard name such as ../x) that loops, resolves outside the
    series folder `root`, or onto a folder holding it: each would be read as weights that are not
    this checkpoint's, or fail halfway through the series with an unrelated OS error."""
    try:
        target = path.resolve(strict=True)
    except FileNotFoundError:
        target = path.resolve()  # missing: reported where it is read
    except (RuntimeError, OSError):  # a symlink loop (RuntimeError before Python 3.13)
        raise UserError(f"checkpoint: {path} is a symlink loop, not allowed ({_SYMLINKS})") from None
    if not target.is_relative_to(root):
        raise UserError(f"checkpoint: {path} leads outside the series folder {root}, not allowed ({_SYMLINKS})")
    holder = path.parent.resolve()
    if target == holder or target in holder.parents:
        raise UserError(f"checkpoint: {path} leads to a folder holding it, not allowed ({_SYMLINKS})")


def _weight_files(directory: Path) -> tuple[Path, ...]:
    """The safetensors files of a save_pretrained directory (model.safetensors, its shards, or
    every *.safetensors); an error when it holds only pickles or nothing."""
    index = directory / "model.safetensors.index.json"
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
            return tuple(directory / name for name in sorted(set(weight_map.values())))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            raise UserError(f"checkpoint: {index} is not allowed (a JSON index with a weight_map)") from None
    if (directory / "model.safetensors").is_file():
        return (directory / "model.safetensors",)
    files = tuple(sorted(directory.glob("*.safetensors")))
    if files:
        return files
    if any(
        path.suffix in PICKLE_SUFFIXES and ("model" in path.name or path.name.startswith("consolidated"))
        for path in directory.iterdir()
    ):
        raise UserError(f"checkpoint: {directory} holds its weights as pickles ({PICKLE_ERROR})")
    raise UserError(f"checkpoint: {directory} holds no weights (model.safetensors or *.safetensors)")


def load_weights(model: nn.Module, checkpoint: Checkpoint) -> None:
    """Copy the checkpoint's tensors into `model` in place, one tensor at a time (memory-mapped,
    so a checkpoint is never held twice). Every weight of the model must be in the checkpoint
    (tied copies, e.g. GPT-2's lm_head = wte, count as present) and nothing else may be."""
    targets = model.state_dict(keep_vars=False)
    loaded: set[str] = set()
    with torch.no_grad():
        for file in checkpoint.files:
            try:
                with safe_open(file, framework="pt") as reader:
                    for key in reader.keys():
                        if key not in targets:
                            raise UserError(
                                f"checkpoint {file}: tensor {key!r} is not allowed (only the model's "
                                "weights; is --factory or config.json the right architecture?)"
                            )
                        tensor = reader.get_tensor(key)
                        if tensor.shape != targets[key].shape:
                            raise UserError(
                                f"checkpoint {file}: tensor {key!r} of shape {tuple(tensor.shape)} is not "
                                f"allowed (the model's is {tuple(targets[key].shape)})"
                            )
                        targets[key].copy_(tensor)
                        loaded.add(key)
            except safetensors.SafetensorError:
                raise _unreadable(file) from None
            except FileNotFoundError:
                raise UserError(f"checkpoint {file}: not found (listed in the shard index)") from None
    tied = {targets[key].data_ptr() for key in loaded}
    missing = [key for key in targets if key not in loaded and targets[key].data_ptr() not in tied]
    if missing:
        raise UserError(
            f"checkpoint {checkpoint.path}: tensor {missing[0]!r} is missing "
            f"({len(missing)} of the model's {len(targets)} tensors absent; every weight is needed)"
        )


def _unreadable(file: Path) -> UserError:
    """Why a file is not safetensors: a torch.save file (zip or pickle header, where safetensors
    has its 8-byte header length and then '{') or a damaged one."""
    with open(file, "rb") as f:
        head = f.read(9)
    pickled = head[:2] == b"PK" or (head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"))
    if pickled and head[8:9] != b"{":
        return UserError(f"checkpoint {file}: is a pickle ({PICKLE_ERROR})")
    return UserError(f"checkpoint {file}: truncated or corrupt (a complete safetensors file)")


class ModelBuilder:
    """Builds the model of each checkpoint, from a factory or config.json, and reuses the last
    model while the architecture stays the same (weights are then loaded over it)."""

    def __init__(self, factory: str | Callable[[], nn.Module] | None = None, device: str = "cpu"):
        self.factory = load_factory(factory) if isinstance(factory, str) else factory
        self.source = factory if isinstance(factory, str) else getattr(factory, "__qualname__", None)
        if device not in ("cpu", "cuda") or (device == "cuda" and not torch.cuda.is_available()):
            raise UserError(f"--device: {device!r} is not allowed (cpu, or cuda where a GPU is present)")
        self.device = torch.device(device)
        self._key: object = None
        self._model: nn.Module | None = None

    def describe(self) -> str:
        return f"factory {self.source}" if self.factory else "each checkpoint's config.json, via transformers"

    def build(self, checkpoint: Checkpoint) -> nn.Module:
        if self.factory is not None:
            key: str | bytes = "factory"
        elif checkpoint.config is None:
            raise UserError(
                f"--factory: needed, since {checkpoint.path} has no config.json (a function that "
                "builds the model, as module:function)"
            )
        else:
            key = checkpoint.config.read_bytes()
        if key != self._key:
            self._model = None  # free the old model before building the next
            with torch.random.fork_rng(devices=[]):  # random init must not move the caller's RNG
                model = self.factory() if self.factory else _from_config(cast(Path, checkpoint.config))  # checked above
            if not isinstance(model, nn.Module):
                raise UserError(f"--factory: {self.source} returned a {type(model).__name__} (it must return a torch.nn.Module)")
            self._model, self._key = model.to(self.device).eval(), key
        assert self._model is not None  # built with its key
        return self._model


def load_factory(spec: str) -> Callable[[], nn.Module]:
    """`module:function`, imported from the current directory or the Python path."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise UserError(f"--factory: {spec!r} is not allowed (module:function, e.g. mymodels:build_model)")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` would: the user's own modules
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise UserError(f"--factory: module {module_name!r} cannot be imported ({e})") from None
    function = getattr(module, attribute, None)
    if not callable(function):
        raise UserError(f"--factory: {spec!r} is not allowed ({module_name} has no function {attribute!r})")
    return function


def _from_config(config: Path) -> nn.Module:
    """A randomly initialised causal LM of the architecture in `config` (weights come after)."""
    try:
        from transformers import AutoConfig, AutoModelForCausalLM
    except ImportError:
        raise UserError(
            f"{config}: building a model from config.json needs transformers (pip install 'phasewatch[hf]'), or name a --factory"
        ) from None
    try:
        hf_config = AutoConfig.from_pretrained(str(config.parent), local_files_only=True)
        return AutoModelForCausalLM.from_config(hf_config)
    except (OSError, ValueError, KeyError) as e:
        first_line = str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__
        raise UserError(
            f"{config}: not allowed (a causal LM config transformers can build, e.g. gpt2, gpt_neox, llama: {first_line})"
        ) from None
