"""Fit the attribute-coupled UFM's alignment curve to a run's
(docs/science/structure_before_collapse.md).

Library. The coupled UFM (models/ufm.py) on the `items` task with the reference defaults — factors
(2, 3, 2), m = 4, d = 64, λ_W = λ_F = 1e-3 (weight decay 2e-3; λ_B = r·λ_F), init 1e-3, seed 0,
full-batch SGD lr 0.5, no momentum — is trained for HORIZON = 2·10⁴ steps at every decay ratio r
in RATIOS at once, and `semantic_alignment/features` is measured on a log grid of steps. That
horizon covers the r = 100 rise (peak ≈ step 220) and most of its fall (0.68 → 0.055; the
remaining 10⁵-step tail only reaches 0.043); beyond it a curve is held at its last value.
The library is deterministic and cached per process (measured ≈ 6.5 s on one core).

The update is the closed-form gradient of the UFM's loss, CE(H W, I)/N with H = F + A B,
batched over r, because autograd through `UFM` costs ≈ 1 ms a step for one r here (≈ 140 s for
the library) and this ≈ 0.3 ms a step for all seven:
    P = (softmax(H W) − I)/N,  ∂W = Hᵀ P,  ∂H = P Wᵀ,  ∂F = ∂H,  ∂B = Aᵀ ∂H,
    θ ← θ − lr·(∂θ + wd_θ·θ)    (torch SGD with weight decay, as the train loop runs it).
The initial F, W come from constructing `UFM` itself (same seed as a run), and the features are
read back through its `features` hook; tests/analysis/test_ufm_fit.py checks the simulated curve
against the one a real `ufm` run records (agreement to 1e-5; 5e-7 measured over 2·10⁴ steps).

Fit. y(s) ≈ offset + amplitude·b_r(α·s) over the run's probe steps s: for every r and every α on
a grid of log10 α in [−3, 3] (step 0.01, refined to 0.0005 around the best), b_r is
interpolated linearly in log10(1 + t), amplitude and offset are the closed-form least-squares
solution (amplitude ≥ 0: if the unconstrained slope is negative, amplitude = 0 and offset =
mean y), and the (r, α) with the least squared error wins. R² = 1 − SSE/SST (0 for a constant
curve).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from phasewatch.analysis.changepoints import finite_sorted
from phasewatch.models import UFM
from phasewatch.probes.geometry import semantic_alignment
from phasewatch.tasks.items import items_task

RATIOS = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)
HORIZON = 20_000
GRID_POINTS = 150  # log-spaced measurement steps in [1, HORIZON], plus step 0
FACTORS, PER_COMBINATION, D_MODEL, INIT = (2, 3, 2), 4, 64, 1e-3
WEIGHT_DECAY, LR, SEED = 2e-3, 0.5, 0
LOG_ALPHA = np.round(np.arange(-3.0, 3.0 + 1e-9, 0.01), 4)
REFINE = np.arange(-0.01, 0.01 + 1e-9, 0.0005)


def measure_grid(horizon: int = HORIZON, points: int = GRID_POINTS) -> np.ndarray:
    """Step 0 and `points` log-spaced steps up to `horizon` (unique ints)."""
    return np.unique(np.concatenate([[0], np.round(np.geomspace(1, horizon, points))]).astype(int))


def simulate_alignment(ratios, measure_at) -> np.ndarray:
    """semantic_alignment/features of the coupled UFM (module defaults) at each step of
    `measure_at` (ints, ascending), for each decay ratio: an array (len(ratios), len(measure_at)).
    Runs on one thread: these matrices are tiny, and a second thread only adds synchronisation
    (measured 27× slower with two threads on a busy 2-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            return _simulate(torch.as_tensor(ratios, dtype=torch.float32), [int(s) for s in measure_at])
    finally:
        torch.set_num_threads(threads)


def _simulate(ratios: torch.Tensor, measure_at: list[int]) -> np.ndarray:
    task = items_task(FACTORS, PER_COMBINATION)
    items, kernel, n = task.train.inputs, task.attribute_kernel(), task.num_classes
    assert task.attributes is not None and kernel is not None  # an items task has attributes
    torch.manual_seed(SEED)
    model = UFM(task.attributes, d_model=D_MODEL, init=INIT)  # the init `phasewatch run ufm` uses
    copies = len(ratios)
    a = task.attributes.expand(copies, -1, -1).contiguous()
    a_t = task.attributes.T.expand(copies, -1, -1).contiguous()
    f = model.get_parameter("item_embed.W").detach().expand(copies, -1, -1).clone()
    w = model.get_parameter("unembed.W").detach().expand(copies, -1, -1).clone()
    b = torch.zeros(copies, *model.get_parameter("attribute_embed.W").shape)
    eye = torch.eye(n)
    shrink, shrink_b = 1 - LR * WEIGHT_DECAY, (1 - LR * WEIGHT_DECAY * ratios).view(-1, 1, 1)
    curves = np.empty((copies, len(measure_at)))
    for column, (start, stop) in enumerate(zip([0, *measure_at[:-1]], measure_at)):
        for _ in range(stop - start):  # the fused in-place form of the update in the module docstring
            h = torch.baddbmm(f, a, b)
            p = torch.softmax(torch.bmm(h, w), dim=-1).sub_(eye).div_(n)
            grad_h = torch.bmm(p, w.transpose(1, 2))
            w.baddbmm_(h.transpose(1, 2), p, beta=shrink, alpha=-LR)
            f.mul_(shrink).sub_(grad_h, alpha=LR)
            b.mul_(shrink_b).baddbmm_(a_t, grad_h, alpha=-LR)
        curves[:, column] = [_alignment(model, items, kernel, *params) for params in zip(f, b, w)]
    return curves


def _alignment(model: UFM, items: torch.Tensor, kernel: torch.Tensor, f, b, w) -> float:
    """The alignment of the features `model` computes with parameters (f, b, w)."""
    model.get_parameter("item_embed.W").copy_(f)
    model.get_parameter("attribute_embed.W").copy_(b)
    model.get_parameter("unembed.W").copy_(w)
    _, cache = model.run_with_cache(items, names=["features"])
    return semantic_alignment(cache["features"], kernel)


@lru_cache(maxsize=4)
def ufm_library(ratios: tuple[float, ...] = RATIOS, horizon: int = HORIZON) -> tuple[np.ndarray, np.ndarray]:
    """(steps, curves): the coupled UFM's alignment at `measure_grid(horizon)` for each ratio;
    cached, as it is deterministic."""
    steps = measure_grid(horizon)
    return steps, simulate_alignment(ratios, steps)


def fit_ufm(steps, values, *, metric: str, ratios: tuple[float, ...] = RATIOS, horizon: int = HORIZON) -> dict | None:
    """Fit offset + amplitude·b_r(α·s) to a run's curve (module docstring); None with < 3 points.

    Returns the JSON-ready dict saved as analysis/ufm_fit.json: {metric, r, time_scale (α),
    amplitude, offset, r2, steps, predicted} (predicted: the fitted curve at `steps`).
    `ratios`/`horizon` choose the library (the defaults are the reference grid)."""
    steps, values = finite_sorted(steps, values)
    if len(steps) < 3:
        return None
    library_steps, curves = ufm_library(tuple(ratios), horizon)
    t = np.log10(library_steps + 1.0)
    fits = [(*_fit_time_scale(t, curve, steps, values), r) for r, curve in zip(ratios, curves)]
    sse, alpha, amplitude, offset, prediction, r = min(fits, key=lambda fit: fit[0])
    sst = float(np.sum((values - values.mean()) ** 2))
    return {
        "metric": metric,
        "r": float(r),
        "time_scale": float(alpha),
        "amplitude": float(amplitude),
        "offset": float(offset),
        "r2": 1.0 - float(sse) / sst if np.ptp(values) > 0 else 0.0,
        "steps": [int(s) for s in steps],
        "predicted": (offset + amplitude * prediction).tolist(),
    }


def _fit_time_scale(t: np.ndarray, curve: np.ndarray, steps: np.ndarray, values: np.ndarray) -> tuple:
    """The best α for one library curve: the LOG_ALPHA grid, then REFINE around its best.
    Returns (sse, α, amplitude, offset, library curve at α·steps)."""
    grid = LOG_ALPHA
    for _ in range(2):
        predictions = np.interp(np.log10(np.outer(10.0**grid, steps) + 1.0), t, curve)
        sse, amplitude, offset = _least_squares(predictions, values)
        i = int(np.argmin(sse))
        best = (float(sse[i]), 10.0 ** grid[i], amplitude[i], offset[i], predictions[i])
        grid = grid[i] + REFINE
    return best


def _least_squares(predictions: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row p of `predictions`: y ≈ offset + amplitude·p with amplitude ≥ 0 → (sse, amplitude, offset)."""
    p = predictions - predictions.mean(axis=1, keepdims=True)
    yc = y - y.mean()
    var = np.sum(p * p, axis=1)
    amplitude = np.where(var > 0, np.maximum(p @ yc, 0.0) / np.where(var > 0, var, 1.0), 0.0)
    offset = y.mean() - amplitude * predictions.mean(axis=1)
    sse = np.sum((y - offset[:, None] - amplitude[:, None] * predictions) ** 2, axis=1)
    return sse, amplitude, offset
