"""One writer per run (and one driver per sweep): an advisory lock (`flock`) on a lock file,
`RUN/.lock` or `sweeps/NAME.lock`, held while a process writes.

The operating system drops a lock when its process dies, so a killed run never stays locked. Within
one process the lock counts: the pipeline takes it before a resume touches anything, and the
Recorder it drives takes it again; the file is unlocked when the last holder lets go.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from phasewatch.errors import UserError

LOCK_FILE = ".lock"
_held: dict[Path, tuple[int, int]] = {}  # lock file → (file descriptor, holders in this process)


def acquire(file: Path, what: str) -> None:
    """Hold the lock on `file`; UserError naming `what` and the holder's pid when another process has it."""
    path = Path(file).resolve()
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
        raise UserError(f"{what} is being written by another process (pid {holder}); wait for it or stop it") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    _held[path] = (fd, 1)


def release(file: Path) -> None:
    """Let go of one hold; the last one unlocks the file."""
    path = Path(file).resolve()
    if path not in _held:
        return
    fd, holders = _held.pop(path)
    if holders > 1:
        _held[path] = (fd, holders - 1)
    else:
        os.close(fd)  # closing the descriptor drops the flock


def held_elsewhere(file: Path) -> bool:
    """Whether another process holds the lock on `file` now (a status check: takes nothing)."""
    path = Path(file).resolve()
    if path in _held or not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # drops the shared lock, if taken
    return False


def wait_free(file: Path, poll_seconds: float = 0.5) -> None:
    """Block until no other process holds the lock on `file` (a killed sweep's worker finishing)."""
    while held_elsewhere(file):
        time.sleep(poll_seconds)
