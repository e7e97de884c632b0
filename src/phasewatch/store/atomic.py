"""Atomic file writes: a reader, or a crash, sees the old file or the new one, never half of one.

The recipe: write a hidden temporary file in the same directory (so the rename cannot cross
filesystems), fsync it, `os.replace` it over the target, then fsync the directory so the rename
itself survives a power cut.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

TEMP_SUFFIX = ".tmp"


def fsync_dir(directory: Path) -> None:
    """Make a create, rename or delete inside `directory` durable (the entry lives in the directory)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def sweep_temp(directory: Path) -> list[Path]:
    """Delete the temporary files (`temp_path`) that dead processes left anywhere under
    `directory`; a live process's are its own. Returns what it deleted."""
    swept = []
    for folder, _, names in os.walk(directory):
        for name in names:
            pid = name.removesuffix(TEMP_SUFFIX).rpartition(".")[2]
            if name.startswith(".") and name.endswith(TEMP_SUFFIX) and pid.isdigit() and not pid_alive(int(pid)):
                (path := Path(folder) / name).unlink(missing_ok=True)
                swept.append(path)
    return swept


def temp_path(path: Path) -> Path:
    """Where `path` is built before the rename: hidden, so every reader of the store skips it."""
    return path.with_name(f".{path.name}.{os.getpid()}{TEMP_SUFFIX}")


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Call `write(tmp)` to fill a temporary file, then move it over `path` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def _jsonable(x: Any) -> Any:
    # numpy scalars/arrays and torch tensors all have .tolist(); analysis code hands us numpy floats.
    if hasattr(x, "tolist"):
        return x.tolist()
    raise TypeError(f"{type(x).__name__} is not JSON serialisable")


def atomic_write_json(path: Path, obj: Any) -> None:
    text = json.dumps(obj, indent=2, default=_jsonable) + "\n"
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
