"""phasewatch (temporary)."""
