"""A comparison of runs on one offline page: `write_comparison(runs, path)`.

Runs are grouped (by default: the same config up to the seed, i.e. one group per experiment,
setting and intervention, seeds pooled); each group gets the mean and a 90 % interval over its
seeds of where the structure and the behaviour ended (the intervention trade-off table of
docs/science/structure_before_collapse.md: is the structure kept, and at what cost in loss and
accuracy), and its mean alignment curve. Runs that differ in `train.decay_ratio` also get the
decay-ratio law figure. Every user string (run ids, experiment names, config values) is escaped.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from html import escape
from pathlib import Path

import numpy as np

from phasewatch.errors import UserError
from phasewatch.probes.behaviour import TEST_ACCURACY
from phasewatch.probes.semantic import ALIGNMENT as ALIGNMENT_METRIC
from phasewatch.probes.semantic import ETF_DISTANCE as ETF_METRIC
from phasewatch.probes.training import KEEP_PEAK as KEEP_PEAK_METRIC
from phasewatch.probes.training import TRAIN_ACCURACY, TRAIN_LOSS
from phasewatch.report.common import (
    ALIGNMENT,
    SITE_ORDER,
    Curves,
    curves,
    fmt_config_value,
    fmt_number,
    mean_interval,
    structure_windows,
)
from phasewatch.report.compare_figures import alignment_figure, decay_ratio_figure, run_family
from phasewatch.report.html import page, section
from phasewatch.store.atomic import atomic_write_bytes

# the trade-off: is the structure kept (alignment, ETF distance), at what cost (loss, accuracy)
FINAL_METRICS = (
    ALIGNMENT_METRIC.at("features"),
    ALIGNMENT_METRIC.at("classifier"),
    ETF_METRIC.at("features"),
    TRAIN_LOSS.name,
    TRAIN_ACCURACY.name,
    TEST_ACCURACY.name,
)
TRUE_PEAK = "true peak step"
IGNORED_KEYS = ("seed", "description", "setting")  # never what tells two groups apart in a label

HINTS = {
    "tradeoff": "Per group, the mean over its seeds and, in brackets, the 90 % confidence interval of that "
    "mean (Student t, mean ± t·s/√n; none for a single seed) of each metric's final value. An "
    "intervention that keeps the structure raises final alignment and ETF distance; read the loss "
    "and accuracy beside them for its cost. Keep-peak's chosen step is shown beside the true peak "
    "(the structure window's, else the maximum of the feature alignment).",
    "alignment": "Each group's alignment, the mean over its seeds, against log-step.",
    "decay": "The decay-ratio law: final alignment and final ETF distance against the ratio of the shared "
    "pathway's weight decay to the per-item pathway's, one column per model family, mean over seeds "
    "with 90 % intervals.",
}

GroupBy = str | Callable[..., str] | None


def group_runs(runs: list, group_by: GroupBy = None) -> dict[str, list]:
    """Runs by group label, groups in first-seen order. `group_by`: None (the config up to the
    seed), a dotted config key (e.g. "train.decay_ratio") or "experiment", or a function of a run."""
    if isinstance(group_by, str) and group_by != "experiment" and not any(group_by in _flatten(r.config) for r in runs):
        raise UserError(
            f'group_by: {group_by!r} is not a config key of these runs (allowed: "experiment" or a '
            'dotted key such as "train.decay_ratio")'
        )
    labels = [_label(run, group_by) for run in runs] if group_by is not None else _default_labels(runs)
    groups: dict[str, list] = {}
    for label, run in zip(labels, runs):
        groups.setdefault(label, []).append(run)
    return groups


def _label(run, group_by: str | Callable) -> str:
    if callable(group_by):
        return str(group_by(run))
    if group_by == "experiment":
        return str(run.info.get("experiment"))
    flat = _flatten(run.config)
    return f"{group_by}={fmt_config_value(flat.get(group_by))}"


def _default_labels(runs: list) -> list[str]:
    """The family (experiment/setting), then the config values that tell the family's groups apart."""
    flats = [{k: v for k, v in _flatten(r.config).items() if k not in IGNORED_KEYS} for r in runs]
    families = [run_family(r) for r in runs]
    labels = []
    for flat, fam in zip(flats, families):
        siblings = [f for f, g in zip(flats, families) if g == fam]
        differing = sorted(k for k in set().union(*siblings) if len({json.dumps(s.get(k), sort_keys=True) for s in siblings}) > 1)
        labels.append(" · ".join([fam, *(f"{k}={fmt_config_value(flat.get(k))}" for k in differing)]))
    return labels


def _flatten(config: dict, prefix: str = "") -> dict:
    flat: dict = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat |= _flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def final_values(data: Curves, events: list[dict]) -> dict[str, float]:
    """Each metric's last finite value, plus the true peak step of the structure: the primary
    structure window's peak, else the step where the feature alignment was highest."""
    finals = {}
    for name, (_, values) in data.items():
        finite = np.isfinite(values)
        if finite.any():
            finals[name] = float(values[finite][-1])
    windows = structure_windows(events, data)
    if windows and windows[0]["peak_step"] is not None:
        finals[TRUE_PEAK] = float(windows[0]["peak_step"])
    elif f"{ALIGNMENT}/{SITE_ORDER[0]}" in data:
        steps, values = data[f"{ALIGNMENT}/{SITE_ORDER[0]}"]
        if np.isfinite(values).any():
            finals[TRUE_PEAK] = float(steps[np.nanargmax(values)])
    return finals


def tradeoff_table(finals: dict[str, list[dict[str, float]]]) -> tuple[list[str], list[list[str | tuple[str, str]]]]:
    """(columns, rows): a row per group (label → its runs' final values): its label, its number of
    seeds, then per metric recorded by any run (mean, "[low, high]"; the interval "" for one seed,
    the mean "–" where no run of the group recorded it). Keep-peak's metrics, and the true peak
    beside them, only when keep-peak ran."""
    recorded = set().union(*(f for runs in finals.values() for f in runs))
    keep_peak = sorted(m for m in recorded if KEEP_PEAK_METRIC.matches(m))
    true_peak = [TRUE_PEAK] if keep_peak and TRUE_PEAK in recorded else []
    metrics = [m for m in FINAL_METRICS if m in recorded] + keep_peak + true_peak
    rows = []
    for label, runs in finals.items():
        cells: list[str | tuple[str, str]] = [label, fmt_number(len(runs))]
        for metric in metrics:
            mean, low, high = mean_interval([f[metric] for f in runs if metric in f])
            cells.append(
                ("–" if np.isnan(mean) else fmt_number(mean), "" if np.isnan(low) else f"[{fmt_number(low)}, {fmt_number(high)}]")
            )
        rows.append(cells)
    return ["group", "seeds", *metrics], rows


def write_comparison(runs: list, path: str | Path, group_by: GroupBy = None, title: str = "comparison") -> Path:
    """Write the comparison page to `path` atomically; returns the path."""
    path = Path(path)
    atomic_write_bytes(path, render_comparison(runs, group_by, title).encode("utf-8"))
    return path


def render_comparison(runs: list, group_by: GroupBy = None, title: str = "comparison") -> str:
    groups = group_runs(runs, group_by)
    data = {run.id: curves(run) for run in runs}
    finals = {label: [final_values(data[r.id], r.events) for r in members] for label, members in groups.items()}
    columns, rows = tradeoff_table(finals)
    sections = [_header(title, groups), _table_section(columns, rows)]
    figure = alignment_figure({label: [data[r.id] for r in members] for label, members in groups.items()})
    if figure is not None:
        sections.append(section("Alignment over training", "alignment", HINTS["alignment"], figure))
    if len({run.config.get("train", {}).get("decay_ratio") for run in runs}) > 1:
        sections.append(section("The decay-ratio law", "decay", HINTS["decay"], decay_ratio_figure(runs, data=data)))
    return page(f"phasewatch · {title}", sections)


def _header(title: str, groups: dict[str, list]) -> str:
    items = "".join(
        f"<li><b>{escape(label)}</b>: {escape(', '.join(r.id for r in members))}</li>" for label, members in groups.items()
    )
    n = sum(len(m) for m in groups.values())
    return f"<header><h1>phasewatch {escape(title)}</h1><p>{n} runs in {len(groups)} groups</p><ul>{items}</ul></header>"


def _table_section(columns: list[str], rows: list[list[str | tuple[str, str]]]) -> str:
    def cell(value: str | tuple[str, str]) -> str:
        if isinstance(value, str):
            return f"<td>{escape(value)}</td>"
        mean, interval = value  # the interval on a line of its own keeps the table within the page
        return f"<td class=num>{escape(mean)}" + (f"<br><span class=ci>{escape(interval)}</span>" if interval else "") + "</td>"

    head = "".join(f"<th>{escape(c).replace('/', '/<wbr>')}</th>" for c in columns)
    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
    return (
        f'<section id="tradeoff"><h2>Trade-off</h2><p class="hint">{HINTS["tradeoff"]}</p>'
        f'<div class="scroll"><table><tr>{head}</tr>{body}</table></div></section>'
    )
