"""What four reference runs record, saved and compared: the check that a refactor changed nothing.

    python bench/behaviour_snapshot.py --out A        # run grokking (seed 0), ufm, induction, language
    ... change the code ...
    python bench/behaviour_snapshot.py --out B
    python bench/behaviour_snapshot.py --compare A B  # identical, or every difference row by row

Each run uses the preset with fewer steps (the `RUNS` table) so the four take a few minutes on
one CPU thread. A snapshot is, per run, every metric row (step, metric, value), every event, the
saved analysis files and the names and steps of the saved arrays, as JSON. `--compare` prints
per run the metric rows that are identical, those that differ, metrics present on one side only,
events and analysis files that differ, and analysis files that only the second snapshot has
(additions, which change nothing recorded before); it exits 1 when anything recorded differs.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

RUNS = {  # snapshot name: (preset, settings); the language preset is `grammar` since it was renamed to its task
    "grokking": ("grokking", ["seed=0", "train.steps=600", "probes.every=50"]),
    "ufm": ("ufm", ["train.steps=20000", "probes.every=1000", "probes.log_points=30"]),
    "induction": ("induction", ["train.steps=600", "probes.every=100", "task.test_sequences=64"]),
    "language": ("grammar", ["train.steps=400", "probes.every=100"]),
}


def snapshot(out: Path) -> None:
    import phasewatch as pw

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as store:
        for name, (preset, settings) in RUNS.items():
            run = pw.run(preset, assignments=[*settings, "train.threads=1"], store=store, name=name)
            metrics = run.metrics().sort_values(["metric", "step"])
            arrays = sorted(str(p.relative_to(run.path / "arrays")) for p in (run.path / "arrays").rglob("*.safetensors"))
            analysis = {p.stem: json.loads(p.read_text()) for p in sorted((run.path / "analysis").glob("*.json"))}
            record = {
                "metrics": [[int(s), m, float(v)] for s, m, v in metrics[["step", "metric", "value"]].itertuples(index=False)],
                "events": run.events,
                "analysis": analysis,
                "arrays": arrays,
            }
            (out / f"{name}.json").write_text(json.dumps(record, sort_keys=True))
            print(f"{name}: {len(record['metrics'])} metric rows, {len(run.events)} events, {len(arrays)} arrays")


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def compare(a_dir: Path, b_dir: Path) -> bool:
    identical = True
    for name in RUNS:
        a, b = (json.loads((d / f"{name}.json").read_text()) for d in (a_dir, b_dir))
        rows_a = {(s, m): v for s, m, v in a["metrics"]}
        rows_b = {(s, m): v for s, m, v in b["metrics"]}
        common = rows_a.keys() & rows_b.keys()
        differing = sorted(k for k in common if not _same(rows_a[k], rows_b[k]))
        only_a = sorted({m for _, m in rows_a.keys() - rows_b.keys()})
        only_b = sorted({m for _, m in rows_b.keys() - rows_a.keys()})
        print(f"{name}: {len(common) - len(differing)} of {len(rows_a)} metric rows identical")
        for step, metric in differing:
            print(f"  differs: {metric} at step {step}: {rows_a[(step, metric)]!r} -> {rows_b[(step, metric)]!r}")
        for side, metrics in (("before only", only_a), ("after only", only_b)):
            if metrics:
                print(f"  {side}: {', '.join(metrics)}")
        added = sorted(b["analysis"].keys() - a["analysis"].keys())  # a new analysis file only adds
        b["analysis"] = {name: value for name, value in b["analysis"].items() if name not in added}
        for key in ("events", "analysis", "arrays"):
            if a[key] != b[key]:
                print(f"  {key} differ:\n    before {json.dumps(a[key])}\n    after  {json.dumps(b[key])}")
            else:
                print(f"  {key}: identical ({len(a[key])})")
        if added:
            print(f"  analysis files added: {', '.join(added)}")
        identical &= not (differing or only_a or only_b) and all(a[k] == b[k] for k in ("events", "analysis", "arrays"))
    print("identical" if identical else "DIFFERENT")
    return identical


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="folder for a new snapshot")
    parser.add_argument("--compare", type=Path, nargs=2, metavar=("BEFORE", "AFTER"))
    args = parser.parse_args()
    if args.compare:
        sys.exit(0 if compare(*args.compare) else 1)
    if args.out is None:
        parser.error("give --out DIR or --compare BEFORE AFTER")
    snapshot(args.out)


if __name__ == "__main__":
    main()
