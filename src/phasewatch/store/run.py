"""A run: one directory in the store, described by a validated run.json.

<root>/<id>/run.json       id, experiment, status, config, seed, versions, times (+ extra fields)
            metrics/       Parquet parts (metrics.py)
            arrays/        probe arrays (artifacts.py)
            checkpoints/   checkpoints + manifest.json (artifacts.py); <tag>/ the same for
                           tagged model states (keep-peak's `keep_peak/`), never resumed from
            events.json    detected transitions
            analysis/      named analysis results, <name>.json (e.g. ufm_fit, attribute_groups)
            log.txt        one line per notice a run wants kept (a probe skipped, and why)
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
from collections.abc import Iterable
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from phasewatch.errors import UserError
from phasewatch.store import artifacts, lock
from phasewatch.store.atomic import atomic_write_json, fsync_dir, pid_alive, sweep_temp
from phasewatch.store.metrics import MetricsWriter, metric_names, quarantine, read_metrics


class Versions(BaseModel):
    phasewatch: str
    torch: str
    python: str


class RunInfo(BaseModel):
    """The schema of run.json. Extra fields (e.g. `error` on a failed run) are kept."""

    model_config = ConfigDict(extra="allow")
    id: str = Field(pattern=f"^{artifacts.NAME_PATTERN}$")
    experiment: str
    status: Literal["running", "finished", "failed"]
    config: dict[str, Any]
    seed: int
    versions: Versions
    created: datetime
    updated: datetime
    finished: datetime | None = None


ATTRIBUTE_GROUPS = "attribute_groups"  # analysis file: the items' attribute groups, saved at train time for the report
UNJUDGED = "unjudged"  # analysis file: the watched curves the detector could not judge, and why
SHARPNESS = "sharpness"  # analysis file: breakthroughness of the mirage-judged curves (analysis/mirage.py)


def store_root(store: str | Path | None = None) -> Path:
    """The store directory: `store`, else $PHASEWATCH_STORE, else ./runs. An empty string given
    as `store` is a mistake, not "use the default": UserError."""
    if isinstance(store, str) and not store.strip():
        raise UserError("store: '' is not allowed (a directory; leave --store out for $PHASEWATCH_STORE or ./runs)")
    return Path(store or os.environ.get("PHASEWATCH_STORE") or "runs").expanduser()


def recover(root: Path) -> list[str]:
    """Tidy what dead processes left in the store `root` (their pid ends the name): a run moved
    aside by an interrupted `--overwrite` (`.old-RUN-PID`) goes back into place when nothing
    replaced it, and is deleted when something did; a half-built run (`.tmp-RUN-PID`) is deleted.
    A live process's leftovers are its own. Returns one line per action."""
    done: list[str] = []
    if not root.is_dir():
        return done
    for entry in sorted(root.iterdir()):
        kind, _, rest = entry.name.partition("-")
        run_id, _, pid = rest.rpartition("-")
        if kind not in (".old", ".tmp") or not pid.isdigit() or not run_id or pid_alive(int(pid)):
            continue
        target = root / run_id
        if kind == ".old" and not target.exists():
            os.rename(entry, target)
            done.append(f"store: restored run '{run_id}', which an interrupted --overwrite had moved aside")
        else:
            shutil.rmtree(entry, ignore_errors=True)
            done.append(f"store: removed {entry.name}, left by a process that died")
    return done


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def _versions() -> dict[str, str]:
    try:
        version = metadata.version("phasewatch")
    except metadata.PackageNotFoundError:  # imported from a source tree that was never installed
        version = "unknown"
    return {"phasewatch": version, "torch": torch.__version__, "python": platform.python_version()}


def _validate(data: dict | bytes, where: str) -> dict:
    """run.json content (a dict, or the file's bytes) validated, as a JSON-ready dict."""
    try:
        info = RunInfo.model_validate_json(data) if isinstance(data, bytes) else RunInfo.model_validate(data)
        return info.model_dump(mode="json")
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(map(str, err["loc"]))
        got = f" (got {repr(err['input'])[:60]})" if loc and err["type"] != "missing" else ""
        raise UserError(f"{where}: {loc + ': ' if loc else ''}{err['msg']}{got}") from None


def read_info(file: Path) -> dict:
    """The validated content of a run.json file; UserError if it is unreadable or invalid."""
    try:
        data = file.read_bytes()
    except OSError as e:
        raise UserError(f"{file}: cannot read run file ({e.strerror})") from None
    return _validate(data, str(file))


class Run:
    """One run directory. Make one with `Run.create` or `Run.open`."""

    def __init__(self, path: Path, info: dict):
        self.path = path
        self.root = path.parent
        self.id = path.name  # the directory name is the id the store and SQL use
        self.info = info

    @property
    def config(self) -> dict:
        return self.info["config"]

    @property
    def status(self) -> str:
        return self.info["status"]

    def __repr__(self) -> str:
        return f"Run({self.id!r}, status={self.status!r}, path={str(self.path)!r})"

    @classmethod
    def create(cls, root: str | Path, run_id: str, *, experiment: str, config: dict, seed: int, overwrite: bool = False) -> Run:
        """A new run with status "running". An existing run of that id is an error unless `overwrite`."""
        root = Path(root)
        path = root / artifacts.check_name(run_id, "run id")
        for line in recover(root):
            print(line, file=sys.stderr)
        if path.exists() and not overwrite:
            raise UserError(f"run '{run_id}' already exists in {root} (use --overwrite to replace it or --resume to continue it)")
        now = _now()
        info = {
            "id": run_id,
            "experiment": experiment,
            "status": "running",
            "config": config,
            "seed": seed,
            "versions": _versions(),
            "created": now,
            "updated": now,
        }
        info = _validate(info, f"run '{run_id}'")
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserError(f"store: cannot create directory {root} ({e.strerror})") from None
        # Build the run under a hidden name and rename it into place: nobody ever sees half a run.
        tmp, old = root / f".tmp-{run_id}-{os.getpid()}", root / f".old-{run_id}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        atomic_write_json(tmp / "run.json", info)
        # A kill between the two renames leaves the old run at `old`: `recover` puts it back.
        if overwrite and path.exists():
            lock.acquire(path / lock.LOCK_FILE, f"run '{run_id}'")  # never pull a run from its writer
            lock.release(path / lock.LOCK_FILE)
            os.rename(path, old)  # out of the way; deleted once the new run is in place
        try:
            os.rename(tmp, path)  # fails if another process made this run meanwhile
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            if old.exists() and not path.exists():
                os.rename(old, path)  # the replacement failed: the old run stays
            raise UserError(f"run '{run_id}' was just created in {root} by another process") from None
        shutil.rmtree(old, ignore_errors=True)
        fsync_dir(root)
        return cls(path, info)

    @classmethod
    def open(cls, root: str | Path, run_id: str) -> Run:
        """An existing run; UserError if it is missing or its run.json is invalid."""
        root = Path(root)
        path = root / artifacts.check_name(run_id, "run id")
        for line in recover(root):
            print(line, file=sys.stderr)
        if not path.is_dir():
            raise UserError(f"run '{run_id}' not found in {root}")
        if os.access(path, os.W_OK):
            sweep_temp(path)  # half-written files of a process that died (never read: hidden)
        return cls(path, read_info(path / "run.json"))

    def repair(self) -> tuple[int | None, list[str]]:
        """Make a damaged run resumable (a resume calls this first, holding the lock): rebuild a
        lost checkpoint manifest from the checkpoint files, and move damaged metrics parts into
        metrics/damaged/. Returns (the step before which every metric row is intact, or None when
        no part was damaged; one line per repair)."""
        notices = []
        if rebuilt := artifacts.rebuild_manifest(self.path):
            notices.append(
                f"repair: checkpoints/{artifacts.MANIFEST} was missing; rebuilt it from {rebuilt} checkpoint "
                "files that read as complete safetensors (their original checksums are lost)"
            )
        before = quarantine(self.path / "metrics")
        if before is not None:
            notices.append(
                f"repair: damaged metrics parts moved to metrics/damaged/; the rows from step {before} on "
                "are recorded again from the checkpoint before it"
            )
        return before, notices

    def lock(self) -> None:
        """Become the run's one writer (store/lock.py): UserError while another process is; pair
        with `unlock`."""
        lock.acquire(self.path / lock.LOCK_FILE, f"run '{self.id}'")

    def unlock(self) -> None:
        lock.release(self.path / lock.LOCK_FILE)

    def set_status(self, status: str, *, save: bool = True, **fields: Any) -> None:
        """Set the status (and any extra fields, e.g. error=...); rewrites run.json atomically,
        or with `save=False` only in memory until `save_info`."""
        now = _now()
        info = {**self.info, **fields, "status": status, "updated": now, "finished": None if status == "running" else now}
        self.info = _validate(info, f"run '{self.id}'")
        if save:
            self.save_info()

    def save_info(self) -> None:
        atomic_write_json(self.path / "run.json", self.info)

    def log(self, line: str) -> None:
        """Append one line to the run's log.txt (a notice, not data: a torn last line loses nothing else)."""
        with open(self.path / "log.txt", "a", encoding="utf-8") as log:
            log.write(line.replace("\n", " ") + "\n")

    def log_lines(self) -> list[str]:
        path = self.path / "log.txt"
        return path.read_text(encoding="utf-8").splitlines() if path.is_file() else []

    # ---- metrics: what readers see is what a writer has flushed, not its buffer ----------------

    def writer(self, flush_seconds: float = 5.0) -> MetricsWriter:
        return MetricsWriter(self.path / "metrics", flush_seconds)

    def metrics(self, names: str | Iterable[str] | None = None) -> pd.DataFrame:
        """Flushed rows as a tidy frame (step, metric, value), sorted by metric, then step."""
        if isinstance(names, str):
            names = [names]
        return read_metrics(self.path / "metrics", names).to_pandas()

    def metric(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) of one metric, sorted by step; empty arrays if it was never logged."""
        table = read_metrics(self.path / "metrics", [name])
        return table["step"].to_numpy(), table["value"].to_numpy()

    def metric_names(self) -> list[str]:
        return metric_names(self.path / "metrics")

    # ---- tensor artifacts -------------------------------------------------------------------------

    def save_array(self, probe: str, step: int, tensors: dict[str, torch.Tensor]) -> None:
        artifacts.save_array(self.path, probe, step, tensors)

    def array_steps(self, probe: str) -> list[int]:
        return artifacts.array_steps(self.path, probe)

    def load_array(self, probe: str, step: int) -> dict[str, torch.Tensor]:
        return artifacts.load_array(self.path, probe, step)

    def save_checkpoint(self, step: int, tensors: dict[str, torch.Tensor], meta: dict, tag: str | None = None) -> None:
        """Tensors + a JSON-able `meta` dict; the file first, then its sha256 into manifest.json."""
        artifacts.save_checkpoint(self.path, step, tensors, meta, tag)

    def checkpoint_steps(self, tag: str | None = None) -> list[int]:
        """Steps with a complete checkpoint (listed in the manifest); `tag`: of tagged model states."""
        return artifacts.checkpoint_steps(self.path, tag)

    def load_checkpoint(self, step: int, tag: str | None = None) -> tuple[dict[str, torch.Tensor], dict]:
        """(tensors, meta); UserError if the file fails its sha256 or is not safetensors."""
        return artifacts.load_checkpoint(self.path, step, tag)

    # ---- events -----------------------------------------------------------------------------------

    @property
    def events(self) -> list[dict]:
        """Detected transitions from events.json ([] before detection has run)."""
        path = self.path / "events.json"
        try:
            events = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError):
            raise UserError(f"{path} is not readable JSON") from None
        if not isinstance(events, list):
            raise UserError(f"{path}: expected a JSON list of events, got {type(events).__name__}")
        return events

    @property
    def analysed(self) -> bool:
        """Whether detection has run (events.json exists): no events then means none were found."""
        return (self.path / "events.json").is_file()

    def save_events(self, events: list[dict]) -> None:
        atomic_write_json(self.path / "events.json", list(events))

    # ---- analysis results ---------------------------------------------------------------------------

    def save_analysis(self, name: str, data: dict) -> None:
        """Write a JSON-ready dict as analysis/<name>.json, atomically (e.g. "ufm_fit")."""
        atomic_write_json(self.path / "analysis" / f"{artifacts.check_name(name, 'analysis name')}.json", data)

    def analysis(self, name: str) -> dict | None:
        """The dict saved under `name`, or None if there is none."""
        path = self.path / "analysis" / f"{artifacts.check_name(name, 'analysis name')}.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            raise UserError(f"{path} is not readable JSON") from None
        if not isinstance(data, dict):
            raise UserError(f"{path}: expected a JSON object, got {type(data).__name__}")
        return data
