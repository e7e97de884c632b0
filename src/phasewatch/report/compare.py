"""A comparison of runs on one offline page: `write_comparison(runs, path)`.

Runs are grouped (by default: the same config up to the seed, i.e. one group per experiment,
setting and intervention, seeds pooled; or by one config key, `group_by="train.weight_decay"`,
which `phasewatch compare RUN... --by KEY` uses); each group gets the mean and a 90 % interval
over its seeds of where the structure and the behaviour ended (the intervention trade-off table of
docs/science/structure_before_collapse.md: is the structure kept, and at what cost in loss and
accuracy); its mean curve, with the spread of its runs as a band, of each behaviour metric the
runs share (and of any other metric asked for); the statistics over its runs of each event (how
many runs have it, where, how sharply); and its mean alignment curve. Runs that differ in
`train.decay_ratio` also get the decay-ratio law figure. Every user string (run ids, experiment
names, config values, metric names) is escaped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from html import escape
from pathlib import Path

import numpy as np

from phasewatch import config as configuration
from phasewatch.errors import UserError
from phasewatch.probes.behaviour import TEST_ACCURACY, TEST_LOSS
from phasewatch.probes.semantic import ALIGNMENT as ALIGNMENT_METRIC
from phasewatch.probes.semantic import ETF_DISTANCE as ETF_METRIC
from phasewatch.probes.training import KEEP_PEAK as KEEP_PEAK_METRIC
from phasewatch.probes.training import TRAIN_ACCURACY, TRAIN_LOSS
from phasewatch.report.assets import shared_plotly
from phasewatch.report.common import (
    ALIGNMENT,
    SITE_ORDER,
    Curves,
    curves,
    fmt_config_value,
    fmt_number,
    interval,
    mean_interval,
    structure_windows,
)
from phasewatch.report.compare_figures import alignment_figure, band_figure, decay_ratio_figure, run_family
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
BEHAVIOUR_METRICS = (TRAIN_LOSS.name, TEST_LOSS.name, TRAIN_ACCURACY.name, TEST_ACCURACY.name)  # drawn when every run has them
EVENT_QUANTILE_RUNS = 5  # from this many event steps on, their interval is the 5th–95th percentile, below it the min–max
EVENT_COLUMNS = ("group", "event", "metric", "runs", "mean step", "90 % interval", "mean width")
IGNORED_KEYS = ("seed", "description", "setting")  # never what tells two groups apart in a label

HINTS = {
    "tradeoff": "Per group, the mean over its seeds and, in brackets, the 90 % confidence interval of that "
    "mean (Student t, mean ± t·s/√n; none for a single seed) of each metric's final value. An "
    "intervention that keeps the structure raises final alignment and ETF distance; read the loss "
    "and accuracy beside them for its cost. Keep-peak's chosen step is shown beside the true peak "
    "(the structure window's, else the maximum of the feature alignment).",
    "alignment": "Each group's alignment, the mean over its seeds, against log-step.",
    "curves": "Each group's mean over its runs (line) and their spread (band: from the lowest run to the highest, "
    "or from the 10 % to the 90 % quantile with five runs or more) against log-step. A group's runs are compared "
    "on the steps any of them was probed at, over the range all of them cover; a run's value at a step where it "
    "was not probed is interpolated (linearly in log-step) between its neighbouring probes.",
    "events": "For each event (kind and metric) in any run of a group: how many of the group's runs have it, the "
    "mean of their event steps, the interval holding 90 % of them (the 5th to 95th percentile; with fewer than "
    "five runs, from the first to the last), and the mean width of the events' own intervals (step_high − "
    "step_low: how precisely each run's detector placed it). A run with the event more than once counts its first.",
    "decay": "The decay-ratio law: final alignment and final ETF distance against the ratio of the shared "
    "pathway's weight decay to the per-item pathway's, one column per model family, mean over seeds "
    "with 90 % intervals.",
}

GroupBy = str | Callable[..., str] | None


def group_runs(runs: list, group_by: GroupBy = None) -> dict[str, list]:
    """Runs by group label. `group_by`: None (the config up to the seed), "experiment", a function
    of a run, or a config key (`config_key`: dotted, "train.decay_ratio", or a bare key that names
    one setting, "decay_ratio"), labelled "train.decay_ratio=100.0". Groups come in first-seen
    order; by a config key whose values are all numbers, in the order of the values."""
    if isinstance(group_by, str) and group_by != "experiment":
        key = config_key(runs, group_by)
        values = [_settings(run.config)[key] for run in runs]
        labels = [f"{key}={fmt_config_value(value)}" for value in values]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            order = sorted(range(len(runs)), key=lambda k: float(values[k]))  # stable: seeds keep their order
            labels, runs = [labels[k] for k in order], [runs[k] for k in order]
    else:
        labels = [_label(run, group_by) for run in runs] if group_by is not None else _default_labels(runs)
    groups: dict[str, list] = {}
    for label, run in zip(labels, runs):
        groups.setdefault(label, []).append(run)
    return groups


def config_key(runs: list, key: str, option: str = "group_by") -> str:
    """The dotted config key that `key` names in these runs: `key` itself when a run has it
    ("train.weight_decay"), else the one setting whose last part it is ("weight_decay"), as
    `--set` takes them (config.apply_overrides, config.flatten). A one-line UserError, starting
    with `option`, when it names no setting or several, or when a run lacks it (the runs of
    `watch` and `analyze` have configs of their own), naming that run."""
    settings = [_settings(run.config) for run in runs]
    known = set().union(*settings)
    if key not in known:
        matches = sorted(k for k in known if k.rsplit(".", 1)[-1] == key)
        if len(matches) != 1:
            problem = f"is ambiguous (it may be {', '.join(matches)})" if matches else "is not a config key of these runs"
            raise UserError(
                f'{option}: {key!r} {problem} (allowed: "experiment", a dotted key such as "train.decay_ratio", '
                "or a bare key that names one setting)"
            )
        key = matches[0]
    for run, setting in zip(runs, settings):
        if key not in setting:
            raise UserError(f"{option}: run {run.id!r} has no setting {key!r} (its experiment: {run.info.get('experiment')!r})")
    return key


def _settings(config: dict) -> dict:
    """A config's settings by dotted key: the keys `--set` takes (a table inside a section is one
    value, "events.phases") and every nested key below them ("events.phases.syntax")."""
    return _flatten(config) | configuration.flatten(config)


def default_comparison_path(root: str | Path, key: str) -> Path:
    """Where `phasewatch compare --by KEY` writes by default: <store>/comparisons/compare-<key>.html."""
    return Path(root) / "comparisons" / f"compare-{re.sub(r'[^A-Za-z0-9._-]+', '-', key).strip('-.') or 'runs'}.html"


def _label(run, group_by: Callable | str) -> str:
    if callable(group_by):
        return str(group_by(run))
    return str(run.info.get("experiment"))


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


def curve_metrics(data: list[Curves], extra: Sequence[str] = ()) -> list[str]:
    """The metrics to draw a band figure of, from the runs' curves: the behaviour metrics (train
    and test loss and accuracy) that every run recorded, then those of `extra` not among them; an
    `extra` metric no run recorded is a UserError."""

    def recorded(metric: str, run: Curves) -> bool:
        return metric in run and len(run[metric][0]) > 0

    shared = [m for m in BEHAVIOUR_METRICS if data and all(recorded(m, run) for run in data)]
    for metric in extra:
        if not any(recorded(metric, run) for run in data):
            names = sorted(set().union(*data))
            listed = ", ".join(names[:20]) + (f", … ({len(names)} in all)" if len(names) > 20 else "")
            raise UserError(f"metric: {metric!r} is recorded by none of these runs (recorded: {listed or 'none'})")
    return list(dict.fromkeys([*shared, *extra]))


def event_statistics(runs_events: list[list[dict]]) -> list[dict]:
    """The statistics over a group's runs (each run's list of events) of each event, that is each
    (kind, metric) that occurs in any of them: {kind, metric, runs (how many runs have it), of (how
    many runs there are), mean (of the runs' event steps), low and high (where 90 % of them fall:
    the 5th and 95th percentiles, linearly interpolated; with fewer than `EVENT_QUANTILE_RUNS` steps
    their min and max), width (the mean of the events' own step_high − step_low; 0 for an event
    the detector gave no interval)}. A run with several events of one (kind, metric) counts its
    first (earliest). Sorted by mean step."""
    steps: dict[tuple[str, str], list[dict]] = {}
    for events in runs_events:
        first: dict[tuple[str, str], dict] = {}
        for event in sorted(events, key=lambda e: e["step"]):
            first.setdefault((str(event["kind"]), str(event["metric"])), event)
        for key, event in first.items():
            steps.setdefault(key, []).append(event)
    rows = []
    for (kind, metric), events in steps.items():
        at = np.array([float(e["step"]) for e in events])
        if len(at) >= EVENT_QUANTILE_RUNS:
            low, high = (float(q) for q in np.percentile(at, [5, 95]))
        else:
            low, high = float(at.min()), float(at.max())
        widths = [float(interval(e)[1] - interval(e)[0]) for e in events]
        rows.append(
            {
                "kind": kind,
                "metric": metric,
                "runs": len(events),
                "of": len(runs_events),
                "mean": float(at.mean()),
                "low": low,
                "high": high,
                "width": float(np.mean(widths)),
            }
        )
    return sorted(rows, key=lambda r: (r["mean"], r["kind"], r["metric"]))


def event_table(groups: dict[str, list[list[dict]]]) -> list[tuple[str, ...]]:
    """One row of strings per group (label → its runs' events) and event, matching `EVENT_COLUMNS`."""
    return [
        (
            label,
            row["kind"],
            row["metric"],
            f"{row['runs']}/{row['of']}",
            fmt_number(row["mean"]),
            f"[{fmt_number(row['low'])}, {fmt_number(row['high'])}]",
            fmt_number(row["width"]),
        )
        for label, runs_events in groups.items()
        for row in event_statistics(runs_events)
    ]


def write_comparison(
    runs: list, path: str | Path, group_by: GroupBy = None, title: str = "comparison", metrics: Sequence[str] = ()
) -> Path:
    """Write the comparison page to `path` atomically; returns the path. `metrics`: more metrics to
    draw each group's curve of, beside the behaviour metrics every run has. Nothing is written when
    a run, the key or a metric is wrong (UserError)."""
    path = Path(path)
    stores = {Path(run.path).parent for run in runs}  # the runs' store: a page inside it shares its plotly.js
    plotly = shared_plotly(stores.pop(), path) if len(stores) == 1 else None
    atomic_write_bytes(path, render_comparison(runs, group_by, title, metrics, plotly=plotly).encode("utf-8"))
    return path


def render_comparison(
    runs: list, group_by: GroupBy = None, title: str = "comparison", metrics: Sequence[str] = (), *, plotly: str | None = None
) -> str:
    groups = group_runs(runs, group_by)
    data = {run.id: curves(run) for run in runs}
    drawn = curve_metrics(list(data.values()), metrics)
    events = {run.id: run.events for run in runs}
    finals = {label: [final_values(data[r.id], events[r.id]) for r in members] for label, members in groups.items()}
    columns, rows = tradeoff_table(finals)
    sections = [_header(title, groups), _table_section("tradeoff", "Trade-off", columns, rows)]
    grouped = {label: [data[r.id] for r in members] for label, members in groups.items()}
    for i, metric in enumerate(drawn):
        figure = band_figure(metric, grouped)
        if figure is not None:
            sections.append(section(escape(metric), f"curve-{i}", HINTS["curves"], figure))
    statistics = event_table({label: [events[r.id] for r in members] for label, members in groups.items()})
    sections.append(_event_section(statistics))
    figure = alignment_figure(grouped)
    if figure is not None:
        sections.append(section("Alignment over training", "alignment", HINTS["alignment"], figure))
    if len({run.config.get("train", {}).get("decay_ratio") for run in runs}) > 1:
        sections.append(section("The decay-ratio law", "decay", HINTS["decay"], decay_ratio_figure(runs, data=data)))
    return page(f"phasewatch · {title}", sections, plotly=plotly)


def _header(title: str, groups: dict[str, list]) -> str:
    items = "".join(
        f"<li><b>{escape(label)}</b>: {escape(', '.join(r.id for r in members))}</li>" for label, members in groups.items()
    )
    n = sum(len(m) for m in groups.values())
    return f"<header><h1>phasewatch {escape(title)}</h1><p>{n} runs in {len(groups)} groups</p><ul>{items}</ul></header>"


def _table_section(name: str, title: str, columns: Sequence[str], rows: Sequence[Sequence[str | tuple[str, str]]]) -> str:
    """A titled table with the hint `HINTS[name]`; a cell is a string, or (mean, interval) shown on two lines."""

    def cell(value: str | tuple[str, str]) -> str:
        if isinstance(value, str):
            return f"<td>{escape(value)}</td>"
        mean, interval = value  # the interval on a line of its own keeps the table within the page
        return f"<td class=num>{escape(mean)}" + (f"<br><span class=ci>{escape(interval)}</span>" if interval else "") + "</td>"

    head = "".join(f"<th>{escape(c).replace('/', '/<wbr>')}</th>" for c in columns)
    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
    return (
        f'<section id="{name}"><h2>{title}</h2><p class="hint">{HINTS[name]}</p>'
        f'<div class="scroll"><table><tr>{head}</tr>{body}</table></div></section>'
    )


def _event_section(rows: list[tuple[str, ...]]) -> str:
    if not rows:
        return f'<section id="events"><h2>Events</h2><p class="hint">{HINTS["events"]}</p><p class="empty">No events detected.</p></section>'
    return _table_section("events", "Events", EVENT_COLUMNS, rows)
