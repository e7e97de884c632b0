"""Is grokking found, and dated inside the jump, across primes, operations and seeds — and never
in the no-weight-decay control? One line per run.

    .venv/bin/python bench/grokking_events.py [--store DIR] [--threads 2]
"""
from __future__ import annotations

import argparse
import tempfile

import numpy as np

from phasewatch import pipeline

RUNS = [
    ("grokking", []),
    ("grokking", ["seed=1"]),
    ("grokking", ["seed=2"]),
    ("grokking", ["p=53", "operation=-"]),
    ("grokking", ["p=67", "seed=3"]),
    ("grokking-mlp", []),
    ("grokking-mlp", ["seed=1", "operation=-"]),
    ("grokking-no-wd", []),
]


def first_step(run, metric: str, threshold: float) -> float:
    steps, values = run.metric(metric)
    above = np.nonzero(values >= threshold)[0]
    return float(steps[above[0]]) if len(above) else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", default=None)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    store = args.store or tempfile.mkdtemp(prefix="phasewatch-grokking-")
    print(f"store: {store}")
    print("| experiment | settings | train acc ≥ 99 % | test acc ≥ 50 % | ≥ 95 % | grokking event: step [interval] | inside the jump (test acc 30 %…95 %) | other events (first 4) |")
    print("|---|---|---|---|---|---|---|---|")
    for experiment, settings in RUNS:
        run = pipeline.run(experiment, assignments=[*settings, f"threads={args.threads}"], store=store,
                           name=f"{experiment}-{'-'.join(settings) or 'default'}".replace("=", ""), overwrite=True)
        half, most = first_step(run, "test/accuracy", 0.5), first_step(run, "test/accuracy", 0.95)
        grokking = [e for e in run.events if e["kind"] == "grokking"]
        dated = "; ".join(f"{e['step']:.0f} [{e['step_low']:.0f}, {e['step_high']:.0f}]" for e in grokking) or "none"
        # "inside the jump": the dated step lies between test accuracy first reaching 30 % and 95 %
        inside = all(first_step(run, "test/accuracy", 0.3) <= e["step"] <= most for e in grokking) if grokking else "-"
        others = ", ".join(f"{e['kind']}@{e['metric']}:{e['step']:.0f}" for e in run.events if e["kind"] != "grokking")
        print(f"| {experiment} | {' '.join(settings) or 'default'} | {first_step(run, 'train/accuracy', 0.99):.0f} | "
              f"{half:.0f} | {most:.0f} | {dated} | {inside} | {others[:160]} |", flush=True)


if __name__ == "__main__":
    main()
