"""The local learning coefficient over training: λ̂ with its stage boundaries beside the run's other
events, whether λ̂ moves before test accuracy does, and what the `llc` probe costs.

Runs a built-in experiment with the `llc` probe added (its sampler: the preset's `[probes.llc]`, or
`--set probes.llc.KEY=VALUE`), and a control with the same settings (`--control`: e.g. no weight
decay, `--control weight_decay=0`). Prints λ̂ ± sd at each estimate beside the test accuracy and loss
there, the run's events (stage boundaries included), and:
  - the lead: the step of the grokking event (or the first event of `--target KIND`) minus the first
    step at which λ̂ has fallen from its peak by 3 chain-sds; positive: λ̂ moved first;
  - the probe's cost: the estimates' wall time (llc_trace `seconds`) as a share of the run's.

    .venv/bin/python bench/llc_training.py grokking-mlp --control weight_decay=0 --seed 1
    .venv/bin/python bench/llc_training.py induction --target induction_onset --seed 1
"""

from __future__ import annotations

import argparse

import numpy as np

import phasewatch as pw
from phasewatch.probes.behaviour import TEST_ACCURACY, TEST_LOSS
from phasewatch.probes.llc import LLC_ACCEPTANCE, LLC_MEAN, LLC_STD, LLC_TRACE

DROP = 3.0  # chain sds below the peak: λ̂ has started to fall


def at(run: pw.Run, metric: str, step: int) -> float:
    if metric not in run.metric_names():
        return float("nan")
    steps, values = run.metric(metric)
    return float(values[np.argmin(np.abs(steps - step))])


def decline_step(run: pw.Run) -> int | None:
    """The first estimate after λ̂'s peak that lies DROP chain-sds below it; None if none does."""
    steps, mean = run.metric(LLC_MEAN.name)
    std = run.metric(LLC_STD.name)[1]
    top = int(np.argmax(mean))
    below = np.flatnonzero(mean[top:] < mean[top] - DROP * max(std[top], 1e-12))
    return int(steps[top + below[0]]) if len(below) else None


def report(run: pw.Run, target: str) -> None:
    print(f"\n## {run.id}: {run.info.get('train_seconds', 0):.0f} s")
    print("step | λ̂ ± sd | acceptance | test accuracy | test loss")
    steps, mean = run.metric(LLC_MEAN.name)
    std, acceptance = run.metric(LLC_STD.name)[1], run.metric(LLC_ACCEPTANCE.name)[1]
    for step, m, s, a in zip(steps, mean, std, acceptance):
        print(
            f"{int(step)} | {m:.2f} ± {s:.2f} | {a:.3f} | {at(run, TEST_ACCURACY.name, step):.3f} | {at(run, TEST_LOSS.name, step):.4g}"
        )
    print("events:")
    for e in run.events:
        shape = f" ({e['shape']})" if "shape" in e else ""
        print(f"  {e['kind']}{shape} on {e['metric']} at {e['step']} [{e['step_low']}, {e['step_high']}]")
    event = next((e for e in run.events if e["kind"] == target), None)
    decline = decline_step(run)
    print(f"λ̂ peak {mean.max():.2f} at step {int(steps[np.argmax(mean)])}; first {DROP:g} sd below it at {decline}")
    if event is not None and decline is not None:
        print(f"lead of λ̂'s decline over the {target} event ({event['step']}): {event['step'] - decline} steps")
    elif event is None:
        print(f"no {target} event")
    seconds = sum(float(run.load_array(LLC_TRACE, s)["seconds"]) for s in run.array_steps(LLC_TRACE))
    print(
        f"llc probe: {len(steps)} estimates, {seconds:.1f} s = {100 * seconds / run.info['train_seconds']:.1f} % of the run's wall time"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("experiment")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--control", action="append", default=[], metavar="KEY=VALUE", help="the control's extra --set")
    parser.add_argument("--set", action="append", default=[], dest="assignments", metavar="KEY=VALUE")
    parser.add_argument("--target", default="grokking", help="the event kind λ̂'s lead is measured against")
    parser.add_argument("--store", default="runs-llc")
    args = parser.parse_args()
    preset = pw.config.resolve(args.experiment)[1]
    names = [*preset.probes.names, "llc"]
    assignments = [f"probes.names={names!r}".replace("'", '"'), f"seed={args.seed}", *args.assignments]
    runs = [
        pw.run(
            args.experiment, assignments=assignments, store=args.store, name=f"{args.experiment}-llc-s{args.seed}", overwrite=True
        )
    ]
    if args.control:
        name = f"{args.experiment}-llc-control-s{args.seed}"
        runs.append(
            pw.run(args.experiment, assignments=[*assignments, *args.control], store=args.store, name=name, overwrite=True)
        )
    for run in runs:
        report(run, args.target)


if __name__ == "__main__":
    main()
