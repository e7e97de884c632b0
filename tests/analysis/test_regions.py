"""Regions of Liu et al. 2022 named from planted accuracy curves and events."""

import numpy as np
import pytest

from phasewatch.analysis.regions import region

STEPS = np.array([0, 10, 20, 50, 100, 200, 400])


def accuracy(final: float) -> tuple[np.ndarray, np.ndarray]:
    return STEPS, np.array([0.05, 0.3, 0.6, final, final, final, final])


GROKKING_EVENT = {"kind": "grokking", "metric": "test/accuracy", "step": 200}


@pytest.mark.parametrize(
    "train, test, events, expected",
    [
        (1.0, 1.0, [GROKKING_EVENT], "grokking"),
        (1.0, 0.97, [], "comprehension"),
        (1.0, 0.2, [], "memorisation"),
        (0.5, 0.2, [], "confusion"),
        (0.5, 0.95, [], "confusion"),  # generalising without fitting the training set is not comprehension
        (1.0, 0.2, [{**GROKKING_EVENT, "metric": "train/accuracy"}], "memorisation"),  # only the test curve groks
    ],
)
def test_regions(train, test, events, expected):
    curves = {"train/accuracy": accuracy(train), "test/accuracy": accuracy(test)}
    assert region(curves, events) == expected


def test_the_level_is_read_from_the_last_probes_not_one():
    steps, values = accuracy(1.0)
    curves = {"train/accuracy": (steps, values), "test/accuracy": (steps, np.r_[values[:-3], 0.95, 0.95, 0.5])}
    assert region(curves, []) == "memorisation"  # the mean of the last three is 0.8
    curves["test/accuracy"] = (steps, np.r_[values[:-3], 0.95, 1.0, 0.8])
    assert region(curves, []) == "comprehension"  # one low last probe does not undo it (mean 0.92)


def test_without_accuracy_curves_there_is_no_region():
    assert region({"train/loss": accuracy(1.0)}, []) is None
