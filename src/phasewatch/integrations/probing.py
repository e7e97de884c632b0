"""What a watched run and an analysed checkpoint series share: the probe context on the user's
probe data, the probes chosen from the one registry, and the detection settings."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from phasewatch.config import EventConfig
from phasewatch.errors import UserError
from phasewatch.integrations.probe_data import ProbeData
from phasewatch.probes import ProbeContext, choose
from phasewatch.record import watched_detection


def check_batch_size(batch_size) -> int:
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise UserError(f"batch_size: {batch_size!r} is not allowed (an integer >= 1)")
    return batch_size


def metric_name(name: str) -> str:
    """A user's scalar name as stored: `name` as `train/name`, a name with a '/' as given."""
    return name if "/" in name else f"train/{name}"


@dataclass
class ProbeSetup:
    context: ProbeContext
    probes: list[str]
    skipped: list[str]  # one line per probe left out because its needs are not met
    detection: EventConfig

    def describe(self) -> dict:
        """The part of run.json every watched or analysed run has."""
        return {
            "probes": {"names": self.probes, "sites": self.context.view.block_sites(), "batch_size": self.context.batch_size},
            "probe_data": self.context.data.describe(),
            "events": self.detection.model_dump(mode="json"),
        }


def probe_setup(
    model: nn.Module,
    data: ProbeData,
    *,
    sites: list[str] | None = None,
    probes: list[str] | None = None,
    batch_size: int = 64,
    watch: list[str] | None = None,
) -> ProbeSetup:
    """Check everything before a run exists: the batch size, the sites, that the model reads the
    probe data, the named probes' needs (default: every probe whose needs are met), and the
    `watch` patterns (metric names or fnmatch patterns, bare names meaning `train/<name>`)."""
    context = ProbeContext.of_data(model, data, sites, check_batch_size(batch_size))
    context.check_fits()
    chosen, skipped = choose(probes, context)
    if watch is not None and (isinstance(watch, str) or not all(isinstance(w, str) and w for w in watch)):
        raise UserError(f"watch: {watch!r} is not allowed (a list of metric names or patterns, e.g. ['repeat_loss'])")
    detection = watched_detection([metric_name(w) for w in watch or ()])
    return ProbeSetup(context, chosen, skipped, detection)
