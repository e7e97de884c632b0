"""A run's saved matrices for the dashboard's heat map: which probes saved arrays at which steps,
and one step's matrix.

The server reads the run directory through `store.artifacts` directly rather than `Run.open`:
opening a run tidies the store (it restores or deletes what dead processes left), and a
read-only server must not write. Every file is checked to resolve inside the store first, so a
symlink under `arrays/` cannot make the server read a file elsewhere.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from phasewatch.serve.paths import inside
from phasewatch.store import artifacts

ARRAYS = "arrays"


def probes(root: Path, run: str) -> dict[str, list[int]]:
    """Probe name -> the steps with a readable array, for every probe the run saved (a probe name
    may hold a '/', e.g. `gram/class_means`)."""
    base = root / run / ARRAYS
    if inside(root, base) is None:
        return {}
    names = sorted({p.parent.relative_to(base).as_posix() for p in base.rglob("step_*.safetensors")})
    found = {name: artifacts.array_steps(root / run, name) for name in names if inside(root, base / name) is not None}
    return {name: steps for name, steps in found.items() if steps}


def matrix(root: Path, run: str, probe: str, step: int, key: str | None) -> tuple[str, list[str], np.ndarray]:
    """(key, the keys of the probe's 2-D arrays, that matrix) at `step`: `key`, or the first 2-D
    array. LookupError when the probe has no such step or no such 2-D array; UserError for a
    probe name that is not a store name."""
    artifacts.check_name(probe, "probe", artifacts.PROBE_PATTERN)
    if step not in artifacts.array_steps(root / run, probe):
        raise LookupError(f"run '{run}' saved no array of probe '{probe}' at step {step}")
    path = root / run / ARRAYS / probe / artifacts.step_file(step)
    if inside(root, path) is None:
        raise LookupError(f"run '{run}' saved no array of probe '{probe}' at step {step}")
    tensors = artifacts.load_array(root / run, probe, step)
    keys = [name for name, tensor in tensors.items() if tensor.ndim == 2]
    chosen = keys[0] if key is None and keys else key
    if chosen is None or chosen not in keys:
        wanted = "a 2-D array" if key is None else f"a 2-D array {key!r}"
        raise LookupError(f"probe '{probe}' has no {wanted} at step {step} (2-D arrays: {', '.join(keys) or 'none'})")
    return chosen, keys, tensors[chosen].float().numpy()
