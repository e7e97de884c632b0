"""Stage boundaries of λ̂ curves with planted critical points, and negative controls of noise."""

import numpy as np

from phasewatch.analysis.stages import stage_boundaries

STEPS = np.unique(np.round(np.geomspace(1, 10_000, 40)))
X = np.log10(STEPS + 1)


def bump(center: float, width: float) -> np.ndarray:
    return np.exp(-(((X - center) / width) ** 2))


def shapes(values, **kwargs):
    return [(e["shape"], e["step_low"], e["step"], e["step_high"]) for e in stage_boundaries(STEPS, values, metric="λ", **kwargs)]


def test_a_peak_is_dated_inside_its_interval():
    """λ̂ 20 → 50 → 23, as devinterp's grokking notebook shows: one peak, at the planted top."""
    values = 20 + 30 * bump(2.5, 0.5) + 3 * (X > 2.5) * (1 - bump(2.5, 0.5))
    events = shapes(values)
    assert [e[0] for e in events] == ["peak"] or [e[0] for e in events] == ["peak", "plateau"]
    _, low, step, high = events[0]
    top = STEPS[np.argmax(values)]
    assert low <= top <= high and low <= step <= high
    assert high / low < 10  # a decade at most: the top is located


def test_a_dip_and_a_pause_in_a_rise():
    """A rise that pauses on a plateau (10^1.6–10^2.6) then rises again, then a dip."""
    rise = 10 + 20 / (1 + np.exp(-(X - 1.2) * 12)) + 20 / (1 + np.exp(-(X - 3.0) * 12))
    values = rise - 15 * bump(3.6, 0.12)
    events = shapes(values)
    kinds = [e[0] for e in events]
    assert "plateau" in kinds and "dip" in kinds
    _, low, step, high = events[kinds.index("plateau")]
    assert 10**1.4 <= low and high <= 10**2.9 and 10**1.6 <= step <= 10**2.6
    _, low, step, high = events[kinds.index("dip")]
    assert low <= 10**3.6 <= high


def test_noise_and_a_steady_trend_rarely_give_a_stage():
    """Negative controls over 100 seeds, 40 estimates, noise sd 1 and the chains' std 2 (4 chains):
    white noise around a level never; a steady log-linear climb (5 per decade, the adversarial
    case: 0.6 decades move it between h/2 and h) in at most 10 % (measured 34 of 500, module
    docstring)."""
    std = np.full(len(STEPS), 2.0)
    noise = [np.random.default_rng(seed).normal(0, 1.0, len(STEPS)) for seed in range(100)]
    assert sum(bool(shapes(30 + n, chain_std=std, chains=4)) for n in noise) == 0
    assert sum(bool(shapes(10 + 5 * X + n, chain_std=std, chains=4)) for n in noise) <= 10


def test_a_peak_survives_noise_and_one_bad_estimate():
    rng = np.random.default_rng(0)
    values = 20 + 30 * bump(2.5, 0.4) + rng.normal(0, 1.0, len(STEPS))
    values[5] = 200.0  # one diverged estimate: the running median ignores it
    events = shapes(values, chain_std=np.full(len(STEPS), 2.0), chains=4)
    assert [e[0] for e in events if e[0] != "plateau"] == ["peak"]
    assert events[0][1] <= 10**2.5 <= events[0][3]
