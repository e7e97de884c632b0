"""One writer per run: an advisory lock (`flock`) on `RUN/.lock`, held while a process records.

The operating system drops a lock when its process dies, so a killed run never stays locked. Within
one process the lock counts: the pipeline takes it before a resume touches anything, and the
Recorder it drives takes it again; the file is unlocked when the last holder lets go.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from phasewatch.errors import UserError

LOCK_FILE = ".lock"
_held: dict[Path, tuple[int, int]] = {}  # lock file → (file descriptor, holders in this process)


def acquire(run_dir: Path, run_id: str) -> None:
    """Hold the run's lock; UserError naming the holder's pid when another process has it."""
    path = (Path(run_dir) / LOCK_FILE).resolve()
    if path in _held:
        fd, holders = _held[path]
        _held[path] = (fd, holders + 1)
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise UserError(f"run '{run_id}' is being written by another process (pid {holder}); wait for it or stop it") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    _held[path] = (fd, 1)


def release(run_dir: Path) -> None:
    """Let go of one hold; the last one unlocks the file."""
    path = (Path(run_dir) / LOCK_FILE).resolve()
    if path not in _held:
        return
    fd, holders = _held.pop(path)
    if holders > 1:
        _held[path] = (fd, holders - 1)
    else:
        os.close(fd)  # closing the descriptor drops the flock
