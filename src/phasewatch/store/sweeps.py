"""A sweep's record in the store: `<store>/sweeps/NAME.json` (the file, its axes and members, as
`sweep.Sweep.record` writes it), beside `NAME.lock` (its driver's) and `NAME.html` (its phase
diagram)."""

from __future__ import annotations

import json
from pathlib import Path

from phasewatch.errors import UserError
from phasewatch.store.atomic import atomic_write_json

SWEEPS = "sweeps"


def sweep_path(root: Path, name: str, suffix: str) -> Path:
    """`<root>/sweeps/<name><suffix>`."""
    return Path(root) / SWEEPS / f"{name}{suffix}"


def write_record(root: Path, name: str, record: dict) -> None:
    atomic_write_json(sweep_path(root, name, ".json"), record)


def read_record(root: Path, name: str) -> dict:
    """The record of sweep `name`; UserError if the store has none or it is unreadable."""
    path = sweep_path(root, name, ".json")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"sweep {name!r} not found in {root} (run it first: `phasewatch sweep FILE.toml`)") from None
    except (OSError, ValueError):
        raise UserError(f"{path} is not readable JSON") from None
    if not isinstance(record, dict) or not isinstance(record.get("members"), list) or not isinstance(record.get("axes"), dict):
        raise UserError(f"{path}: not a sweep record (members and axes missing)")
    return record
