"""The run's saved matrices as one slider figure: which arrays it saved, the frames the slider
shows (first, the structure peak, last, and log-spaced steps between), and the attribute groups
that order a Gram matrix's items (read from the task the run's config rebuilds)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import plotly.graph_objects as go

from phasewatch.probes.attention import PATTERNS
from phasewatch.probes.training import KEEP_PEAK_STATE
from phasewatch.report import figures
from phasewatch.report.common import SITE_ORDER

MODEL_STATES = (KEEP_PEAK_STATE,)  # arrays holding a whole model's state, not a probe's matrix
OWN_FIGURES = (PATTERNS,)  # stacks with a figure of their own (report/attention.py): not loaded here


def matrices_figure(run, peak_step: int | None = None) -> go.Figure | None:
    """Every 2-D array the run saved, at the slider's frames; None if it saved none. Loads only
    the frames shown: for each probe the latest saved step at or before each frame."""
    saved = {probe: run.array_steps(probe) for probe in sorted(_array_probes(run), key=_probe_rank)}
    saved = {probe: steps for probe, steps in saved.items() if steps}
    if not saved:
        return None
    frames, labels, active = slider_frames(sorted(set().union(*saved.values())), peak_step)
    matrices: dict[str, list[np.ndarray]] = {}
    for probe, steps in saved.items():
        shown = [max([s for s in steps if s <= f], default=steps[0]) for f in frames]
        loaded = {step: run.load_array(probe, step) for step in sorted(set(shown))}
        for key, tensor in loaded[shown[0]].items():
            if tensor.ndim != 2:
                continue  # a heat map needs a matrix; stacks (e.g. one attention pattern per head) are skipped
            label = probe if len(loaded[shown[0]]) == 1 else f"{probe} · {key}"
            matrices[label] = [loaded[s][key].float().numpy() for s in shown]
    if not matrices:
        return None
    groups = attribute_groups(run.config, run.info.get("seed", 0))
    return figures.matrices_figure(frames, matrices, frame_labels=labels, active=active, groups=groups)


def slider_frames(saved: list[int], peak_step: int | None) -> tuple[list[int], dict[int, str], int]:
    """(frames, labels, the frame to open at): log-spaced saved steps plus the saved step nearest
    the structure peak; the first is labelled "init", the last "end", that one "peak" (and opened at)."""
    frames = figures.select_steps(saved)
    labels = {frames[0]: "init", frames[-1]: "end"}
    if peak_step is None:
        return frames, labels, frames[-1]
    peak = min(saved, key=lambda s: (abs(s - peak_step), s))
    labels[peak] = "peak"
    return sorted({*frames, peak}), labels, peak


def attribute_groups(config: dict, seed: int) -> figures.AxisGroups | None:
    """Runs of items sharing an attribute combination, from the attribute matrix A of the task the
    config describes: (first row, end row, label, level) with the label the factor values
    ("0·2·1") and the level the first factor that changed from the previous group. None when the
    task has no attributes, cannot be rebuilt, or its items are not in attribute order."""
    attributes = _task_attributes(config, seed)
    if attributes is None:
        return None
    hot = [tuple(np.flatnonzero(row)) for row in attributes]  # one column per factor, in factor order
    starts = [0, *(k for k in range(1, len(hot)) if hot[k] != hot[k - 1])]
    if len(starts) != len(set(hot)):
        return None  # a combination recurs after others: the items are not grouped by attribute
    offsets = _factor_offsets(config, attributes.shape[1])
    groups = []
    for i, first in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(hot)
        values = hot[first] if offsets is None or len(offsets) != len(hot[first]) else np.subtract(hot[first], offsets)
        previous = hot[starts[i - 1]] if i else hot[first]
        level = next((f for f, (a, b) in enumerate(zip(hot[first], previous)) if a != b), 0)
        groups.append((first, end, "·".join(str(int(v)) for v in values), level))
    return groups


def _task_attributes(config: dict, seed: int) -> np.ndarray | None:
    from phasewatch.config import TASKS  # imported late: config imports the task and probe registries
    from phasewatch.tasks import build_task

    try:
        section = TASKS[config["task"]["name"]].model_validate(config["task"])
        attributes = build_task(section, seed).attributes
    except Exception:  # an old or foreign config, data not installed: only the group labels are lost
        return None
    return None if attributes is None else attributes.cpu().numpy()


def _factor_offsets(config: dict, columns: int) -> list[int] | None:
    """Where each factor's one-hot block starts in A, when the config names the factor sizes."""
    sizes = config.get("task", {}).get("factor_sizes")
    if not sizes or sum(sizes) != columns:
        return None
    return list(np.cumsum([0, *sizes[:-1]]))


def _array_probes(run) -> list[str]:
    """Array probes saved in the run, found from the store layout `arrays/<probe>/step_N.safetensors`
    (a probe name may hold a slash, e.g. `gram/class_means`); model snapshots and the probes with a
    figure of their own left out."""
    root = Path(run.path) / "arrays"
    if not root.is_dir():
        return []
    saved = {p.parent.relative_to(root).as_posix() for p in root.rglob("step_*.safetensors")}
    return sorted(saved - set(MODEL_STATES) - set(OWN_FIGURES))


def _probe_rank(probe: str) -> tuple[str, int, str]:
    family, _, site = probe.partition("/")
    return family, SITE_ORDER.index(site) if site in SITE_ORDER else len(SITE_ORDER), site
