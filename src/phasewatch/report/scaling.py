"""The page of a scaling-law fit: parameters with intervals, residuals, and the fitted law over the data."""

from __future__ import annotations

from html import escape
from pathlib import Path

import numpy as np
import plotly.graph_objects as go

from phasewatch.analysis.scaling import ScalingFit
from phasewatch.report.common import fmt_number
from phasewatch.report.html import page, section
from phasewatch.store.atomic import atomic_write_bytes

HINT = {
    "residuals": "log L̂ − log L per point against the fitted loss: a law that fits leaves residuals without a trend.",
    "surface": "The fitted loss over the data's range (contours), the points coloured by their loss, and the "
    "compute-optimal allocation N_opt(C) (line).",
    "curve": "The points and the fitted law; the dashed line is the floor E.",
}


def residual_figure(fit: ScalingFit, columns: list[np.ndarray], loss: np.ndarray) -> go.Figure:
    predicted = fit.predict(*columns)
    figure = go.Figure(
        go.Scatter(
            x=predicted,
            y=np.log(predicted) - np.log(loss),
            mode="markers",
            marker={"color": np.log10(columns[0]), "colorscale": "Viridis", "colorbar": {"title": f"log₁₀ {fit.variables[0]}"}},
            hovertemplate="L̂ %{x:.4f}<br>residual %{y:.4f}<extra></extra>",
        )
    )
    figure.add_hline(y=0, line_dash="dot")
    figure.update_layout(xaxis_title="fitted loss L̂", yaxis_title="log L̂ − log L", height=420, margin={"t": 30})
    return figure


def surface_figure(fit: ScalingFit, n: np.ndarray, d: np.ndarray, loss: np.ndarray) -> go.Figure:
    log_n = np.linspace(np.log10(n.min()), np.log10(n.max()), 80)
    log_d = np.linspace(np.log10(d.min()), np.log10(d.max()), 80)
    grid_n, grid_d = np.meshgrid(10**log_n, 10**log_d)
    figure = go.Figure(
        go.Contour(
            x=log_n, y=log_d, z=fit.predict(grid_n, grid_d), colorscale="Greys", showscale=False, contours={"showlabels": True}
        )
    )
    figure.add_trace(
        go.Scatter(
            x=np.log10(n),
            y=np.log10(d),
            mode="markers",
            name="points",
            marker={"color": loss, "colorscale": "Viridis", "colorbar": {"title": "loss"}},
            hovertemplate="N %{x:.2f}<br>D %{y:.2f}<extra></extra>",
        )
    )
    compute = np.geomspace(6 * n.min() * d.min(), 6 * n.max() * d.max(), 50)
    optimum = fit.compute_optimal(compute)
    figure.add_trace(go.Scatter(x=np.log10(optimum["N_opt"]), y=np.log10(optimum["D_opt"]), mode="lines", name="compute-optimal"))
    figure.update_layout(
        xaxis_title="log₁₀ N (parameters)",
        yaxis_title="log₁₀ D (tokens)",
        xaxis_range=[log_n[0], log_n[-1]],
        yaxis_range=[log_d[0], log_d[-1]],
        height=520,
        margin={"t": 30},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"},  # above the plot, clear of the colour bar
    )
    return figure


def curve_figure(fit: ScalingFit, x: np.ndarray, loss: np.ndarray) -> go.Figure:
    line = np.geomspace(x.min(), x.max(), 200)
    figure = go.Figure(go.Scatter(x=x, y=loss, mode="markers", name="points"))
    figure.add_trace(go.Scatter(x=line, y=fit.predict(line), mode="lines", name="fit"))
    figure.add_hline(y=fit.params["E"], line_dash="dash")
    figure.update_layout(xaxis_type="log", yaxis_type="log", xaxis_title=fit.variables[0], yaxis_title="loss", height=420)
    return figure


def _parameters(fit: ScalingFit) -> str:
    rows = []
    for key, value in fit.params.items():
        low, high = fit.intervals.get(key, (None, None))
        interval = f"{fmt_number(low)} – {fmt_number(high)}" if low is not None else "–"
        rows.append(f"<tr><td>{escape(key)}</td><td>{escape(fmt_number(value))}</td><td>{escape(interval)}</td></tr>")
    level = f"{fit.level:.0%} bootstrap interval ({fit.resamples} resamples)" if fit.resamples else "interval (no bootstrap)"
    return (
        f"<section id='parameters'><h2>Parameters</h2><table><tr><th>parameter</th><th>estimate</th><th>{escape(level)}</th></tr>"
        + "".join(rows)
        + "</table></section>"
    )


def write_scaling_page(fit: ScalingFit, data, path: str | Path, *, title: str) -> Path:
    """Write the fit's page to `path` atomically (the data: the columns the fit used and `loss`)."""
    columns = [np.asarray(data[v], dtype=np.float64) for v in fit.variables]
    loss = np.asarray(data["loss"], dtype=np.float64)
    law = "L = E + A/N^α + B/D^β" if fit.form == "chinchilla" else f"L = E + ({fit.variables[0]}_c/{fit.variables[0]})^α"
    header = (
        f"<header><h1>phasewatch scaling fit: {escape(title)}</h1>"
        f"<p>{escape(fit.form)}: {escape(law)}, {fit.points} points; sum of Huber losses (δ = 1e-3) on log L = "
        f"{fit.objective:.4g}; L-BFGS-B from {fit.starts} grid starts, {fit.seconds:.1f} s</p></header>"
    )
    sections = [
        header,
        _parameters(fit),
        section("Residuals", "residuals", HINT["residuals"], residual_figure(fit, columns, loss)),
    ]
    if fit.form == "chinchilla":
        optimum = fit.compute_optimal(np.array([1e21, 1e23, 1e25]))
        lines = [
            f"C = {c:.0e} FLOPs: N_opt {n:.3g}, D_opt {d:.3g}, {r:.1f} tokens per parameter"
            for c, n, d, r in zip([1e21, 1e23, 1e25], optimum["N_opt"], optimum["D_opt"], optimum["tokens_per_parameter"])
        ]
        sections.append(
            section("The fitted law", "surface", HINT["surface"], surface_figure(fit, columns[0], columns[1], loss), lines)
        )
    else:
        sections.append(section("The fitted law", "curve", HINT["curve"], curve_figure(fit, columns[0], loss)))
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(target, page(f"phasewatch · scaling {title}", sections).encode("utf-8"))
    return target
