"""Phase detector benchmark: false alarms on transition-free curves, localisation on planted ones.

    .venv/bin/python bench/detector.py            # prints the tables; ~1 min on one core

Curves sit on the training loop's own probe grid (log-spaced early, every `every` steps later:
`phasewatch.train.probe_steps`) with 1,000-10,000 steps and 100-300 points, and are analysed on
the log-step axis, as `detect_events` does. One fixed seed: the numbers are reproducible.

Null curves (no transition), noise sd = r × the curve's total change (or × 1 for pure noise):
  noise     constant + white noise
  powerlaw  a·(t + t0)^-α + c, α ∈ [0.2, 1.5], t0 ∈ [1, 100] (log-uniform), r ∈ [0.003, 0.3]
  drift     b·t/T or b·log(1 + t)/log(1 + T) (half each), r ∈ [0.003, 0.3]
each once with white noise and once with AR(1) noise (coefficient 0.6 along the grid: "+ar").
Planted curves: one logistic step in log-step, midpoint u0 ∈ [0.3, 0.9] of the log-step range,
10-90 % width ∈ [0.01, 0.15] of that range (log-uniform), up or down, amplitude/noise ∈ [2, 50]
(log-uniform), on a flat baseline (half) or on a power-law decay half the step's size (half);
400 with white noise, 200 with the AR(1) noise ("+ar"; amplitude/noise uses its marginal sd).
A planted step counts as found when a detected transition's [onset, end] or [step_low, step_high]
holds the true midpoint, or its midpoint lies in the true [onset, end].
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # single-threaded, like the rest of the bench
os.environ.setdefault("MKL_NUM_THREADS", "1")

import platform  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from scipy.special import expit  # noqa: E402

from phasewatch.analysis import find_transitions  # noqa: E402
from phasewatch.train import probe_steps  # noqa: E402

N_NULL = 100  # per family and noise kind
RHO = 0.6  # the correlated-noise variant: AR(1) along the grid, like a training curve's wiggles
N_PLANTED = 400
SEED = 20240601
LN9 = np.log(9.0)


def grid(rng: np.random.Generator) -> np.ndarray:
    total = int(rng.choice([1000, 3000, 10000]))
    return np.array(probe_steps(total, every=total // int(rng.integers(80, 260)), log_points=int(rng.integers(20, 41))))


def noise(n: int, rng: np.random.Generator, rho: float = 0.0) -> np.ndarray:
    """Unit-variance AR(1) noise along the grid (rho = 0: white)."""
    e = rng.normal(0, 1, n)
    z = np.empty(n)
    z[0] = e[0]
    for i in range(1, n):
        z[i] = rho * z[i - 1] + np.sqrt(1 - rho**2) * e[i]
    return z


def null_curve(family: str, rng: np.random.Generator, rho: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    t = grid(rng)
    r = np.exp(rng.uniform(np.log(0.003), np.log(0.3)))
    if family == "noise":
        return t, 1.0 + noise(len(t), rng, rho)
    if family == "powerlaw":
        alpha, t0 = rng.uniform(0.2, 1.5), np.exp(rng.uniform(0, np.log(100)))
        y = 3.0 * (t + t0) ** -alpha / t0**-alpha + rng.uniform(0, 1)
    else:
        y = t / t[-1] if rng.random() < 0.5 else np.log1p(t) / np.log1p(t[-1])
        y = rng.choice([-1, 1]) * y
    return t, y + r * np.ptp(y) * noise(len(t), rng, rho)


def planted_curve(rng: np.random.Generator, rho: float = 0.0) -> tuple:
    """(steps, values, true midpoint, true onset, true end, amplitude/noise)."""
    t = grid(rng)
    span = np.log10(t[-1] + 1)
    u0 = rng.uniform(0.3, 0.9) * span
    s = np.exp(rng.uniform(np.log(0.01), np.log(0.15))) * span / (2 * LN9)
    amplitude, snr = rng.choice([-1, 1]), np.exp(rng.uniform(np.log(2), np.log(50)))
    x = np.log10(t + 1)
    y = amplitude * expit((x - u0) / s)
    if rng.random() < 0.5:
        y = y + 0.5 * (t + 10.0) ** -0.5 / 10**-0.5
    y = y + noise(len(t), rng, rho) / snr
    to_step = lambda v: 10**v - 1  # noqa: E731
    return t, y, to_step(u0), to_step(u0 - LN9 * s), to_step(u0 + LN9 * s), snr


def main() -> None:
    rng = np.random.default_rng(SEED)
    elapsed, curves = 0.0, 0

    def detect(t, y):
        nonlocal elapsed, curves
        began = time.perf_counter()
        found = find_transitions(t, y)
        elapsed += time.perf_counter() - began
        curves += 1
        return found

    print("false alarms (share of transition-free curves with >= 1 transition)")
    alarms = {}
    for rho in (0.0, RHO):
        for family in ("noise", "powerlaw", "drift"):
            label = family if rho == 0 else f"{family}+ar"
            alarms[label] = [len(detect(*null_curve(family, rng, rho))) > 0 for _ in range(N_NULL)]
            print(f"  {label:12s} {np.mean(alarms[label]):6.1%}  ({sum(alarms[label])}/{N_NULL})")
    for name, labels in (("white", ("noise", "powerlaw", "drift")), ("all", tuple(alarms))):
        every = [a for label in labels for a in alarms[label]]
        print(f"  {'overall ' + name:12s} {np.mean(every):6.1%}  ({sum(every)}/{len(every)})")

    print("planted transitions (error: |log10(found/true)| in decades / |found - true| in % of the step)")
    for rho, count, suffix in ((0.0, N_PLANTED, ""), (RHO, N_PLANTED // 2, " +ar")):
        rows = []  # snr, found, decades, percent, covered, extra transitions
        for _ in range(count):
            t, y, true, onset, end, snr = planted_curve(rng, rho)
            found = detect(t, y)
            hits = [f for f in found if min(f.onset, f.step_low) <= true <= max(f.end, f.step_high) or onset <= f.step <= end]
            if hits:
                best = min(hits, key=lambda f: abs(np.log10((f.step + 1) / (true + 1))))
                rows.append(
                    (
                        snr,
                        True,
                        abs(np.log10((best.step + 1) / (true + 1))),
                        100 * abs(best.step - true) / true,
                        best.step_low <= true <= best.step_high,
                        len(found) - 1,
                    )
                )
            else:
                rows.append((snr, False, np.nan, np.nan, False, len(found)))
        table = np.array(rows, dtype=float)
        for low, high, label in ((2, 5, "snr 2-5"), (5, 10, "snr 5-10"), (10, 51, "snr 10-50"), (0, 51, "all")):
            part = table[(table[:, 0] >= low) & (table[:, 0] < high)]
            hit = part[part[:, 1] == 1]
            print(
                f"  {label + suffix:13s} n={len(part):3d}  detected {len(hit) / len(part):6.1%}"
                f"  error median {np.median(hit[:, 2]):.3f} dec / {np.median(hit[:, 3]):.1f} %"
                f"  p90 {np.quantile(hit[:, 2], 0.9):.3f} dec / {np.quantile(hit[:, 3], 0.9):.1f} %"
                f"  coverage {hit[:, 4].mean():6.1%}  extra {part[:, 5].sum():.0f}"
            )
    print(f"mean {1e3 * elapsed / curves:.1f} ms per curve over {curves} curves")
    print(
        f"machine: {platform.processor() or platform.machine()}, nproc {os.cpu_count()}, "
        f"python {platform.python_version()}, numpy {np.__version__}"
    )


if __name__ == "__main__":
    main()
