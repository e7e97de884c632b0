"""Many runs at once: a sweep file expanded into points (spec.py), run on a pool (driver.py)."""

from phasewatch.sweep.driver import member_state, run_sweep, sweep_status
from phasewatch.sweep.spec import Point, Sweep, load_sweep

__all__ = ["Point", "Sweep", "load_sweep", "member_state", "run_sweep", "sweep_status"]
