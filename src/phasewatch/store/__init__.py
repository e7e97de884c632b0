"""The run store: run directories, a Parquet metrics writer, safetensors artifacts, DuckDB queries.

Layout and guarantees are in docs/ARCHITECTURE.md: every write is atomic, a
killed run loses at most its unflushed metrics, and nothing is pickled.
"""

from phasewatch.store.metrics import MetricsWriter
from phasewatch.store.query import list_runs, query
from phasewatch.store.run import ATTRIBUTE_GROUPS, SHARPNESS, UNJUDGED, Run, store_root

__all__ = ["ATTRIBUTE_GROUPS", "SHARPNESS", "UNJUDGED", "Run", "MetricsWriter", "store_root", "list_runs", "query"]
