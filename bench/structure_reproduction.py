"""Structure Before Collapse, reproduced: every setting × seed the reference criteria name, the
decay-ratio law, and the interventions. Runs are idempotent (a finished run is skipped), two at a
time with one thread each, into one store; then one table per criterion.

    .venv/bin/python bench/structure_reproduction.py [--store bench_runs/structure] [--only ufm,selectional,...]

Prints the measured numbers and writes <store>/comparison.html (trade-off table, decay-ratio law).
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

import phasewatch as pw
from phasewatch.config import validate
from phasewatch.tasks import build_task
from phasewatch.train.steering import peak_model, steering_curve

SEEDS = (0, 1, 2, 3, 4)  # 3 and 4 were never run while the presets were being changed
# (group, experiment, assignments, seeds)
PLAN = [  # the reference criteria first (three seeds), then the ratio law's extra points (one seed)
    ("ufm r=100", "ufm", [], SEEDS),
    ("ufm plain", "ufm", ["plain=true"], SEEDS),
    ("selectional ratio=30", "structure-before-collapse", ["setting=selectional", "decay_ratio=30"], SEEDS),
    ("selectional ratio=1", "structure-before-collapse", ["setting=selectional", "decay_ratio=1"], SEEDS),
    ("hierarchical ratio=50", "structure-before-collapse", ["setting=hierarchical"], SEEDS),
    ("hierarchical uniform 1e-4", "structure-before-collapse", ["setting=hierarchical", "decay_ratio=1"], SEEDS),
    *[
        (f"keep-structure {s}", "keep-structure", [f"setting={s}"], SEEDS[:3])
        for s in ("baseline", "keep-peak", "penalty", "smoothing")
    ],
    *[
        (f"selectional {s}", "structure-before-collapse", [f"setting=selectional-{s}"], SEEDS[:3])
        for s in ("keep-peak", "smoothing")
    ],
    (
        "hierarchical uniform 5e-3",
        "structure-before-collapse",
        ["setting=hierarchical", "decay_ratio=1", "weight_decay=5e-3"],
        (0,),
    ),
    *[(f"ufm r={r}", "ufm", [f"decay_ratio={r}"], (0,)) for r in (1000, 10, 1)],
    ("selectional ratio=100", "structure-before-collapse", ["setting=selectional", "decay_ratio=100"], (0,)),
    ("selectional ratio=10", "structure-before-collapse", ["setting=selectional", "decay_ratio=10"], (0,)),
    *[
        (f"hierarchical ratio={r}", "structure-before-collapse", ["setting=hierarchical", f"decay_ratio={r}"], (0,))
        for r in (10, 100)
    ],
    ("selectional plain", "structure-before-collapse", ["setting=selectional-plain"], (0,)),
    ("language", "structure-before-collapse", ["setting=language"], SEEDS[:3]),
    ("language context-pathway", "structure-before-collapse", ["setting=language-context"], SEEDS[:3]),
    ("hierarchical plain", "structure-before-collapse", ["setting=hierarchical-plain"], (0,)),
]


def run_id(group: str, seed: int) -> str:
    return "".join(c if c.isalnum() or c in "-." else "-" for c in f"{group}-s{seed}")


def launch(store: Path, group: str, experiment: str, assignments: list[str], seed: int) -> str:
    name = run_id(group, seed)
    try:
        if pw.Run.open(store, name).status == "finished":
            return name
    except pw.UserError:
        pass
    sets = [x for a in [*assignments, f"seed={seed}"] for x in ("--set", a)]
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


def summary(run: pw.Run) -> dict[str, float]:
    """Initial, peak and final alignment, ETF distance at peak and end, and the losses."""
    out = {}
    for site in ("features", "classifier"):
        steps, b = run.metric(f"semantic_alignment/{site}")
        _, etf = run.metric(f"etf_distance/{site}")
        k = int(np.nanargmax(b))
        out |= {
            f"{site} b0": b[0],
            f"{site} peak": b[k],
            f"{site} peak step": steps[k],
            f"{site} final": b[-1],
            f"{site} etf@peak": etf[k],
            f"{site} etf final": etf[-1],
        }
    config = validate(run.config)
    classes = build_task(config.task, config.seed).num_classes
    out["loss@peak/logC"] = float(np.interp(out["features peak step"], *run.metric("test/loss"))) / math.log(classes)
    loss_steps, loss = run.metric("test/loss")
    out["loss halves at"] = float(loss_steps[np.argmax(loss <= loss[0] / 2)]) if (loss <= loss[0] / 2).any() else math.nan
    out["final loss"], out["final accuracy"] = run.metric("test/loss")[1][-1], run.metric("test/accuracy")[1][-1]
    if "nc1/features" in run.metric_names():
        nc1 = run.metric("nc1/features")[1]
        out["nc1 final/initial"] = nc1[-1] / nc1[0]
    if "keep_peak/step" in run.metric_names():  # keep-peak: the state it kept, decided live
        out["kept step"], out["kept b"] = run.metric("keep_peak/step")[1][-1], run.metric("keep_peak/value")[1][-1]
    fit = run.analysis("ufm_fit")
    if fit is not None:
        out["ufm fit r"], out["ufm fit R2"] = float(fit["r"]), float(fit["r2"])
    kinds = {e["kind"] for e in run.events}
    out["events"] = ",".join(sorted(k for k in kinds if k in ("crystallisation", "collapse"))) or "-"
    for e in run.events:  # the dated structure window of the features
        if e["metric"] == "semantic_alignment/features" and e["kind"] in ("crystallisation", "collapse"):
            out[f"{e['kind']} step"] = f"{e['step']} [{e['step_low']}, {e['step_high']}]"
    aligned = {e["kind"] for e in run.events if e["metric"].startswith("semantic_alignment/")}
    out["alignment events"] = ",".join(sorted(k for k in aligned if k in ("crystallisation", "collapse"))) or "-"
    return out


# "What a faithful reproduction shows" (../shared/science/structure_before_collapse.md), per group:
# (criterion, test on one run's `summary` row). "events" rows check the detector's verdicts.
def _collapses(row: dict) -> bool:
    return "collapse" in row["events"] and "crystallisation" in row["events"]


UNIFORM = [
    ("final/peak b >= 0.8", lambda r: r["features final"] >= 0.8 * r["features peak"]),
    ("ETF distance >= 0.95", lambda r: r["features etf final"] >= 0.95),
    ("no collapse of the alignment", lambda r: "collapse" not in r["alignment events"]),
]
CRITERIA: dict[str, list[tuple[str, object]]] = {
    "ufm r=100": [
        ("peak b >= 0.4 while loss >= 0.75 log C", lambda r: r["features peak"] >= 0.4 and r["loss@peak/logC"] >= 0.75),
        (
            "feature peak <= classifier peak < loss halves",
            lambda r: r["features peak step"] <= r["classifier peak step"] < r["loss halves at"],
        ),
        ("final b <= 0.15 peak", lambda r: r["features final"] <= 0.15 * r["features peak"]),
        ("final ETF <= 0.3 and <= 0.25 at peak", lambda r: r["features etf final"] <= min(0.3, 0.25 * r["features etf@peak"])),
        ("crystallisation and collapse dated", _collapses),
    ],
    "ufm plain": [
        ("max |b| <= 0.02", lambda r: max(abs(r["features peak"]), abs(r["features b0"])) <= 0.02),
        ("final ETF <= 0.01", lambda r: r["features etf final"] <= 0.01),
        ("no event on the alignment", lambda r: r["alignment events"] == "-"),
    ],
    "selectional ratio=30": [
        ("peak b >= 2x initial", lambda r: r["features peak"] >= 2 * r["features b0"]),
        ("final b <= 0.2 peak", lambda r: r["features final"] <= 0.2 * r["features peak"]),
        ("unembedding final <= 0.3 peak", lambda r: r["classifier final"] <= 0.3 * r["classifier peak"]),
        ("final ETF <= 0.8", lambda r: r["features etf final"] <= 0.8),
        ("crystallisation and collapse dated", _collapses),
    ],
    "selectional ratio=1": [
        ("final/peak b >= 0.5", lambda r: r["features final"] >= 0.5 * r["features peak"]),
        ("ETF distance >= 1.1", lambda r: r["features etf final"] >= 1.1),
        ("no collapse of the alignment", lambda r: "collapse" not in r["alignment events"]),
    ],
    "hierarchical ratio=50": [
        ("peak b >= 1.8x initial", lambda r: r["features peak"] >= 1.8 * r["features b0"]),
        ("classifier peak b >= 0.1", lambda r: r["classifier peak"] >= 0.1),
        (
            "final b <= 0.15 peak, classifier <= 0.25",
            lambda r: r["features final"] <= 0.15 * r["features peak"] and r["classifier final"] <= 0.25 * r["classifier peak"],
        ),
        ("feature ETF <= 0.4 and <= 0.4 at peak", lambda r: r["features etf final"] <= min(0.4, 0.4 * r["features etf@peak"])),
        ("classifier ETF <= 0.3", lambda r: r["classifier etf final"] <= 0.3),
        ("NC1 <= 0.5 initial", lambda r: r.get("nc1 final/initial", float("nan")) <= 0.5),
        ("crystallisation and collapse dated", _collapses),
    ],
    "language": [
        ("unembedding peak b >= 0.1", lambda r: r["classifier peak"] >= 0.1),
        ("unembedding final <= 0.25 peak", lambda r: r["classifier final"] <= 0.25 * r["classifier peak"]),
    ],
    "hierarchical uniform 1e-4": UNIFORM,
    "hierarchical uniform 5e-3": UNIFORM,
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", default="bench_runs/structure")
    parser.add_argument("--only", default="", help="comma-separated group prefixes")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--summary-only", action="store_true", help="launch nothing; summarise the finished runs")
    args = parser.parse_args()
    store = Path(args.store)
    plan = [p for p in PLAN if not args.only or any(p[0].startswith(o) for o in args.only.split(","))]
    jobs = [(group, experiment, assignments, seed) for group, experiment, assignments, seeds in plan for seed in seeds]
    if not args.summary_only:
        with ThreadPoolExecutor(args.workers) as pool:
            list(pool.map(lambda job: launch(store, *job), jobs))
    runs: dict[str, list[pw.Run]] = {}
    for group, _, _, seed in jobs:
        try:
            run = pw.Run.open(store, run_id(group, seed))
        except pw.UserError:
            continue
        if run.status == "finished":
            runs.setdefault(group, []).append(run)
    columns = [
        "features b0",
        "features peak",
        "features peak step",
        "features final",
        "features etf@peak",
        "features etf final",
        "classifier peak",
        "classifier peak step",
        "classifier final",
        "loss halves at",
        "classifier etf final",
        "loss@peak/logC",
        "final loss",
        "final accuracy",
        "nc1 final/initial",
        "kept step",
        "kept b",
        "ufm fit r",
        "ufm fit R2",
        "events",
        "alignment events",
        "crystallisation step",
        "collapse step",
    ]
    print("| group | seed | " + " | ".join(columns) + " |")
    print("|" + "---|" * (len(columns) + 2))
    for group, members in runs.items():
        for run in members:
            row = summary(run)
            cells = [row.get(c, "") for c in columns]
            print(
                f"| {group} | {run.config['seed']} | "
                + " | ".join(f"{c:.3g}" if isinstance(c, float) else str(c) for c in cells)
                + " |"
            )
    print("\nAgainst the spec's criteria (pass / FAIL per seed):")
    for group, checks in CRITERIA.items():
        for run in runs.get(group, []):
            row = summary(run)
            verdicts = [f"{label}: {'pass' if bool(check(row)) else 'FAIL'}" for label, check in checks]  # type: ignore[operator]
            print(f"- {group} seed {run.config['seed']}: " + "; ".join(verdicts))
    for run in runs.get("keep-structure keep-peak", []):
        model, task, step = peak_model(run)
        curve = steering_curve(model, task, [0.25, 0.5, 1.0, 2.0, 4.0])
        print(f"steering {run.id} at step {step}: " + ", ".join(f"α={c['alpha']}: {c['mass_shift']:+.3f}" for c in curve))
    try:
        from phasewatch.report.compare import write_comparison

        path = write_comparison([r for members in runs.values() for r in members], store / "comparison.html")
        print(f"comparison: {path}")
    except ImportError as error:
        print(f"(no comparison page: {error})")


if __name__ == "__main__":
    main()
