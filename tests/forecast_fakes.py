"""Runs with a planted transition, as forecasting histories (tests/analysis, tests/record).

The target metric (`test/accuracy`) rises at T as a logistic in log-step (width 0.08 in log-step,
so the rise is ±20 % of T wide). A planted precursor (`fourier_ipr/embed`) makes its own rise at
T/2, so at any t past T/2 its jump says T = 2·(step of the jump) exactly; a noise metric
(`weight_norm/total`) carries nothing. Runs without the target have neither rise. T is
log-uniform over [200, 2000]; probes every 10 steps to the end at 3,000.
"""

from __future__ import annotations

import numpy as np

from phasewatch.analysis.forecast import History
from phasewatch.probes.behaviour import TEST_ACCURACY, WEIGHT_NORM_TOTAL
from phasewatch.probes.fourier import FOURIER_IPR

TARGET_METRIC = TEST_ACCURACY.name
PRECURSOR = FOURIER_IPR.at("embed")
NOISE = WEIGHT_NORM_TOTAL.name
END = 3000
GRID = np.concatenate([[0, 1, 2, 5], np.arange(10, END + 1, 10)])


def rise(steps: np.ndarray, at: float, width: float = 0.08) -> np.ndarray:
    return 1 / (1 + np.exp(-(np.log(np.maximum(steps, 1)) - np.log(at)) / width))


def planted_run(index: int, truth: float | None, rng: np.random.Generator, precursor: bool = True) -> History:
    noise = rng.normal(0, 0.01, (3, len(GRID)))
    target = 0.05 + 0.95 * (rise(GRID, truth) if truth else 0.0) + noise[0]
    lead = rise(GRID, truth / 2) if truth and precursor else np.zeros(len(GRID))
    curves = {
        TARGET_METRIC: (GRID, target),
        PRECURSOR: (GRID, 0.2 + 0.6 * lead + noise[1]),
        NOISE: (GRID, 50 + 5 * rng.normal(size=len(GRID)).cumsum() * 0.1 + noise[2]),
    }
    config = {"train": {"steps": END}}
    return History(f"run{index}", curves, GRID, END, config, truth, TARGET_METRIC if truth else None)


def planted_runs(count: int, seed: int, never_share: float = 0.25, precursor: bool = True) -> list[History]:
    rng = np.random.default_rng(seed)
    runs = []
    for i in range(count):
        truth = None if rng.random() < never_share else float(np.exp(rng.uniform(np.log(200), np.log(2000))))
        runs.append(planted_run(i, truth, rng, precursor))
    return runs
