"""The check every live-versus-analyze test makes."""

from __future__ import annotations

from phasewatch import Run


def assert_agree(live: Run, offline: Run, steps: list[int], tolerance: float = 1e-5) -> float:
    """Every probe value of `offline` (at exactly `steps`) equals `live`'s at the same step and
    metric within `tolerance`; returns the largest difference."""
    a, b = live.metrics(), offline.metrics()
    assert sorted(b["step"].unique()) == steps
    assert set(b["metric"]) == {m for m in a["metric"] if not m.startswith(("train/", "eval/"))}
    both = a.merge(b, on=["step", "metric"], suffixes=("_live", "_offline"))
    assert len(both) == len(b)
    largest = float((both["value_live"] - both["value_offline"]).abs().max())
    assert largest <= tolerance
    return largest
