"""Deterministic training with a probe schedule and exact resume."""

from phasewatch.train.loop import train

__all__ = ["train"]
