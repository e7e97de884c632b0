"""Deterministic training with a probe schedule and exact resume."""
from phasewatch.train.loop import train
from phasewatch.train.schedule import probe_steps

__all__ = ["probe_steps", "train"]
