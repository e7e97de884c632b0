"""A sweep file: a base experiment, fixed overrides and axes, expanded into points.

    name = "grok-diagram"
    experiment = "grokking-mlp"        # a preset, or config = "path.toml" (relative to the file)
    backend = "local"                  # --backend overrides
    [set]                              # fixed overrides, as --set
    steps = 300
    [grid]                             # every combination
    train_fraction = [0.2, 0.3, 0.5]
    seed = [0, 1, 2]
    [zip]                              # varied together: equal lengths, the i-th values form one row
    lr = [1e-3, 3e-3]
    warmup_steps = [10, 30]
    [random]                           # `count` seeded draws, each key from a range or a list
    count = 4
    seed = 0
    weight_decay = { low = 0.01, high = 1.0, log = true }
    p = [53, 59]

The points are the product of the grid's combinations, the zip's rows and the random draws. Each
point is an ordinary run whose id is the sweep's name and a hash of its full resolved config, so
the same point is the same run every time: running a sweep again runs only what is missing.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phasewatch import config as configuration
from phasewatch.errors import UserError
from phasewatch.store import artifacts

BACKENDS = (
    "local",
    "ray",
    "ensemble",
)  # a process pool here; Ray tasks (sweep/ray_backend.py); one vmapped model (train/ensemble.py)
BUILT_IN = Path(__file__).parents[1] / "experiments" / "sweeps"
KEYS = {"name", "experiment", "config", "backend", "set", "grid", "zip", "random", "description"}


@dataclass(frozen=True)
class Point:
    """One member of a sweep: its axis values (key → value) and its run id."""

    values: dict[str, Any]
    run: str

    def assignments(self) -> list[str]:
        return [assignment(key, value) for key, value in self.values.items()]


@dataclass(frozen=True)
class Sweep:
    name: str
    file: str
    experiment: str | None
    config_file: str | None
    backend: str
    fixed: dict[str, Any]
    axes: dict[str, list[Any]]  # every axis key → the values it takes, in the order of the file
    points: tuple[Point, ...]

    def assignments(self, point: Point) -> list[str]:
        """The `--set` assignments of one point: the fixed ones, then its axis values."""
        return [*(assignment(key, value) for key, value in self.fixed.items()), *point.assignments()]

    def record(self) -> dict:
        """What sweeps/NAME.json keeps: the file, its axes and its members."""
        return {
            "name": self.name,
            "file": self.file,
            "experiment": self.experiment,
            "config": self.config_file,
            "set": self.fixed,
            "axes": self.axes,
            "members": [{"run": p.run, **p.values} for p in self.points],
        }


def load_sweep(path: str | Path) -> Sweep:
    """Read, expand and check a sweep file (or a built-in sweep by name, `sweep_names()`): every
    point's config is resolved (UserError naming the point and the key) before anything is written."""
    path = Path(path)
    if not path.exists() and str(path) in sweep_names():
        path = BUILT_IN / f"{path}.toml"
    raw = configuration.load_toml(path)
    if unknown := sorted(set(raw) - KEYS):
        raise UserError(f"sweep: {unknown[0]!r} is not a known key (known: {', '.join(sorted(KEYS))})")
    name = artifacts.check_name(raw.get("name", ""), "sweep name")
    if len(name) > artifacts.MAX_NAME - 20:
        raise UserError(f"sweep name: a name of {len(name)} characters is not allowed (at most {artifacts.MAX_NAME - 20})")
    experiment = raw.get("experiment")
    config_file = str((path.parent / raw["config"]).resolve()) if "config" in raw else None
    if not experiment and not config_file:
        raise UserError("sweep: name an `experiment` (a preset) or a `config` file")
    backend = check_backend(raw.get("backend", "local"))
    fixed = _table(raw, "set")
    rows = _rows(raw)
    axes: dict[str, list[Any]] = {}
    for row in rows:
        for key, value in row.items():
            if value not in axes.setdefault(key, []):
                axes[key].append(value)
    base = [assignment(key, value) for key, value in fixed.items()]
    points = []
    for row in rows:
        assignments = [*base, *(assignment(key, value) for key, value in row.items())]
        try:
            _, resolved = configuration.resolve(experiment, config_file, assignments)
        except UserError as error:
            where = ", ".join(assignment(key, value) for key, value in row.items())
            raise UserError(f"sweep point ({where}): {error}") from None
        points.append(Point(row, f"{name}-{config_hash(resolved.model_dump(mode='json'))}"))
    if len({p.run for p in points}) < len(points):
        raise UserError("sweep: two points resolve to the same config (an axis repeats a value, or overrides another)")
    return Sweep(name, str(path.resolve()), experiment, config_file, backend, fixed, axes, tuple(points))


def sweep_names() -> list[str]:
    """The built-in sweeps: src/phasewatch/experiments/sweeps/*.toml."""
    return sorted(p.stem for p in BUILT_IN.glob("*.toml"))


def check_backend(backend: Any) -> str:
    """`backend` when it is one of BACKENDS, else UserError."""
    if backend not in BACKENDS:
        raise UserError(f"backend: {backend!r} is not allowed (choose from: {', '.join(BACKENDS)})")
    return backend


def config_hash(config: dict) -> str:
    """Ten hex digits of the sha256 of a resolved config (keys sorted): the point's identity."""
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:10]


def _table(raw: dict, section: str) -> dict[str, Any]:
    """A section as `dotted.key -> value` (TOML reads `events.watch = ...` as a nested table); in
    [random] a {low, high} table is a range, not a section."""
    table = raw.get(section, {})
    if not isinstance(table, dict):
        raise UserError(f"sweep {section}: {table!r} is not allowed (a table, [{section}])")
    return _dotted(table, ranges=section == "random")


def _dotted(table: dict[str, Any], ranges: bool, prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, dict) and not (ranges and "low" in value):
            flat.update(_dotted(value, ranges, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _axis(section: str, key: str, values: Any) -> list[Any]:
    if not isinstance(values, list) or not values:
        raise UserError(f"sweep {section}.{key}: {values!r} is not allowed (a non-empty list of values)")
    return values


def _rows(raw: dict) -> list[dict[str, Any]]:
    """Every point's axis values: grid combinations × zip rows × random draws."""
    grid = {key: _axis("grid", key, values) for key, values in _table(raw, "grid").items()}
    zipped = {key: _axis("zip", key, values) for key, values in _table(raw, "zip").items()}
    if len({len(values) for values in zipped.values()}) > 1:
        lengths = ", ".join(f"{key} {len(values)}" for key, values in zipped.items())
        raise UserError(f"sweep zip: the lists differ in length ({lengths}); they must be equal")
    grid_rows = [dict(zip(grid, combo)) for combo in itertools.product(*grid.values())]
    zip_rows = [dict(zip(zipped, row)) for row in zip(*zipped.values())] if zipped else [{}]
    random_rows = _draws(_table(raw, "random"))
    keys = [*grid, *zipped, *(random_rows[0] if random_rows else {})]
    if len(keys) != len(set(keys)):
        raise UserError("sweep: a key is an axis twice (in two of [grid], [zip], [random])")
    return [{**g, **z, **r} for g in grid_rows for z in zip_rows for r in random_rows or [{}]]


def _draws(table: dict[str, Any]) -> list[dict[str, Any]]:
    """`count` draws with `seed`: a list gives a uniform choice, {low, high[, log, integer]} a range."""
    if not table:
        return []
    table = dict(table)
    count, seed = table.pop("count", None), table.pop("seed", 0)
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise UserError(f"sweep random.count: {count!r} is not allowed (an integer >= 1)")
    rng = random.Random(seed)
    draws: list[dict[str, Any]] = [{} for _ in range(count)]
    for key, spec in table.items():
        for draw in draws:
            draw[key] = _draw(rng, key, spec)
    return draws


def _draw(rng: random.Random, key: str, spec: Any) -> Any:
    if isinstance(spec, list) and spec:
        return rng.choice(spec)
    if not isinstance(spec, dict) or not {"low", "high"} <= set(spec) or not set(spec) <= {"low", "high", "log", "integer"}:
        raise UserError(f"sweep random.{key}: {spec!r} is not allowed (a list, or {{low, high, log?, integer?}})")
    low, high = spec["low"], spec["high"]
    numbers = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (low, high))
    if not numbers or not low <= high or (spec.get("log") and low <= 0):
        raise UserError(f"sweep random.{key}: low {low!r}, high {high!r} is not allowed (numbers, low <= high, > 0 with log)")
    value = math.exp(rng.uniform(math.log(low), math.log(high))) if spec.get("log") else rng.uniform(low, high)
    return round(value) if spec.get("integer") else value


def assignment(key: str, value: Any) -> str:
    """`key=value` as `--set` takes it: the value as TOML text (JSON strings, numbers and arrays
    are TOML), but a `setting` name bare, as `--set setting=NAME` reads it."""
    if isinstance(value, bool):
        return f"{key}={str(value).lower()}"
    return f"{key}={value}" if key == "setting" else f"{key}={json.dumps(value)}"
