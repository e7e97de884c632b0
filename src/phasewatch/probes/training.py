"""Metrics that no probe makes: what the training loop, its listeners and a user's loop record,
and the naming rules for curves nobody declared (a user's own `repeat_loss`, say).

The generic rules come last in `registry.declarations` (patterns after exact names), so a
probe's own declaration of a metric wins over them.
"""

from __future__ import annotations

from phasewatch.probes.registry import Metric, declare

TRAIN_LOSS = Metric("train/loss", "the training loss of each step's batch", higher="worse", watch=True)
TRAIN_ACCURACY = Metric("train/accuracy", "argmax accuracy on each step's batch", higher="better")
EVAL_LOSS = Metric("eval/loss", "a Hugging Face Trainer's evaluation loss", higher="worse", watch=True)
KEEP_PEAK = Metric("keep_peak/*", "keep-peak's decision: the step and value of the kept peak (train/interventions.py)")
KEEP_PEAK_STATE = "keep_peak"  # checkpoint tag: the model's state at each new peak (never resumed from)
CURRICULUM_STAGE = Metric("curriculum/stage", "the curriculum stage of the next update (train/curriculum.py)")
# A live forecast of a target (record/forecast.py): FORECAST.at(target, field), field one of FORECAST_FIELDS.
FORECAST = Metric(
    "forecast/*",
    "a live forecast of a transition (analysis/forecast.py): the predicted step of the target, its 90 % interval "
    "(low, high) and the probability that it happens by the run's end",
)
FORECAST_FIELDS = ("step", "low", "high", "probability")
# Any falling loss is a `loss_cliff`; an accuracy that rises long after its training twin
# saturated is `grokking` (analysis/events.py says when).
ANY_LOSS = Metric("*loss*", "any loss", higher="worse", fall="loss_cliff")
ANY_ACCURACY = Metric("*/accuracy", "any accuracy", higher="better", rise="grokking", reference="train/{name}")

declare(TRAIN_LOSS, TRAIN_ACCURACY, EVAL_LOSS, KEEP_PEAK, CURRICULUM_STAGE, FORECAST, ANY_LOSS, ANY_ACCURACY)
