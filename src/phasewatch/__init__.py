"""phasewatch: watch structure form inside a neural network while it trains.

The public surface:
    run(experiment, **settings) -> Run     train a built-in experiment (or a config file)
    resume(run_id) -> Run                  continue a stopped run bit-identically
    Run.open(store, run_id)                a run's metrics, arrays, checkpoints and events
    list_runs(), query(sql)                every run in the store, through DuckDB
    find_transitions, detect_events        phase detection on any (step, value) curve
    fit_scaling_law(data, form=...)        Chinchilla / Kaplan scaling-law fits with bootstrap intervals
    write_report(run), print_summary(run)  the HTML report and the terminal summary
    Watcher(model, probe_inputs, ...)      watch any PyTorch training loop (and HF/Lightning callbacks)
    analyze(directory, probe_data, ...)    probe a saved checkpoint series into a run
"""

from phasewatch.analysis import detect_events, find_transitions, fit_scaling_law, relate_events
from phasewatch.errors import UserError
from phasewatch.integrations import Watcher, analyze
from phasewatch.pipeline import resume, run
from phasewatch.report import print_summary, write_report
from phasewatch.store import Run, list_runs, query, store_root

__version__ = "0.1.0"

__all__ = [
    "Run",
    "UserError",
    "Watcher",
    "analyze",
    "detect_events",
    "find_transitions",
    "fit_scaling_law",
    "list_runs",
    "print_summary",
    "query",
    "relate_events",
    "resume",
    "run",
    "store_root",
    "write_report",
]
