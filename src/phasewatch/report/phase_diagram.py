"""A sweep's phase diagram on one offline page: `write_phase_diagram(store, name)`.

Over two of the sweep's axes (the others, seeds included, pooled in each cell): a grid coloured by
each cell's region (analysis/regions.py: comprehension, grokking, memorisation, confusion; the
count of runs in the majority region written in the cell), a grid coloured by the step of a
detected event (log scale; "no event" where none of the cell's runs has it; the spread over the
cell's runs on hover), the event step along each axis with its spread, and every member run one
click away. Regions come from the detector's events and the runs' accuracy curves, never by hand.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from phasewatch.analysis.delay import delay_fit, grokking_delay
from phasewatch.analysis.regions import REGIONS, region
from phasewatch.errors import UserError
from phasewatch.probes.behaviour import TEST_ACCURACY
from phasewatch.report.assets import shared_plotly
from phasewatch.report.common import curves, fmt_number
from phasewatch.report.html import page, section
from phasewatch.store import Run, store_root
from phasewatch.store.atomic import atomic_write_bytes
from phasewatch.store.sweeps import read_record, sweep_path

REGION_COLOURS = {"comprehension": "#2a9d8f", "grokking": "#e9c46a", "memorisation": "#e76f51", "confusion": "#6c757d"}
HINT = {
    "regions": "Each cell pools the runs at that point of the two axes (all seeds); its colour is the region most of them "
    "ended in, the text how many did. Regions (Liu et al. 2022): comprehension — train and test accuracy rose together; "
    "grokking — test accuracy rose well after train accuracy saturated (the detector's grokking event); memorisation — "
    "train saturated, test never generalised; confusion — train never saturated.",
    "steps": "The step of the event (log colour scale), the mean of log-steps over the runs that have it; the text gives "
    "how many runs have it. Hover for the spread (min–max over those runs). Blank: no run of the cell has the event.",
    "delay": "Each run that groks: steps from train-accuracy saturation to the grokking event, against lr × weight "
    "decay, on log–log axes, with a least-squares line. Runs without the event are left out.",
    "axes": "The event step along each axis, one line per value of the other axis: mean over the runs that have the "
    "event, bars from the earliest to the latest.",
    "scaling": "A scaling law of the transition: each run's event step against one numeric axis (the others, seeds "
    "included, pooled), on log–log axes, with the least-squares power law and a 90 % bootstrap interval for its exponent "
    "(runs resampled). Runs without the event are left out of the fit and counted in the line below the plot.",
}


def member_table(store: str | Path | None, name: str, event: str = "grokking", metric: str = TEST_ACCURACY.name) -> pd.DataFrame:
    """One row per member of the sweep: run, state, its axis values, region, the step of its first
    `event` (of that kind, on any metric; NaN if none), its final `metric` value, lr × weight decay
    and its grokking delay (analysis/delay.py)."""
    root = store_root(store)
    record = read_record(root, name)
    rows = []
    for member in record["members"]:
        values = {k: v for k, v in member.items() if k != "run"}
        row: dict[str, Any] = {"run": member["run"], **values, "region": None, "event_step": np.nan, "final": np.nan}
        row.update(delay=np.nan, lr_wd=np.nan)
        if (root / member["run"] / "run.json").is_file():
            run = Run.open(root, member["run"])
            row["state"] = run.status
            if run.status == "finished":
                data, events = curves(run), run.events
                row["region"] = region(data, events)
                steps = [e["step"] for e in events if e["kind"] == event]
                row["event_step"] = float(min(steps)) if steps else np.nan
                row["final"] = float(data[metric][1][-1]) if metric in data and len(data[metric][1]) else np.nan
                train = run.config.get("train", {})
                row["lr_wd"] = float(train.get("lr", np.nan)) * float(train.get("weight_decay", np.nan))
                row["delay"] = grokking_delay(data, events) or np.nan
        else:
            row["state"] = "missing"
        rows.append(row)
    return pd.DataFrame(rows)


def cells(table: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """Per (x, y) cell: runs, the majority region and how many runs are in it, how many runs have
    the event, the mean log10 event step and its min and max."""
    out = []
    for (xv, yv), group in table.groupby([x, y], sort=True):
        regions = group["region"].dropna()
        counts = regions.value_counts()
        majority = max(REGIONS, key=lambda r: (counts.get(r, 0), -REGIONS.index(r))) if len(counts) else None
        steps = group["event_step"].dropna().to_numpy()
        out.append(
            {
                x: xv,
                y: yv,
                "runs": len(group),
                "region": majority,
                "in_region": int(counts.get(majority, 0)) if majority else 0,
                "with_event": len(steps),
                "log_step": float(np.mean(np.log10(steps))) if len(steps) else np.nan,
                "step_min": float(steps.min()) if len(steps) else np.nan,
                "step_max": float(steps.max()) if len(steps) else np.nan,
            }
        )
    return pd.DataFrame(out)


def region_figure(grid: pd.DataFrame, x: str, y: str) -> go.Figure:
    xs, ys = sorted(grid[x].unique()), sorted(grid[y].unique())
    index = {r: i for i, r in enumerate(REGIONS)}
    z = np.full((len(ys), len(xs)), np.nan)
    text = np.full((len(ys), len(xs)), "", dtype=object)
    for row in grid.itertuples(index=False):
        i, j = ys.index(getattr(row, y)), xs.index(getattr(row, x))
        if isinstance(row.region, str):  # a cell none of whose runs has finished has no region (None, or NaN in a frame)
            z[i, j] = index[row.region]
            text[i, j] = f"{row.region}<br>{row.in_region}/{row.runs}"
    n = len(REGIONS)
    scale = [[edge, REGION_COLOURS[r]] for k, r in enumerate(REGIONS) for edge in (k / n, (k + 1) / n)]
    fig = go.Figure(
        go.Heatmap(
            x=[str(v) for v in xs],
            y=[str(v) for v in ys],
            z=z,
            zmin=-0.5,
            zmax=n - 0.5,
            colorscale=scale,
            text=text,
            texttemplate="%{text}",
            hovertemplate=f"{x} %{{x}}<br>{y} %{{y}}<br>%{{text}}<extra></extra>",
            colorbar={"tickvals": list(range(n)), "ticktext": list(REGIONS)},
        )
    )
    fig.update_layout(xaxis_title=x, yaxis_title=y, height=460, margin={"t": 30})
    return fig


def step_figure(grid: pd.DataFrame, x: str, y: str, event: str) -> go.Figure:
    xs, ys = sorted(grid[x].unique()), sorted(grid[y].unique())
    z = np.full((len(ys), len(xs)), np.nan)
    text = np.full((len(ys), len(xs)), "", dtype=object)
    hover = np.full((len(ys), len(xs)), "no run has the event", dtype=object)
    for row in grid.itertuples(index=False):
        i, j = ys.index(getattr(row, y)), xs.index(getattr(row, x))
        if row.with_event:
            z[i, j] = row.log_step
            text[i, j] = f"{fmt_number(10**row.log_step)}<br>{row.with_event}/{row.runs}"
            hover[i, j] = f"{fmt_number(row.step_min)}–{fmt_number(row.step_max)} over {row.with_event} runs"
        else:
            text[i, j] = f"none<br>0/{row.runs}"
    fig = go.Figure(
        go.Heatmap(
            x=[str(v) for v in xs],
            y=[str(v) for v in ys],
            z=z,
            colorscale="Viridis",
            text=text,
            texttemplate="%{text}",
            customdata=hover,
            hovertemplate=f"{x} %{{x}}<br>{y} %{{y}}<br>%{{customdata}}<extra></extra>",
            colorbar={"title": f"log10 {event} step"},
        )
    )
    fig.update_layout(xaxis_title=x, yaxis_title=y, height=460, margin={"t": 30})
    return fig


def axes_figure(grid: pd.DataFrame, x: str, y: str, event: str) -> go.Figure:
    fig = go.Figure()
    for yv, group in grid.groupby(y, sort=True):
        group = group[group["with_event"] > 0].sort_values(x)
        if group.empty:
            continue
        mean = 10 ** group["log_step"]
        fig.add_trace(
            go.Scatter(
                x=group[x],
                y=mean,
                mode="lines+markers",
                name=f"{y} {yv}",
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": group["step_max"] - mean,
                    "arrayminus": mean - group["step_min"],
                },
            )
        )
    fig.update_layout(xaxis_title=x, yaxis_title=f"{event} step", yaxis_type="log", height=420, margin={"t": 30})
    return fig


def delay_figure(table: pd.DataFrame, fit: dict[str, float]) -> go.Figure:
    runs = table.dropna(subset=["delay", "lr_wd"])
    runs = runs[(runs["delay"] > 0) & (runs["lr_wd"] > 0)]
    fig = go.Figure(go.Scatter(x=runs["lr_wd"], y=runs["delay"], mode="markers", name="runs", text=runs["run"]))
    line = np.geomspace(runs["lr_wd"].min(), runs["lr_wd"].max(), 20)
    fig.add_trace(go.Scatter(x=line, y=10 ** fit["intercept"] * line ** fit["slope"], mode="lines", name="fit"))
    fig.update_layout(xaxis_type="log", yaxis_type="log", xaxis_title="lr × weight decay", yaxis_title="grokking delay (steps)")
    fig.update_layout(height=420, margin={"t": 30})
    return fig


def scaling_figure(table: pd.DataFrame, axis: str, event: str, fit: dict[str, float]) -> go.Figure:
    runs = table.dropna(subset=["event_step"])
    fig = go.Figure(go.Scatter(x=runs[axis], y=runs["event_step"], mode="markers", name="runs", text=runs["run"]))
    line = np.geomspace(runs[axis].min(), runs[axis].max(), 20)
    fig.add_trace(go.Scatter(x=line, y=10 ** fit["intercept"] * line ** fit["slope"], mode="lines", name="fit"))
    fig.update_layout(xaxis_type="log", yaxis_type="log", xaxis_title=axis, yaxis_title=f"{event} step")
    fig.update_layout(height=420, margin={"t": 30})
    return fig


def transition_scaling(table: pd.DataFrame, axes: list[str], event: str) -> list[str]:
    """One section per numeric, positive, varied axis other than the seed whose runs with the event
    span at least two of its values: the event step ∝ axis^b (analysis/delay.delay_fit)."""
    sections = []
    for axis in axes:
        values = pd.to_numeric(table[axis], errors="coerce") if axis in table else None
        if axis == "seed" or values is None or values.isna().any() or (values <= 0).any():
            continue
        fit = delay_fit(values.to_numpy(float), table["event_step"].to_numpy(float))
        if fit is None:
            continue
        counts = ", ".join(f"{fmt_number(v)}: {int(g.notna().sum())}/{len(g)}" for v, g in table.groupby(values)["event_step"])
        line = (
            f"{event} step ∝ {axis}^{fit['slope']:.2f} (90 % bootstrap interval {fit['slope_low']:.2f} to "
            f"{fit['slope_high']:.2f}, {fit['runs']} runs); runs with the event per value — {counts}"
        )
        figure = scaling_figure(table.assign(**{axis: values}), axis, event, fit)
        sections.append(
            section(f"{escape(event)} step against {escape(axis)}", escape(f"scaling-{axis}"), HINT["scaling"], figure, [line])
        )
    return sections


def delay_line(fit: dict[str, float]) -> str:
    return (
        f"delay ∝ (lr·wd)^{fit['slope']:.2f} (90 % bootstrap interval {fit['slope_low']:.2f} to {fit['slope_high']:.2f}, "
        f"{fit['runs']} runs); the weight-decay time scale 1/(lr·wd) predicts −1"
    )


def write_phase_diagram(
    store: str | Path | None, name: str, *, x: str | None = None, y: str | None = None, event: str = "grokking"
) -> Path:
    """Write `<store>/sweeps/NAME.html` atomically; returns its path. `x`, `y`: two axes of the
    sweep (default: its first two with more than one value)."""
    root = store_root(store)
    record = read_record(root, name)
    varied = [key for key, values in record["axes"].items() if len(values) > 1]
    x = _axis("--x", x or next(iter(varied), None), record)
    y = _axis("--y", y or next((key for key in varied if key != x), None), record)
    if x == y:
        raise UserError(f"--y: {y!r} is not allowed (another axis than --x)")
    table = member_table(root, name, event)
    grid = cells(table, x, y)
    sections = [
        _header(record, table),
        section("Regions", "regions", HINT["regions"], region_figure(grid, x, y)),
        section(f"When {escape(event)} happens", "steps", HINT["steps"], step_figure(grid, x, y, event)),
        section(f"{escape(event)} step along {escape(x)}", "axes", HINT["axes"], axes_figure(grid, x, y, event)),
    ]
    fit = delay_fit(table["lr_wd"].to_numpy(), table["delay"].to_numpy())
    if fit is not None:
        sections.append(
            section(
                "Grokking delay against lr × weight decay", "delay", HINT["delay"], delay_figure(table, fit), [delay_line(fit)]
            )
        )
    sections += transition_scaling(table, varied, event)
    sections.append(_members(table, record))
    path = sweep_path(root, name, ".html")
    atomic_write_bytes(path, page(f"phasewatch · sweep {name}", sections, plotly=shared_plotly(root, path)).encode("utf-8"))
    return path


def _axis(label: str, key: str | None, record: dict) -> str:
    if key is None or key not in record["axes"]:
        raise UserError(f"{label}: {key!r} is not allowed (an axis of sweep {record['name']!r}: {', '.join(record['axes'])})")
    return key


def _header(record: dict, table: pd.DataFrame) -> str:
    states = table["state"].value_counts()
    counts = ", ".join(f"{escape(str(state))} {n}" for state, n in states.items())
    axes = "; ".join(f"{escape(key)}: {escape(', '.join(map(str, values)))}" for key, values in record["axes"].items())
    return (
        f"<header><h1>phasewatch sweep {escape(record['name'])}</h1>"
        f"<p>{len(table)} runs ({counts}) of {escape(str(record.get('experiment') or record.get('config')))}</p>"
        f"<p>axes — {axes}</p></header>"
    )


def _members(table: pd.DataFrame, record: dict) -> str:
    columns = ["run", "state", *record["axes"], "region", "event_step", "final"]
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = []
    for row in table.to_dict("records"):
        cells_html = [f'<td><a href="../{escape(row["run"])}/report.html">{escape(row["run"])}</a></td>']
        cells_html += [
            f"<td>{escape(fmt_number(row[c]) if isinstance(row[c], float) else str(row[c]))}</td>" for c in columns[1:]
        ]
        body.append("<tr>" + "".join(cells_html) + "</tr>")
    return (
        f'<section id="members"><h2>Members</h2><div class="scroll"><table><tr>{head}</tr>{"".join(body)}</table></div></section>'
    )
