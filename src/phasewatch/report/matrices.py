"""The run's saved matrices as one slider figure: which arrays it saved, the frames the slider
shows (first, the structure peak, last, and log-spaced steps between), and the attribute groups
that order a Gram matrix's items (saved with the run at train time: the report never rebuilds a task)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import plotly.graph_objects as go

from phasewatch.probes.attention import PATTERNS
from phasewatch.probes.llc import LLC_TRACE
from phasewatch.report import figures
from phasewatch.report.common import SITE_ORDER
from phasewatch.store import ATTRIBUTE_GROUPS

OWN_FIGURES = (PATTERNS, LLC_TRACE)  # arrays with a figure of their own (report/attention.py, report/llc.py): not loaded here


def saved_matrices_figure(run, peak_step: int | None = None) -> go.Figure | None:
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
    groups = attribute_groups(run)
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


def attribute_groups(run) -> figures.AxisGroups | None:
    """The item groups the run saved at train time (`tasks.attributes.attribute_groups`), or None."""
    saved = run.analysis(ATTRIBUTE_GROUPS)
    return None if saved is None else [tuple(group) for group in saved["groups"]]


def _array_probes(run) -> list[str]:
    """Array probes saved in the run, found from the store layout `arrays/<probe>/step_N.safetensors`
    (a probe name may hold a slash, e.g. `gram/class_means`); the probes with a figure of their
    own left out."""
    root = Path(run.path) / "arrays"
    if not root.is_dir():
        return []
    saved = {p.parent.relative_to(root).as_posix() for p in root.rglob("step_*.safetensors")}
    return sorted(saved - set(OWN_FIGURES))


def _probe_rank(probe: str) -> tuple[str, int, str]:
    family, _, site = probe.partition("/")
    return family, SITE_ORDER.index(site) if site in SITE_ORDER else len(SITE_ORDER), site
