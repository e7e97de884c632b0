"""The presets do what they claim, on real training runs, with events found by the detector."""

import numpy as np
import pytest

import phasewatch as pw


def first_step(run, metric: str, threshold: float) -> float:
    steps, values = run.metric(metric)
    return float(steps[np.argmax(values >= threshold)]) if (values >= threshold).any() else np.inf


def assert_groks_and_is_dated_inside_the_jump(run):
    grokking = [e for e in run.events if e["kind"] == "grokking"]
    assert len(grokking) == 1, run.events
    event = grokking[0]
    saturated, rising, done = (
        first_step(run, "train/accuracy", 0.99),
        first_step(run, "test/accuracy", 0.3),
        first_step(run, "test/accuracy", 0.95),
    )
    assert saturated * 3 <= done  # memorised long before it generalised
    assert rising <= event["step"] <= done
    assert event["step_low"] <= event["step"] <= event["step_high"]


def restricted_halving(run) -> tuple[float, np.ndarray]:
    """(the first checkpoint after memorisation at which the restricted loss is at most half its
    value there, or inf; the restricted loss at every checkpoint)."""
    steps, values = run.metric("restricted_loss/logits")
    start = np.searchsorted(steps, first_step(run, "train/accuracy", 0.99))
    halved = np.flatnonzero(values[start:] <= values[start] / 2)
    return (float(steps[start + halved[0]]) if len(halved) else np.inf), values


def test_quadratic_mlp_groks_and_the_event_is_dated(tmp_path):
    run = pw.run("grokking-mlp", store=tmp_path, name="mlp")
    assert_groks_and_is_dated_inside_the_jump(run)
    grokking = next(e for e in run.events if e["kind"] == "grokking")
    assert grokking["verdict"] == "persists" and grokking["persists_on"] == ["test/loss"]  # not a metric artefact
    steps, ipr = run.metric("fourier_ipr/embed")
    assert ipr[-1] > 4 * ipr[0]  # neurons settle on single frequencies (Gromov 2023)


@pytest.mark.slow
def test_transformer_groks_progress_measures_lead(tmp_path):
    run = pw.run("grokking", store=tmp_path, name="grok")
    assert_groks_and_is_dated_inside_the_jump(run)
    # Nanda et al.'s restricted loss (final key frequencies, over the checkpoints) halves long
    # before test accuracy reaches 50 % (../shared/science/grokking.md), and ends near 0
    halved, restricted = restricted_halving(run)
    assert halved + 1000 <= first_step(run, "test/accuracy", 0.5) and restricted[-1] < 0.05
    _, norm = run.metric("weight_norm/total")
    assert norm[-1] < norm.max() * 0.8  # weight decay cleans up through the jump


@pytest.mark.slow
def test_no_weight_decay_control_shows_no_grokking(tmp_path):
    run = pw.run("grokking-no-wd", store=tmp_path, name="control")
    assert first_step(run, "train/accuracy", 0.99) < 500
    assert not [e for e in run.events if e["kind"] == "grokking"]
    halved, restricted = restricted_halving(run)
    assert halved == np.inf and restricted.min() > 1.0  # no generalising circuit to restrict to
