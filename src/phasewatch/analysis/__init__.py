"""Phase detection: change points in metric curves, named events, lead/lag between them; the
structure window of alignment curves, live peak tracking, the coupled-UFM fit, scaling-law fits;
forecasters of a transition and their backtest on held-out runs."""

from phasewatch.analysis.backtest import backtest
from phasewatch.analysis.changepoints import Transition, find_transitions
from phasewatch.analysis.events import detect_events, relate_events, unjudged
from phasewatch.analysis.forecast import Target, TargetExtrapolation, WeightDecayClock
from phasewatch.analysis.peak import PeakTracker
from phasewatch.analysis.precursors import Precursors
from phasewatch.analysis.scaling import ScalingFit, fit_scaling_law
from phasewatch.analysis.structure import structure_events, structure_window
from phasewatch.analysis.timeline import phase_timeline, timeline_lines
from phasewatch.analysis.ufm_fit import fit_ufm, simulate_alignment, ufm_library

__all__ = [
    "PeakTracker",
    "Precursors",
    "ScalingFit",
    "Target",
    "TargetExtrapolation",
    "Transition",
    "WeightDecayClock",
    "backtest",
    "detect_events",
    "find_transitions",
    "fit_scaling_law",
    "fit_ufm",
    "phase_timeline",
    "relate_events",
    "simulate_alignment",
    "structure_events",
    "structure_window",
    "timeline_lines",
    "ufm_library",
    "unjudged",
]
