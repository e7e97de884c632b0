"""phasewatch."""
