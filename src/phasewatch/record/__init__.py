"""Recording a run: the one `Recorder` every driver uses, its probe schedule and its end."""

from phasewatch.record.detection import find_events, watched_detection
from phasewatch.record.recorder import Listener, Recorder
from phasewatch.record.schedule import OpenEnded, ProbeSteps, check_step, probe_schedule, probe_steps

__all__ = [
    "Listener",
    "OpenEnded",
    "Recorder",
    "check_step",
    "find_events",
    "probe_schedule",
    "ProbeSteps",
    "probe_steps",
    "watched_detection",
]
