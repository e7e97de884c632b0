"""Phases of learning, measured: induction heads (2 layers vs the 1-layer control), the phases of the generated
language over seeds with the measured-vs-claimed table, the curriculum test, the real corpus, and
in-context classification.
Runs are idempotent (a finished run is skipped), two at a time with one thread each, into one
store; then one table per claim.

    .venv/bin/python bench/language_phases.py [--store bench_runs/language] [--only induction,language,curriculum,text,icl]
        [--target-loss 2.0] [--summary-only]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

import phasewatch as pw
from phasewatch.report.common import mean_interval

SEEDS = (0, 1, 2)
CURRICULUM_SEEDS = (0, 1, 2, 3, 4)
PLAN = {  # part → [(group, experiment, assignments, seeds)]
    "induction": [("induction", "induction", [], SEEDS), ("induction-1layer", "induction-1layer", [], SEEDS)],
    "language": [("language-plain", "grammar", ["setting=plain"], CURRICULUM_SEEDS)],
    "curriculum": [("language-phase-aware", "grammar", ["setting=phase-aware"], CURRICULUM_SEEDS)],
    "text": [("text", "corpus", [], (0,))],
    "icl": [("icl", "icl", [], (0,))],
}
CLAIM = {"memorisation": "0–20 %", "syntax": "20–50 %", "semantics": "50–70 %", "refinement": "70–100 %"}


def launch(store: Path, group: str, experiment: str, assignments: list[str], seed: int) -> str:
    name = f"{group}-s{seed}"
    try:
        if pw.Run.open(store, name).status == "finished":
            return name
    except pw.UserError:
        pass
    sets = [x for a in [*assignments, f"seed={seed}", "threads=1"] for x in ("--set", a)]
    command = [
        sys.executable,
        "-m",
        "phasewatch.cli",
        "--store",
        str(store),
        "run",
        experiment,
        "--name",
        name,
        "--overwrite",
        "--no-progress",
        *sets,
    ]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return name


def fmt(mean: float, low: float, high: float, digits: int = 0) -> str:
    text = f"{mean:,.{digits}f}"
    return text if not np.isfinite(low) else f"{text} [{low:,.{digits}f}, {high:,.{digits}f}]"


def first_event(run: pw.Run, kind: str, prefix: str = "") -> dict | None:
    return next((e for e in run.events if e["kind"] == kind and e["metric"].startswith(prefix)), None)


def at(run: pw.Run, metric: str, step: int) -> float:
    steps, values = run.metric(metric)
    return float(values[np.argmin(np.abs(steps - step))]) if len(steps) else float("nan")


def probe_share(run: pw.Run) -> str:
    """Probe time as a share of the run's wall time (the loop times both)."""
    return f"{100 * run.info['probe_seconds'] / run.info['train_seconds']:.1f} %"


def induction_table(store: Path) -> None:
    print("\n## Induction: 2-layer attention-only vs the 1-layer control")
    print(
        "run | induction_onset step [interval] | induction max first → final | repeated-token loss first → before the onset → final | "
        "random-token loss bump at the onset | ICL score first → final | final prev-token / duplicate-token max | induction_onset events | "
        "probe share of wall time"
    )
    for group in ("induction", "induction-1layer"):
        for seed in SEEDS:
            run = pw.Run.open(store, f"{group}-s{seed}")
            onset = first_event(run, "induction_onset")
            _, induction = run.metric("induction_score/max")
            repeat_steps, repeat = run.metric("in_context/repeat_loss")
            random_steps, random = run.metric("in_context/random_loss")
            _, icl = run.metric("in_context/icl_score")
            _, previous = run.metric("prev_token_score/max")
            _, duplicate = run.metric("duplicate_token_score/max")
            count = sum(e["kind"] == "induction_onset" for e in run.events)
            where = f"{onset['step']:,} [{onset['step_low']:,}, {onset['step_high']:,}]" if onset else "none"
            # the bump: unpredictable tokens cost more while the head forms (docs/science/induction.md: ≈ +0.1 nats)
            plateau = f"{repeat[repeat_steps < onset['step_low']][-1]:.2f} → " if onset else ""
            bump = (
                f"{random[random_steps >= onset['step_low']].max() - random[random_steps < onset['step_low']][-1]:+.3f}"
                if onset
                else "—"
            )
            print(
                f"{run.id} | {where} | {induction[0]:.3f} → {induction[-1]:.3f} (max {induction.max():.3f}) | "
                f"{repeat[0]:.2f} → {plateau}{repeat[-1]:.2f} | {bump} | "
                f"{icl[0]:.2f} → {icl[-1]:.2f} | {previous[-1]:.3f} / {duplicate[-1]:.3f} | {count} | {probe_share(run)}"
            )


def language_table(store: Path) -> None:
    print("\n## Language: phases per seed (steps), and the timeline against the article's claim")
    shares: dict[str, list[tuple[float, float]]] = {}
    for seed in CURRICULUM_SEEDS:
        run = pw.Run.open(store, f"language-plain-s{seed}")
        steps, syntax = run.metric("selection/syntactic_accuracy")
        _, semantics = run.metric("selection/semantic_choice")

        def reached(values: np.ndarray, share: float, steps: np.ndarray = steps) -> int:
            """First step at which `values` have made `share` of their rise from the first value to the max."""
            return int(steps[np.argmax(values >= values[0] + share * (values.max() - values[0]))])

        print(
            f"{run.id}: syntactic accuracy {syntax[0]:.2f} → {syntax.max():.2f}, half-way at step {reached(syntax, 0.5):,}, 95 % at "
            f"{reached(syntax, 0.95):,}; semantic choice {semantics[0]:.2f} → {semantics.max():.2f}, half-way at {reached(semantics, 0.5):,}, "
            f"95 % at {reached(semantics, 0.95):,}; attribute probe mean {at(run, 'attribute_probe/mean', 0):.3f} → "
            f"{run.metric('attribute_probe/mean')[1][-1]:.3f}; final test loss {run.metric('test/loss')[1][-1]:.3f}; "
            f"probes {probe_share(run)} of {run.info['train_seconds']:.0f} s"
        )
        events = {(e["kind"], e["metric"]): e["step"] for e in run.events}
        picked = {
            k: v
            for k, v in events.items()
            if any(s in k[1] for s in ("selection/", "attribute_probe/mean", "dependency_", "alignment/features"))
        }
        print(
            "   events: "
            + "; ".join(f"{kind} {metric} @ {step:,}" for (kind, metric), step in sorted(picked.items(), key=lambda kv: kv[1]))
        )
        timeline = (run.analysis("phases") or {}).get("phases", [])
        print(
            "   timeline: "
            + "; ".join(f"{p['name']} {100 * p['start_share']:.0f}–{100 * p['end_share']:.0f} %" for p in timeline)
        )
        for phase in timeline:
            shares.setdefault(phase["name"], []).append((phase["start_share"], phase["end_share"]))
    print("\nphase | measured start % | measured end % | seeds with the phase | article's claim")
    for name, spans in shares.items():
        starts, ends = zip(*spans)
        print(
            f"{name} | {fmt(*(100 * np.array(mean_interval(starts))))} | {fmt(*(100 * np.array(mean_interval(ends))))} | "
            f"{len(spans)}/{len(CURRICULUM_SEEDS)} | {CLAIM.get(name, '—')}"
        )


def steps_to(run: pw.Run, target: float) -> float:
    steps, loss = run.metric("test/loss")
    reached = np.flatnonzero(loss <= target)
    return float(steps[reached[0]]) if len(reached) else float("nan")


def curriculum_table(store: Path, target: float) -> None:
    print(f"\n## Curriculum: steps and wall time to held-out loss ≤ {target} (mean [90 % t-interval] over seeds)")
    rows = {}
    for group in ("language-plain", "language-phase-aware"):
        steps, seconds, switch = [], [], []
        for seed in CURRICULUM_SEEDS:
            run = pw.Run.open(store, f"{group}-s{seed}")
            reached = steps_to(run, target)
            total = int(run.metric("train/loss")[0].max())
            steps.append(reached)
            seconds.append(run.info["train_seconds"] * reached / total)  # every step costs the same: batches are padded alike
            stage_steps, stage = run.metric("curriculum/stage")
            switch.append(float(stage_steps[np.argmax(stage > 0)]) if (stage > 0).any() else float("nan"))
        rows[group] = np.array(steps), np.array(seconds)
        print(
            f"{group}: steps {fmt(*mean_interval(steps))}, wall {fmt(*mean_interval(seconds), 1)} s, per seed {steps}"
            + (f", stage 1 from step {switch}" if group.endswith("aware") else "")
        )
    plain, aware = rows["language-plain"][0], rows["language-phase-aware"][0]
    saving = 100 * (plain - aware) / plain
    print(
        f"paired saving of the phase-aware schedule: {fmt(*mean_interval(saving), 1)} % of the steps (the article claims 30–50 %)"
    )


def text_table(store: Path) -> None:
    run = pw.Run.open(store, "text-s0")
    _, bpb = run.metric("test/bits_per_byte")
    print(
        f"\n## Real corpus: held-out bits per byte {bpb[0]:.3f} → {bpb[-1]:.3f} (min {bpb.min():.3f}); "
        f"train {run.info['train_seconds']:.0f} s, probes {probe_share(run)}"
    )
    for event in run.events:
        print(
            f"   {event['kind']} {event['metric']} @ {event['step']:,} [{event['step_low']:,}, {event['step_high']:,}] "
            f"{event['before']:.3f} → {event['after']:.3f}"
        )


def icl_table(store: Path) -> None:
    run = pw.Run.open(store, "icl-s0")
    print("\n## In-context classification (one seed)")
    for metric in ("icl/in_context_accuracy", "icl/in_weights_accuracy", "induction_score/max"):
        steps, values = run.metric(metric)
        print(
            f"{metric}: {values[0]:.3f} → max {values.max():.3f} at step {int(steps[values.argmax()]):,} → final {values[-1]:.3f}"
        )
    for event in run.events:
        if event["kind"] != "plateau":
            print(
                f"   {event['kind']} {event['metric']} @ {event['step']:,} [{event['step_low']:,}, {event['step_high']:,}] "
                f"{event['before']:.3f} → {event['after']:.3f}"
            )
    print(f"   probes {probe_share(run)} of {run.info['train_seconds']:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", default="bench_runs/language")
    parser.add_argument("--only", default="induction,language,curriculum,text,icl")
    parser.add_argument("--target-loss", type=float, default=2.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--summary-only", action="store_true")
    args = parser.parse_args()
    store = Path(args.store)
    parts = args.only.split(",")
    if not args.summary_only:
        jobs = [(g, e, a, s) for part in parts for g, e, a, seeds in PLAN[part] for s in seeds]
        with ThreadPoolExecutor(args.workers) as pool:
            list(pool.map(lambda job: launch(store, *job), jobs))
    if "induction" in parts:
        induction_table(store)
    if "language" in parts:
        language_table(store)
    if "curriculum" in parts:
        curriculum_table(store, args.target_loss)
    if "text" in parts:
        text_table(store)
    if "icl" in parts:
        icl_table(store)


if __name__ == "__main__":
    main()
