"""Sweep files: axes expanded into points, checked before anything is written."""

import math

import pytest

from phasewatch.cli import main
from phasewatch.config import preset_config
from phasewatch.errors import UserError
from phasewatch.sweep import load_sweep


def write(tmp_path, body: str, name: str = "s") -> str:
    path = tmp_path / f"{name}.toml"
    path.write_text(f'name = "{name}"\nexperiment = "grokking-mlp"\n[set]\nsteps = 20\n' + body)
    return str(path)


def test_grid_zip_and_random_multiply(tmp_path):
    sweep = load_sweep(
        write(
            tmp_path,
            "[grid]\ntrain_fraction = [0.3, 0.5, 0.7]\nseed = [0, 1]\n"
            "[zip]\nlr = [1e-3, 2e-3]\nwarmup_steps = [5, 10]\n"
            "[random]\ncount = 2\nseed = 3\nweight_decay = { low = 0.01, high = 1.0, log = true }\n",
        )
    )
    assert len(sweep.points) == 3 * 2 * 2 * 2
    rows = [p.values for p in sweep.points]
    assert {(r["lr"], r["warmup_steps"]) for r in rows} == {(1e-3, 5), (2e-3, 10)}  # zipped, not crossed
    decays = sorted({r["weight_decay"] for r in rows})
    assert len(decays) == 2 and all(0.01 <= d <= 1.0 for d in decays)
    assert sweep.axes["train_fraction"] == [0.3, 0.5, 0.7] and sweep.axes["seed"] == [0, 1]
    assert len({p.run for p in sweep.points}) == len(sweep.points)


def test_random_draws_are_seeded_and_log_uniform(tmp_path):
    body = "[random]\ncount = 400\nseed = 7\nlr = { low = 1e-4, high = 1e-2, log = true }\n"
    first, again = load_sweep(write(tmp_path, body)), load_sweep(write(tmp_path, body, "t"))
    lrs = [p.values["lr"] for p in first.points]
    assert lrs == [p.values["lr"] for p in again.points]
    below = sum(math.log10(x) < -3 for x in lrs) / len(lrs)  # log-uniform: half the draws below 1e-3
    assert 0.4 < below < 0.6


def test_the_run_id_is_the_config_so_the_same_point_is_the_same_run(tmp_path):
    a = load_sweep(write(tmp_path, "[grid]\nseed = [0, 1]\n"))
    b = load_sweep(write(tmp_path, "[grid]\nseed = [1, 0, 2]\n"))
    assert {p.run.split("-")[-1] for p in a.points} < {p.run.split("-")[-1] for p in b.points}
    lr = preset_config("grokking-mlp").train.lr
    c = load_sweep(write(tmp_path, f"[grid]\nseed = [0]\nlr = [{lr!r}]\n"))  # the preset's own lr: the same config
    assert c.points[0].run.split("-")[-1] == a.points[0].run.split("-")[-1]


@pytest.mark.parametrize(
    "body, message",
    [
        ("[grid]\nno_such_key = [1, 2]\n", "sweep point (no_such_key=1): --set: 'no_such_key' is not a known key"),
        ("[grid]\nlr = [0.001, -1.0]\n", "sweep point (lr=-1.0): train.lr"),
        ("[grid]\nseed = []\n", "sweep grid.seed: [] is not allowed (a non-empty list of values)"),
        ("[grid]\nseed = 3\n", "sweep grid.seed: 3 is not allowed"),
        ("[zip]\nseed = [0, 1]\nlr = [0.001]\n", "sweep zip: the lists differ in length"),
        ("[grid]\nseed = [0]\n[zip]\nseed = [1]\n", "a key is an axis twice"),
        ("[random]\ncount = 0\n", "sweep random.count: 0 is not allowed"),
        ("[random]\ncount = 2\nlr = { low = 0, high = 1, log = true }\n", "sweep random.lr"),
        ("[grid]\nseed = [1, 1]\n", "two points resolve to the same config"),
        ('backend = "slurm"\n', ""),
    ],
)
def test_bad_sweeps_are_one_line_and_write_nothing(tmp_path, capsys, body, message):
    if body.startswith("backend"):
        path = tmp_path / "b.toml"
        path.write_text('name = "b"\nexperiment = "grokking-mlp"\nbackend = "slurm"\n[grid]\nseed = [0]\n')
        path, message = str(path), "backend: 'slurm' is not allowed (choose from: local, ray, ensemble)"
    else:
        path = write(tmp_path, body)
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")):
        load_sweep(path)
    store = tmp_path / "store"
    assert main(["--store", str(store), "sweep", path]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and not store.exists()
