"""The local learning coefficient (Lau et al. 2023): `estimate` by SGLD, `calibrate` its ε and nβ."""

from phasewatch.llc.calibrate import Calibration, calibrate
from phasewatch.llc.sgld import LLCResult, estimate

__all__ = ["Calibration", "LLCResult", "calibrate", "estimate"]
