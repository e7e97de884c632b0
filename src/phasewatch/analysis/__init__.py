"""Phase detection: change points in metric curves, named events, lead/lag between them."""
from phasewatch.analysis.changepoints import Transition, find_transitions
from phasewatch.analysis.events import detect_events, relate_events

__all__ = ["Transition", "detect_events", "find_transitions", "relate_events"]
