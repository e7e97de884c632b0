"""Is grokking found, and dated inside the jump, across primes, operations and seeds — and never
in the no-weight-decay control? One line per run; then, per run, when each hidden progress measure
had done 10 % and 50 % of its change after memorisation, against test accuracy's 50 % step.
Finished runs already in --store are re-analysed, not retrained.

    .venv/bin/python bench/grokking_events.py [--store DIR] [--threads 2] [--core]

`--core`: only the three `grokking` seeds and the no-weight-decay control. The progress measures
are Nanda et al.'s (`progress_measures`: the final model's key frequencies, replayed over the
checkpoints every 100 steps); the last table gives, per run, what the run's lead/lag analysis
says of restricted loss and the grokking jump (a lead only when the two intervals are apart).
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np

from phasewatch import pipeline
from phasewatch.analysis import relate_events
from phasewatch.config import validate
from phasewatch.errors import UserError
from phasewatch.record.detection import find_events
from phasewatch.store import Run

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


PROGRESS = ["restricted_loss/logits", "excluded_loss/logits", "fourier_sparsity/embed", "fourier_ipr/embed", "weight_norm/total"]


def share_done(run, metric: str, start: float, share: float) -> float:
    """First step ≥ `start` by which `metric` has made `share` of its change from `start` to the end."""
    steps, values = run.metric(metric)
    after = steps >= start
    steps, values = steps[after], values[after]
    target = values[0] + share * (values[-1] - values[0])
    crossed = (values - target) * np.sign(values[-1] - values[0]) >= 0
    return float(steps[np.argmax(crossed)])


def trained(experiment: str, settings: list[str], store: str, threads: int):
    name = f"{experiment}-{'-'.join(settings) or 'default'}".replace("=", "")
    try:
        run = Run.open(store, name)
        if run.status == "finished":
            find_events(run, validate(run.config).events)
            return run
    except UserError:
        pass
    return pipeline.run(experiment, assignments=[*settings, f"threads={threads}"], store=store, name=name, overwrite=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--core", action="store_true", help="the three grokking seeds and the no-weight-decay control")
    args = parser.parse_args()
    runs = (
        [r for r in RUNS if r[0] == "grokking-no-wd" or (r[0] == "grokking" and r[1] in ([], ["seed=1"], ["seed=2"]))]
        if args.core
        else RUNS
    )
    store = args.store or tempfile.mkdtemp(prefix="phasewatch-grokking-")
    print(f"store: {store}")
    print(
        "| experiment | settings | train acc ≥ 99 % | test acc ≥ 50 % | ≥ 95 % | grokking event: step [interval] | inside the jump (test acc 30 %…95 %) | other events (first 4) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    leads, relations = [], []
    for experiment, settings in runs:
        run = trained(experiment, settings, store, args.threads)
        half, most = first_step(run, "test/accuracy", 0.5), first_step(run, "test/accuracy", 0.95)
        grokking = [e for e in run.events if e["kind"] == "grokking"]
        dated = "; ".join(f"{e['step']:.0f} [{e['step_low']:.0f}, {e['step_high']:.0f}]" for e in grokking) or "none"
        # "inside the jump": the dated step lies between test accuracy first reaching 30 % and 95 %
        inside = all(first_step(run, "test/accuracy", 0.3) <= e["step"] <= most for e in grokking) if grokking else "-"
        others = ", ".join(f"{e['kind']}@{e['metric']}:{e['step']:.0f}" for e in run.events if e["kind"] != "grokking")
        print(
            f"| {experiment} | {' '.join(settings) or 'default'} | {first_step(run, 'train/accuracy', 0.99):.0f} | "
            f"{half:.0f} | {most:.0f} | {dated} | {inside} | {others[:160]} |",
            flush=True,
        )
        memorised = first_step(run, "train/accuracy", 0.99)
        cells = [
            f"{share_done(run, m, memorised, 0.1):.0f} / {share_done(run, m, memorised, 0.5):.0f}"
            if m in run.metric_names()
            else "-"
            for m in PROGRESS
        ]
        leads.append(f"| {experiment} {' '.join(settings)} | {half:.0f} | " + " | ".join(cells) + " |")
        restricted = [e for e in run.events if e["metric"] == PROGRESS[0]]
        said = [
            r["text"] for r in relate_events(run.events) if r["first_metric"] == PROGRESS[0] and r["second_kind"] == "grokking"
        ]
        dated_restricted = "; ".join(f"{e['kind']} {e['step']} [{e['step_low']}, {e['step_high']}]" for e in restricted) or "none"
        steps, values = run.metric(PROGRESS[0])
        at_memorised = values[np.searchsorted(steps, memorised)]
        halved = steps[(steps >= memorised) & (values <= at_memorised / 2)]
        halved_at = f"{halved[0]:.0f}" if len(halved) else "never"
        relations.append(
            f"| {experiment} {' '.join(settings)} | {at_memorised:.2f} | {halved_at} | {values.min():.3f} | {values[-1]:.3f} | "
            f"{dated_restricted} | {dated} | {'; '.join(said) or '-'} |"
        )
    print("\nStep at which each measure has made 10 % / 50 % of its change after memorisation (train acc ≥ 99 %):")
    print("| run | test acc ≥ 50 % | " + " | ".join(PROGRESS) + " |")
    print("|---" * (len(PROGRESS) + 2) + "|")
    print("\n".join(leads))
    print("\nRestricted loss (Nanda et al.) against the grokking event, as the run's lead/lag analysis says it:")
    print("| run | at memorisation | halved at | min | final | restricted_loss/logits events | grokking | lead/lag |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(relations))


if __name__ == "__main__":
    main()
