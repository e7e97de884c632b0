"""A forecasting backtest's page (analysis/backtest.py): per split, a table of every forecaster's
scores, the calibration plot (forecast probability against how often the target happened) and
the error of the predicted step against how far the run was to its target, then the precursor
ablation."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go

from phasewatch.analysis.backtest import FRACTIONS
from phasewatch.report.common import fmt_number
from phasewatch.report.figures import PALETTE
from phasewatch.report.html import page, section
from phasewatch.store.atomic import atomic_write_bytes

HINT = {
    "calibration": "Every forecast on the held-out runs, binned by its probability that the target happens by the "
    "end (x), against the share of those runs where it did (y). On the diagonal: calibrated.",
    "error": "Median |log T̂ − log T| of the predicted step over the held-out runs with the target, against how far "
    "each run was to it when forecast (0.1: a tenth of the way). log 1.2 ≈ 0.18 is within ±20 %.",
}
SCORES = (
    ("median_lead_share", "lead (share of T)"),
    ("median_lead_steps", "lead (steps)"),
    ("runs_ever_within", "runs ever within ±20 %"),
    ("median_log_error", "median |log error|"),
    ("forecasts_made", "forecasts made"),
    ("coverage", "90 % interval coverage"),
    ("hit_rate", "hits (p ≥ 0.5, target happens)"),
    ("false_alarm_rate", "false alarms (p ≥ 0.5, never happens)"),
    ("brier", "Brier"),
)


def _laid_out(fig: go.Figure, x: str, y: str) -> go.Figure:
    fig.update_layout(template="plotly_white", height=360, xaxis_title=x, yaxis_title=y, margin={"t": 20})
    return fig


def _calibration_figure(forecasters: dict[str, dict]) -> go.Figure:
    fig = go.Figure(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot", "color": "grey"}, name="calibrated"))
    for k, (name, scored) in enumerate(forecasters.items()):
        bins = scored["calibration"]
        fig.add_trace(
            go.Scatter(
                x=[b["predicted"] for b in bins],
                y=[b["observed"] for b in bins],
                text=[f"{b['n']} forecasts" for b in bins],
                mode="lines+markers",
                line={"color": PALETTE[k % len(PALETTE)]},
                name=name,
            )
        )
    return _laid_out(fig, "forecast probability", "share that happened")


def _error_figure(forecasters: dict[str, dict]) -> go.Figure:
    fig = go.Figure()
    for k, (name, scored) in enumerate(forecasters.items()):
        errors = scored["median_log_error_by_fraction"]
        fig.add_trace(
            go.Scatter(
                x=list(FRACTIONS),
                y=[errors.get(str(f)) for f in FRACTIONS],
                mode="lines+markers",
                line={"color": PALETTE[k % len(PALETTE)]},
                name=name,
            )
        )
    fig.add_hline(y=float(np.log(1.2)), line_dash="dot", annotation_text="±20 %")
    return _laid_out(fig, "share of the way to the target when forecast", "median |log T̂ − log T|")


def _scores_table(rows: dict[str, dict], columns=SCORES) -> str:
    head = "".join(f"<th>{escape(label)}</th>" for _, label in columns)
    body = "".join(
        f"<tr><td>{escape(name)}</td>"
        + "".join(f"<td>{escape(fmt_number(scored.get(key)))}</td>" for key, _ in columns)
        + "</tr>"
        for name, scored in rows.items()
    )
    return f"<table><tr><th>forecaster</th>{head}</tr>{body}</table>"


def write_backtest_page(result: dict[str, Any], out: Path, title: str) -> Path:
    """The backtest's page at `out`, written atomically."""
    sections = [f"<header><h1>{escape(title)}</h1><p>target: <b>{escape(result['target'])}</b></p></header>"]
    for by, split in result["splits"].items():
        if "skipped" in split:
            sections.append(f"<section><h2>held out by {escape(by)}</h2><p>{escape(split['skipped'])}</p></section>")
            continue
        counts = f"{split['train_runs']} training runs, {split['held_out_runs']} held out"
        sections.append(
            f"<section><h2>held out by {escape(by)}</h2><p>{counts}</p>{_scores_table(split['forecasters'])}</section>"
        )
        sections.append(
            section(
                f"Calibration, held out by {escape(by)}",
                f"calibration-{by}",
                HINT["calibration"],
                _calibration_figure(split["forecasters"]),
            )
        )
        sections.append(
            section(
                f"Error against lead, held out by {escape(by)}", f"error-{by}", HINT["error"], _error_figure(split["forecasters"])
            )
        )
        ablation = {f"precursors without {family}": scored for family, scored in split["ablation"].items()}
        sections.append(f"<section><h2>Ablation, held out by {escape(by)}</h2>{_scores_table(ablation, SCORES[:6])}</section>")
    atomic_write_bytes(out, page(title, sections).encode("utf-8"))
    return out
