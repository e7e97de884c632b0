"""Phase detection: change points in metric curves, named events, lead/lag between them."""
from phasewatch.analysis.changepoints import Transition, find_transitions

__all__ = ["Transition", "find_transitions"]
