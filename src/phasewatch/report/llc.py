"""The local learning coefficient in the report: λ̂ over training with its band and its stages, and
the sampler's diagnostic traces at any estimate, one step slider for all three.

Top: λ̂ with a band of ± the chains' standard deviation, each `stage_boundary` event as a
shaded interval labelled with its shape (peak, dip, plateau). Below, for the step the slider
picks: every chain's loss L_B(w_t), distance ‖w_t − w*‖ and MALA acceptance probability against
the sampler step, the burn-in shaded (a built-in run's `probes.llc.burn_in`). A healthy estimate has flat loss traces after burn-in that
overlap across chains, a bounded distance and acceptance near 1 (llc/diagnostics.py).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from phasewatch.probes.llc import LLC_MEAN, LLC_STD, LLC_TRACE
from phasewatch.report.figures import PALETTE, select_steps

TRACES = (("loss", "loss L_B(w_t)"), ("distance", "‖w_t − w*‖"), ("acceptance", "MALA acceptance"))


def llc_figure(run, data: dict, events: list[dict]) -> go.Figure | None:
    """None when the run has no λ̂ curve."""
    if LLC_MEAN.name not in data:
        return None
    steps, mean = data[LLC_MEAN.name]
    std = data[LLC_STD.name][1] if LLC_STD.name in data else np.zeros_like(mean)
    saved = run.array_steps(LLC_TRACE)
    frames = select_steps(saved) if saved else []
    titles = ["λ̂ over training (± the chains' sd)", *(label for _, label in TRACES)] if frames else ["λ̂ over training"]
    rows = len(titles) if frames else 1
    fig = make_subplots(rows=rows, cols=1, subplot_titles=titles, vertical_spacing=0.08)
    x = np.maximum(steps, 1)  # the log axis shows step 0 at 1
    band = np.concatenate([mean + std, (mean - std)[::-1]])
    fig.add_trace(go.Scatter(x=np.concatenate([x, x[::-1]]), y=band, fill="toself", line={"width": 0}, opacity=0.25, name="± sd"))
    fig.add_trace(go.Scatter(x=x, y=mean, mode="lines+markers", name="λ̂", line={"color": PALETTE[0]}))
    for event in events:
        if event["kind"] == "stage_boundary":
            fig.add_vrect(
                x0=max(event["step_low"], 1), x1=max(event["step_high"], 1), opacity=0.15, fillcolor="#bcbd22", line_width=0
            )
            fig.add_annotation(
                x=np.log10(max(event["step"], 1)), y=1, yref="y domain", text=event.get("shape", ""), showarrow=False
            )
    fig.update_xaxes(type="log", title_text="step", row=1, col=1)
    if frames:
        _add_traces(fig, run, frames)
    fig.update_layout(template="plotly_white", height=320 + 230 * (rows - 1), margin={"t": 40}, showlegend=False)
    return fig


def _add_traces(fig: go.Figure, run, frames: list[int]) -> None:
    """The diagnostic traces at each frame step, switched by one slider (opened at the last)."""
    loaded = [run.load_array(LLC_TRACE, step) for step in frames]
    chains = loaded[-1][TRACES[0][0]].shape[0]
    first = len(fig.data)
    burn_in = run.config.get("probes", {}).get("llc", {}).get("burn_in")
    for row, (key, _) in enumerate(TRACES, start=2):
        for chain in range(chains):
            values = loaded[-1][key][chain].numpy()
            fig.add_trace(
                go.Scatter(
                    y=values, mode="lines", line={"width": 1, "color": PALETTE[chain % len(PALETTE)]}, name=f"chain {chain}"
                ),
                row=row,
                col=1,
            )
        fig.update_xaxes(title_text="sampler step", row=row, col=1)
        if burn_in:  # after the traces: plotly leaves shapes off a subplot that has no data yet
            fig.add_vrect(x0=0, x1=burn_in, opacity=0.15, fillcolor="grey", line_width=0, row=row, col=1)
    indices = list(range(first, len(fig.data)))
    fig.frames = [
        go.Frame(
            name=str(step),
            data=[go.Scatter(y=arrays[key][chain].numpy()) for key, _ in TRACES for chain in range(chains)],
            traces=indices,
        )
        for step, arrays in zip(frames, loaded)
    ]
    jump = {"mode": "immediate", "frame": {"duration": 0, "redraw": True}, "transition": {"duration": 0}}
    fig.update_layout(
        sliders=[
            {
                "active": len(frames) - 1,
                "currentvalue": {"prefix": "traces at step "},
                "pad": {"t": 40},
                "steps": [{"label": str(step), "method": "animate", "args": [[str(step)], jump]} for step in frames],
            }
        ]
    )
