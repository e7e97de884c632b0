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
    """λ̂ 20 → 50 → 23, as devinterp's grokking notebook shows: the curve leaves its first level,
    peaks at the planted top, and settles on its last level."""
    values = 20 + 30 * bump(2.5, 0.5) + 3 * (X > 2.5) * (1 - bump(2.5, 0.5))
    events = shapes(values)
    assert [e[0] for e in events] == ["plateau", "peak", "plateau"]
    top = STEPS[np.argmax(values)]
    (_, low, step, high), peak, (_, last_low, last, _) = events
    assert high < 10**2.5 / 3  # the first stage ends well before the top ...
    assert peak[1] <= top <= peak[3] and peak[3] / peak[1] < 10  # ... located within a decade ...
    assert last > 10**3  # ... and the last begins once the bump has decayed


def test_a_dip_and_a_pause_in_a_rise():
    """Two rises (at 10^1.2 and 10^3.0) with a pause between them, then a dip at 10^3.6."""
    rise = 10 + 20 / (1 + np.exp(-(X - 1.2) * 12)) + 20 / (1 + np.exp(-(X - 3.0) * 12))
    values = rise - 15 * bump(3.6, 0.12)
    events = shapes(values)
    assert [e[0] for e in events] == ["plateau", "plateau", "peak", "dip"]
    (_, _, first_end, _), (_, low, pause, high), _, (_, dip_low, _, dip_high) = events
    assert first_end < 10**1.2  # the first stage ends as the first rise begins
    assert 10**1.4 <= low and high <= 10**2.9 and 10**1.6 <= pause <= 10**2.6
    assert dip_low <= 10**3.6 <= dip_high


def test_noise_and_a_steady_trend_rarely_give_a_stage():
    """Negative controls over 100 seeds, 40 estimates, noise sd 1 and the chains' std 2 (4 chains):
    white noise around a level never; a steady log-linear climb (5 per decade, the adversarial
    case: 0.6 decades move it between h/2 and h) in at most 15 % (measured 56 of 500, module
    docstring)."""
    std = np.full(len(STEPS), 2.0)
    noise = [np.random.default_rng(seed).normal(0, 1.0, len(STEPS)) for seed in range(100)]
    assert sum(bool(shapes(30 + n, chain_std=std, chains=4)) for n in noise) == 0
    assert sum(bool(shapes(10 + 5 * X + n, chain_std=std, chains=4)) for n in noise) <= 15


def test_a_peak_survives_noise_and_one_bad_estimate():
    rng = np.random.default_rng(0)
    values = 20 + 30 * bump(2.5, 0.4) + rng.normal(0, 1.0, len(STEPS))
    values[5] = 200.0  # one diverged estimate: the running median ignores it
    events = shapes(values, chain_std=np.full(len(STEPS), 2.0), chains=4)
    assert [e[0] for e in events if e[0] != "plateau"] == ["peak"]
    assert events[0][1] <= 10**2.5 <= events[0][3]
