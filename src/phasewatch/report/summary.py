"""The one-screen terminal summary of a run: what ran, where the key metrics ended, what changed.

rich drops colour by itself when the output is not a terminal (or NO_COLOR is set), so the same
call prints plain text into CI logs.
"""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table

from phasewatch.analysis import timeline_lines
from phasewatch.probes.behaviour import TEST_ACCURACY, TEST_LOSS, WEIGHT_NORM_TOTAL
from phasewatch.probes.fourier import EXCLUDED_LOSS, FOURIER_SPARSITY, RESTRICTED_LOSS
from phasewatch.probes.semantic import ALIGNMENT, EFFECTIVE_RANK, ETF_DISTANCE
from phasewatch.probes.training import TRAIN_ACCURACY, TRAIN_LOSS
from phasewatch.report.common import (
    EVENT_COLUMNS,
    UFM_FIT,
    curves,
    event_rows,
    fit_line,
    fmt_number,
    is_behaviour,
    last_step,
    lead_lag_lines,
    read_timeline,
    run_facts,
    structure_windows,
    unjudged_lines,
    window_lines,
)

KEY_BEHAVIOUR = (TRAIN_LOSS.name, TEST_LOSS.name, TRAIN_ACCURACY.name, TEST_ACCURACY.name)
# The grokking progress measures (docs/science/grokking.md), the structure measures
# (docs/science/structure_before_collapse.md), then whatever other probes ran.
KEY_FAMILIES = (
    RESTRICTED_LOSS.family,
    EXCLUDED_LOSS.family,
    FOURIER_SPARSITY.family,
    ALIGNMENT.family,
    ETF_DISTANCE.family,
    WEIGHT_NORM_TOTAL.name,
    EFFECTIVE_RANK.family,
)
MAX_PROBES = 6
MAX_LEAD_LAG = 6  # the rest are in the HTML report


def key_metrics(names: list[str]) -> list[str]:
    """The behaviour metrics, then up to `MAX_PROBES` probe metrics, preferring `KEY_FAMILIES`."""

    def rank(name: str) -> tuple[int, str]:
        preferred = [i for i, f in enumerate(KEY_FAMILIES) if name == f or name.startswith(f + "/")]
        return (preferred[0] if preferred else len(KEY_FAMILIES)), name

    probes = sorted((n for n in names if not is_behaviour(n)), key=rank)
    return [n for n in KEY_BEHAVIOUR if n in names] + probes[:MAX_PROBES]


def print_summary(run, console: Console | None = None) -> None:
    """Print the run's facts, first → final value of its key metrics, one events table, lead/lag,
    then a sentence per phase of the timeline, per structure window and the coupled UFM fit, when
    the run has them."""
    console = console or Console()
    data = curves(run)
    for line in _pack([f"{label} {value}" for label, value in run_facts(run, last_step(data))], console.width):
        console.print(line, highlight=False, markup=False)

    metrics = Table(title="metrics", title_justify="left", box=None, pad_edge=False)
    for column in ("metric", "first", "final", "at step"):
        metrics.add_column(column, justify="left" if column == "metric" else "right")
    for name in key_metrics(list(data)):
        steps, values = data[name]
        metrics.add_row(name, fmt_number(values[0]), fmt_number(values[-1]), fmt_number(int(steps[-1])))
    if metrics.row_count:
        console.print(metrics)

    events = run.events
    if events:
        _print_events(events, console)
    elif not run.analysed:
        console.print(f"events: not analysed yet (`phasewatch report {run.id}` detects them)", highlight=False, markup=False)
    else:
        console.print("no events detected")
    for line in unjudged_lines(run):
        console.print(f"  not judged: {line}", highlight=False, markup=False)
    timeline = read_timeline(run, events, data)
    if timeline:
        console.print("phases", highlight=False, markup=False)
        for line in timeline_lines(timeline):
            console.print(f"  {line}", highlight=False, markup=False)
    for line in window_lines(structure_windows(events, data), data):
        console.print(line, highlight=False, markup=False)
    fit = run.analysis(UFM_FIT)
    if fit is not None:
        console.print(fit_line(fit), highlight=False, markup=False)


def _print_events(events: list[dict], console: Console) -> None:
    table = Table(title="events", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for column in EVENT_COLUMNS[:-1]:  # width is in the report; the terminal keeps to one screen
        table.add_column(column, justify="right" if column == "step" else "left", no_wrap=column != "before → after")
    for row in event_rows(events):
        table.add_row(*row[:-1])
    console.print(table)
    lines = lead_lag_lines(events)
    for line in lines[:MAX_LEAD_LAG]:
        console.print(f"  {line}", highlight=False, markup=False)
    if len(lines) > MAX_LEAD_LAG:
        console.print(f"  … {len(lines) - MAX_LEAD_LAG} more in report.html", highlight=False)


def _pack(facts: list[str], width: int) -> list[str]:
    """Facts joined into lines that fit `width`, so no fact is split across a wrap."""
    lines: list[str] = []
    for fact in facts:
        if lines and len(lines[-1]) + 2 + len(fact) <= width:
            lines[-1] += "  " + fact
        else:
            lines.append(fact)
    return lines
