"""Fault injection: kill -9 at random points of run, resume, overwrite, report and analyze, then
recover with the ordinary commands and compare with an uninterrupted reference; then every
hostile `--set` value of the config fuzzer through the real CLI.

    .venv/bin/python bench/faults.py [--seed 1] [--trials 25] [--cases 3000]

Kill campaign (seeded): each trial picks an operation and a kill time, uniform over the part of
the reference's duration after the interpreter has started, and SIGKILLs the process there.
Recovery is what a user would type: `run --resume` until finished (`run` again if the kill came
before the run existed), `report` again, `analyze` again. A trial is exact when the recovered
run's metric rows equal the reference's (each row once), its events are the reference's and,
for trained runs, its final checkpoint is byte-identical. Rows lost counts reference rows missing
afterwards; every command's stderr is searched for a traceback, and `runs` and `sql` are queried
after each trial.

Bad inputs: `--cases` (preset, key, value) triples drawn with the seed from the fuzzer's hostile
values (tests/test_config_fuzz.py), each through `phasewatch run PRESET --set KEY=VALUE` in
process. A refusal must be exit 2, one line, and leave no store folder behind; a value the CLI
accepts is stopped where the run folder would be made (no training), and counted as accepted.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).parents[1] / "tests"), str(Path(__file__).parents[1] / "tests" / "integrations")]

from conftest import TINY  # noqa: E402
from integration_data import build_modular_model, modular_rows, save_state, write_factory, write_jsonl  # noqa: E402
from test_config_fuzz import VALUES, targets  # noqa: E402

from phasewatch.cli import main  # noqa: E402
from phasewatch.store import Run  # noqa: E402
from phasewatch.sweep import sweep_status  # noqa: E402

CLI = [sys.executable, "-m", "phasewatch.cli"]
OPERATIONS = ["run", "resume", "overwrite", "report", "analyze"]


def cli(store: Path, *argv: str, cwd: Path | None = None, kill_after: float | None = None) -> tuple[int, str]:
    """(exit code, stderr) of one command; SIGKILLed after `kill_after` seconds when given."""
    process = subprocess.Popen(
        [*CLI, "--store", str(store), *argv], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=cwd
    )
    if kill_after is not None:
        try:
            process.wait(kill_after)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
    _, err = process.communicate()
    return process.returncode, err


class Campaign:
    def __init__(self, root: Path, seed: int):
        self.root, self.rng = root, random.Random(seed)
        self.config = root / "tiny.toml"
        self.config.write_text(TINY.format(steps=400, checkpoint_every=50))
        self.series = root / "series"
        for step in (100, 200, 300, 400, 500, 600):
            save_state(build_modular_model(seed=step), self.series / f"step_{step}.safetensors")
        write_jsonl(root / "probe.jsonl", modular_rows())
        write_factory(root)
        self.reference = root / "reference"
        self.seconds: dict[str, float] = {}
        self.startup = self._timed("startup", ["runs"])
        self._timed("run", ["run", "--config", str(self.config), "--name", "r", "--no-progress"])
        self._timed("report", ["report", "r"])
        self._timed("analyze", self._analyze_argv())
        self.tracebacks = 0
        self.results: list[dict] = []

    def _analyze_argv(self) -> list[str]:
        return [
            "analyze",
            "series",
            "--probe-data",
            "probe.jsonl",
            "--factory",
            "tiny_factory:build",
            "--name",
            "a",
            "--no-progress",
        ]

    def _timed(self, name: str, argv: list[str]) -> float:
        began = time.perf_counter()
        code, err = cli(self.reference, *argv, cwd=self.root)
        assert code == 0, err
        self.seconds[name] = time.perf_counter() - began
        return self.seconds[name]

    def _kill_time(self, operation: str) -> float:
        return self.rng.uniform(self.startup * 0.8, self.seconds[operation])

    def _check(self, code: int, err: str) -> None:
        self.tracebacks += "Traceback" in err

    def trial(self, k: int) -> dict:
        operation = self.rng.choice(OPERATIONS)
        store = self.root / f"trial-{k}"
        name = "a" if operation == "analyze" else "r"
        if operation in ("overwrite", "report"):
            shutil.copytree(self.reference / "r", store / "r")
        train = ["run", "--config", str(self.config), "--name", "r", "--no-progress"]
        if operation == "run":
            self._check(*cli(store, *train, kill_after=self._kill_time("run")))
        elif operation == "resume":
            self._check(*cli(store, *train, kill_after=self._kill_time("run")))
            if (store / "r").is_dir():
                self._check(*cli(store, "run", "--resume", "r", "--no-progress", kill_after=self._kill_time("run")))
        elif operation == "overwrite":
            self._check(*cli(store, *train, "--overwrite", kill_after=self._kill_time("run")))
        elif operation == "report":
            (store / "r" / "report.html").unlink()
            self._check(*cli(store, "report", "r", kill_after=self._kill_time("report")))
        else:
            self._check(*cli(store, *self._analyze_argv(), cwd=self.root, kill_after=self._kill_time("analyze")))
        vanished = operation in ("overwrite", "report") and not (store / "r").is_dir()
        commands = self._recover(store, operation)
        outcome = self._compare(store, name, trained=operation != "analyze")
        for argv in (["runs"], ["sql", "SELECT count(*) FROM metrics"]):
            code, err = cli(store, *argv)
            self._check(code, err)
            outcome["queries ok"] = outcome.get("queries ok", True) and code == 0
        return {"trial": k, "operation": operation, "vanished": vanished, "recovery commands": commands, **outcome}

    def _recover(self, store: Path, operation: str) -> int:
        """Run the user's recovery until it succeeds; how many commands it took."""
        for attempt in range(1, 6):
            if operation == "analyze":
                code, err = cli(store, *self._analyze_argv(), cwd=self.root)
            elif operation == "report":
                code, err = cli(store, "report", "r")
            elif not (store / "r" / "run.json").is_file():
                code, err = cli(store, "run", "--config", str(self.config), "--name", "r", "--no-progress")
            elif Run.open(store, "r").status == "finished":
                return attempt - 1
            else:
                code, err = cli(store, "run", "--resume", "r", "--no-progress")
            self._check(code, err)
            if code == 0:
                return attempt
        return -1

    def _compare(self, store: Path, name: str, trained: bool) -> dict:
        want, got = Run.open(self.reference, name), Run.open(store, name)
        a, b = want.metrics(), got.metrics()
        keys = ["step", "metric"]
        merged = a.merge(b, on=keys, how="left", indicator=True)
        lost = int((merged["_merge"] == "left_only").sum())
        same_rows = a.equals(b)  # NaN equals NaN here (a probe may record NaN, e.g. no induction head)
        same_checkpoint = True
        if trained:
            last = want.checkpoint_steps()[-1]
            file = f"checkpoints/step_{last:08d}.safetensors"
            same_checkpoint = (want.path / file).read_bytes() == (got.path / file).read_bytes()
        return {
            "finished": got.status == "finished" and (got.path / "report.html").is_file(),
            "exact": bool(same_rows and got.events == want.events and same_checkpoint),
            "rows lost": lost,
            "rows duplicated": max(0, len(b) - len(a) + lost),
        }


def sweep_kill(root: Path, seed: int, points: int) -> str:
    """A `points`-point sweep SIGKILLed (driver and workers) at a seeded moment between a quarter
    and three quarters of its uninterrupted duration, then run again: what ran, and whether the
    store equals the uninterrupted sweep's."""
    config = root / "sweep-tiny.toml"
    config.write_text(TINY.format(steps=200, checkpoint_every=50))
    file = root / "kill.toml"
    file.write_text(f'name = "kill"\nconfig = "{config}"\n[grid]\nseed = {list(range(points))}\n')
    whole, killed = root / "sweep-whole", root / "sweep-killed"
    began = time.perf_counter()
    code, err = cli(whole, "sweep", str(file), "--workers", "2")
    assert code == 0, err
    duration = time.perf_counter() - began
    driver = subprocess.Popen(
        [*CLI, "--store", str(killed), "sweep", str(file), "--workers", "2"],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(random.Random(seed).uniform(0.25, 0.75) * duration)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    time.sleep(1)  # let the killed workers' processes go
    states = [state for _, state, _ in sweep_status(killed, "kill")]
    result = subprocess.run([*CLI, "--store", str(killed), "sweep", str(file), "--workers", "2"], capture_output=True, text=True)
    runs = [run_id for run_id, _, _ in sweep_status(whole, "kill")]
    equal = all(
        Run.open(whole, r).metrics().equals(Run.open(killed, r).metrics())
        and Run.open(whole, r).events == Run.open(killed, r).events
        for r in runs
    )
    return (
        f"sweep killed: {points} points, SIGKILL at {states.count('done')} done ({states.count('failed')} stopped mid-run); "
        f"rerun exit {result.returncode}: {result.stdout.strip().splitlines()[-1]}; store equal to the uninterrupted sweep: {equal}; "
        f"tracebacks {int('Traceback' in result.stderr)}"
    )


def bad_inputs(seed: int, count: int) -> dict[str, int]:
    """Hostile --set values through the real CLI, in process (see the module docstring)."""
    import phasewatch.pipeline as pipeline

    class Stop(Exception):
        """Raised where the run folder would be made: the input was accepted."""

    def create(*args, **kwargs):
        raise Stop

    pipeline.Run.create = create  # type: ignore[method-assign]
    everything = [(experiment, setting, key, text) for experiment, setting, key, _ in targets() for text in VALUES]
    drawn = random.Random(seed).sample(everything, min(count, len(everything)))
    tally = {
        "tried": 0,
        "refused cleanly": 0,
        "accepted": 0,
        "refused with more than one line": 0,
        "store left behind": 0,
        "tracebacks": 0,
    }
    with tempfile.TemporaryDirectory() as scratch:
        for k, (experiment, setting, key, value) in enumerate(drawn):
            store = Path(scratch) / f"s{k}"
            err = io.StringIO()
            tally["tried"] += 1
            try:
                with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                    before = ["--set", f"setting={setting}"] if setting and key != "setting" else []
                    code = main(["--store", str(store), "run", experiment, *before, "--set", f"{key}={value}", "--no-progress"])
            except Stop:
                tally["accepted"] += 1
                continue
            except BaseException as error:  # noqa: BLE001 - a traceback is what this counts
                tally["tracebacks"] += 1
                print(f"traceback: run {experiment} --set {key}={value[:60]}: {type(error).__name__}: {error}")
                continue
            lines = err.getvalue().strip().splitlines()
            tally["refused cleanly"] += code == 2 and len(lines) == 1 and not store.exists()
            tally["refused with more than one line"] += code == 2 and len(lines) != 1
            tally["store left behind"] += code == 2 and store.exists()
    return tally


def main_() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--trials", type=int, default=25)
    parser.add_argument("--cases", type=int, default=3000, help="hostile --set values to try through the CLI")
    parser.add_argument("--sweep-points", type=int, default=24, help="points of the sweep killed half-way (0: skip)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        campaign = Campaign(Path(scratch), args.seed)
        print("reference durations (s): " + ", ".join(f"{k} {v:.1f}" for k, v in campaign.seconds.items()))
        for k in range(args.trials):
            result = campaign.trial(k)
            print(" ".join(f"{key}={value}" for key, value in result.items()), flush=True)
            campaign.results.append(result)
        results = campaign.results
        per_operation = ", ".join(f"{op} {sum(r['operation'] == op for r in results)}" for op in OPERATIONS)
        print(
            f"\nkill -9 campaign, seed {args.seed}: {len(results)} trials ({per_operation}); "
            f"recovered and exact {sum(r['exact'] for r in results)}/{len(results)}; "
            f"finished with report {sum(r['finished'] for r in results)}/{len(results)}; "
            f"rows lost {sum(r['rows lost'] for r in results)}; rows duplicated {sum(r['rows duplicated'] for r in results)}; "
            f"runs vanished {sum(r['vanished'] for r in results)}; queries failing {sum(not r['queries ok'] for r in results)}; "
            f"tracebacks {campaign.tracebacks}"
        )
        if args.sweep_points:
            print(sweep_kill(Path(scratch), args.seed, args.sweep_points), flush=True)
    tally = bad_inputs(args.seed, args.cases)
    share = tally["refused cleanly"] / max(1, tally["tried"] - tally["accepted"])
    print(
        f"bad inputs through the CLI, seed {args.seed}: "
        + ", ".join(f"{k} {v}" for k, v in tally.items())
        + f"; refused cleanly {share:.1%} of refusals"
    )


if __name__ == "__main__":
    main_()
