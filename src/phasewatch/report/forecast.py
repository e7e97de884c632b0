"""The live forecast's cone in a run's report (`cone_figure`): for each target a run forecast live (record/forecast.py), the predicted
step of the target at each probe step with its 90 % interval as a band, the line where the
forecast step equals the present, and the step the target truly happened (the run's first event
of that kind), with the probability below.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from phasewatch.probes.training import FORECAST
from phasewatch.report.figures import PALETTE

HINT = {
    "cone": "At each probe step (x), the step the forecaster predicts for its target (line) and its 90 % interval "
    "(band), from what the run had recorded by then; the dotted diagonal is the present, the dashed line the step "
    "the target truly happened (if it did). Below: the forecast probability that it happens by the run's end.",
}


def forecast_targets(data: dict) -> list[str]:
    return sorted({name.split("/")[1] for name in data if FORECAST.matches(name) and name.count("/") == 2})


def cone_figure(data: dict, events: list[dict]) -> go.Figure | None:
    """None when the run recorded no forecast."""
    targets = forecast_targets(data)
    if not targets:
        return None
    fig = make_subplots(rows=2, cols=1, row_heights=[0.72, 0.28], shared_xaxes=True, vertical_spacing=0.06)
    for k, target in enumerate(targets):
        colour = PALETTE[k % len(PALETTE)]
        step, low, high = (
            data.get(FORECAST.at(target, field), (np.array([]), np.array([]))) for field in ("step", "low", "high")
        )
        if len(low[0]) and len(high[0]):
            x = low[0]
            band = np.concatenate([high[1], low[1][::-1]])
            fig.add_trace(
                go.Scatter(
                    x=np.concatenate([x, x[::-1]]), y=band, fill="toself", line={"width": 0}, opacity=0.2, name=f"{target}: 90 %"
                ),
                row=1,
                col=1,
            )
        fig.add_trace(
            go.Scatter(x=step[0], y=step[1], mode="lines+markers", line={"color": colour}, name=f"{target}: forecast"),
            row=1,
            col=1,
        )
        truth = [e["step"] for e in events if e["kind"] == target]
        if truth:  # a trace, not an hline: plotly reads an hline's label on a log axis as log10(y)
            span = [float(step[0].min()), float(step[0].max())] if len(step[0]) else [0.0, float(min(truth))]
            fig.add_trace(
                go.Scatter(
                    x=span, y=[min(truth)] * 2, mode="lines", line={"dash": "dash", "color": colour}, name=f"{target} happened"
                ),
                row=1,
                col=1,
            )
        probability = data.get(FORECAST.at(target, "probability"))
        if probability is not None:
            fig.add_trace(
                go.Scatter(x=probability[0], y=probability[1], mode="lines", line={"color": colour}, name=f"{target}: P"),
                row=2,
                col=1,
            )
    steps = np.concatenate([data[name][0] for name in data if FORECAST.matches(name)])
    span = [max(float(steps.min()), 1.0), float(steps.max())]
    fig.add_trace(go.Scatter(x=span, y=span, mode="lines", line={"dash": "dot", "color": "grey"}, name="now"), row=1, col=1)
    fig.update_yaxes(type="log", title_text="forecast step", row=1, col=1)
    fig.update_yaxes(range=[0, 1.02], title_text="P(by the end)", row=2, col=1)
    fig.update_xaxes(title_text="step the forecast was made", row=2, col=1)
    fig.update_layout(template="plotly_white", height=520, margin={"t": 30})
    return fig
