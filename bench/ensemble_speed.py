"""Throughput of the `ensemble` backend against solo runs: aggregate member-steps per second.

For each preset, N members (seeds seed..seed+N−1, `train.steps` = --steps) are trained once as one
vectorised ensemble (`train.ensemble.train_ensemble`) and, for the solo side, --solo-runs of them
one after another through `train.loop.train`, each into its own run in a temporary store; the
solo throughput is *extrapolated* from those (N solo runs take N × the mean solo time: solo runs
are independent, so their time is linear in N). Preparing the configs (task and model build) is
not timed on either side (both need it once per member). Two figures per side:

- steps: the training loop less its checkpoint writes and probes (both cost the same per member
  on either side; a checkpoint's fsync dominates a short run of a small model);
- loop: the training loop as recorded (the runs' `train_seconds`: steps, probes, checkpoints);
- end to end: the whole `train`/`train_ensemble` call, with each run's events, analysis files
  and report (per member on both sides).

Probes are off by default (`--probes light`: behaviour only), checkpoints only at the first and last
step, and the UFM preset's curve fits off, so the figures are the training itself. A warm-up
(a 2-member, 2-step ensemble and a 2-step solo run) goes first, untimed.

    .venv/bin/python bench/ensemble_speed.py --members 16 --steps 50
    .venv/bin/python bench/ensemble_speed.py --preset ufm --members 64 --steps 200 --device cuda
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from phasewatch.config import resolve
from phasewatch.record import Recorder
from phasewatch.store import Run
from phasewatch.train.ensemble import train_ensemble
from phasewatch.train.loop import train
from phasewatch.train.prepare import prepare

LIGHT = {"off": "probes.names=[]", "light": 'probes.names=["behaviour"]'}
CHECKPOINT_SECONDS = [0.0]  # checkpoint writes, summed over every recorder since the last reset
_checkpoint = Recorder.checkpoint


def _timed_checkpoint(self, *args, **kwargs):
    began = time.perf_counter()
    try:
        return _checkpoint(self, *args, **kwargs)
    finally:
        CHECKPOINT_SECONDS[0] += time.perf_counter() - began


Recorder.checkpoint = _timed_checkpoint  # type: ignore[method-assign]


def assignments(args, preset: str, seed: int, steps: int) -> list[str]:
    quiet = ["events.fit_ufm=false", "events.structure_windows=[]", "events.structure_metrics=[]"] if preset == "ufm" else []
    return [
        f"seed={seed}",
        f"train.steps={steps}",
        f"train.checkpoint_every={steps}",
        f"train.device={args.device}",
        f"train.threads={args.threads}",
        LIGHT[args.probes],
        *quiet,
        *args.set,
    ]


def members(args, preset: str, root: Path, tag: str, count: int, steps: int) -> list[tuple[Run, object]]:
    made = []
    for i in range(count):
        seed = args.seed + i
        _, config = resolve(preset, None, assignments(args, preset, seed, steps))
        run = Run.create(root, f"{tag}-{i}", experiment=preset, config=config.model_dump(mode="json"), seed=seed)
        made.append((run, prepare(config)))
    return made


def bench(args, preset: str, root: Path) -> dict[str, float]:
    n, steps = args.members, args.steps
    # warm-up, untimed
    train_ensemble(members(args, preset, root, f"{preset}-warm-ens", 2, 2))
    for run, prepared in members(args, preset, root, f"{preset}-warm-solo", 1, 2):
        train(run, prepared, show_progress=False)

    ensemble = members(args, preset, root, f"{preset}-ens", n, steps)
    CHECKPOINT_SECONDS[0] = 0.0
    began = time.perf_counter()
    train_ensemble(ensemble, chunk_size=args.chunk)
    ensemble_wall = time.perf_counter() - began
    infos = [Run.open(root, run.id).info for run, _ in ensemble]
    ensemble_loop = min(info["train_seconds"] for info in infos)  # the loop, before any member's replay
    ensemble_steps = ensemble_loop - CHECKPOINT_SECONDS[0] - sum(info["probe_seconds"] for info in infos)

    solo_walls, solo_loops, solo_steps = [], [], []
    for run, prepared in members(args, preset, root, f"{preset}-solo", min(n, args.solo_runs), steps):
        CHECKPOINT_SECONDS[0] = 0.0
        began = time.perf_counter()
        train(run, prepared, show_progress=False)
        solo_walls.append(time.perf_counter() - began)
        info = Run.open(root, run.id).info
        solo_loops.append(info["train_seconds"])
        solo_steps.append(info["train_seconds"] - CHECKPOINT_SECONDS[0] - info["probe_seconds"])
    member_steps = n * steps
    return {
        "ensemble steps": member_steps / ensemble_steps,
        "ensemble loop": member_steps / ensemble_loop,
        "ensemble end to end": member_steps / ensemble_wall,
        "solo steps": steps / statistics.mean(solo_steps),
        "solo loop": steps / statistics.mean(solo_loops),
        "solo end to end": steps / statistics.mean(solo_walls),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="the first member's seed")
    parser.add_argument("--members", type=int, default=64)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--preset", nargs="+", default=["ufm", "grokking"])
    parser.add_argument("--solo-runs", type=int, default=4, help="solo runs timed (the rest extrapolated)")
    parser.add_argument("--probes", choices=sorted(LIGHT), default="off")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (train.threads)")
    parser.add_argument("--chunk", type=int, default=None, help="members per vmap call (default: the backend's)")
    parser.add_argument("--set", action="append", default=[], help="an extra key=value for every member")
    args = parser.parse_args()
    print(
        f"torch {torch.__version__}, {platform.processor() or platform.machine()}, device {args.device}, threads {args.threads}"
    )
    print(f"{args.members} members × {args.steps} steps, probes {args.probes}; solo extrapolated from {args.solo_runs} runs")
    with tempfile.TemporaryDirectory() as tmp:
        for preset in args.preset:
            rates = bench(args, preset, Path(tmp))
            print(f"\n{preset}: member-steps/s")
            for name, rate in rates.items():
                print(f"  {name:22s} {rate:12,.1f}")
            ratios = {kind: rates[f"ensemble {kind}"] / rates[f"solo {kind}"] for kind in ("steps", "loop", "end to end")}
            print("  ratio ensemble / solo: " + ", ".join(f"{kind} {ratio:.2f}×" for kind, ratio in ratios.items()))


if __name__ == "__main__":
    main()
