"""The report of a run: an offline HTML page (plotly.js shared by the store's pages, report/assets.py)
and a terminal summary; and of several runs, a comparison page (report/compare.py)."""

from phasewatch.report.compare import decay_ratio_figure, write_comparison
from phasewatch.report.html import write_report
from phasewatch.report.summary import print_summary

__all__ = ["decay_ratio_figure", "print_summary", "write_comparison", "write_report"]
