"""The report of a run: a self-contained HTML page and a terminal summary."""
from phasewatch.report.html import write_report
from phasewatch.report.summary import print_summary

__all__ = ["write_report", "print_summary"]
