"""The sweep's phase diagram from planted member runs: regions, event statistics, the page."""

import json
import re

import numpy as np
import pytest
from plotly.offline import get_plotlyjs, get_plotlyjs_version

from phasewatch.errors import UserError
from phasewatch.report.phase_diagram import cells, member_table, write_phase_diagram
from phasewatch.store import Run
from phasewatch.store.atomic import atomic_write_json

STEPS = [0, 10, 30, 100, 300, 1000]


def planted_sweep(root):
    """2 train fractions × 2 weight decays × 2 seeds. wd 0: memorisation; wd 1, fraction 0.3:
    grokking at steps 300 and 1000 (seeds 0, 1); wd 1, fraction 0.6: comprehension (seed 1 groks
    at 100 instead)."""
    members = []
    for fraction in (0.3, 0.6):
        for wd in (0.0, 1.0):
            for seed in (0, 1):
                run_id = f"d-{fraction}-{wd}-{seed}"
                run = Run.create(
                    root, run_id, experiment="grokking-mlp", config={"task": {"train_fraction": fraction}}, seed=seed
                )
                generalises = wd > 0
                test_final = 1.0 if generalises else 0.1
                with run.writer(0) as writer:
                    for k, step in enumerate(STEPS):
                        writer.log(
                            step, {"train/accuracy": min(1.0, 0.2 + 0.4 * k), "test/accuracy": test_final if k >= 3 else 0.05}
                        )
                events = []
                if wd > 0 and (fraction == 0.3 or seed == 1):
                    step = {(0.3, 0): 300, (0.3, 1): 1000, (0.6, 1): 100}[(fraction, seed)]
                    events.append(
                        {"kind": "grokking", "metric": "test/accuracy", "step": step, "step_low": step - 5, "step_high": step + 5}
                    )
                run.save_events(events)
                run.set_status("finished")
                members.append({"run": run_id, "train_fraction": fraction, "weight_decay": wd, "seed": seed})
    axes = {"train_fraction": [0.3, 0.6], "weight_decay": [0.0, 1.0], "seed": [0, 1]}
    atomic_write_json(root / "sweeps" / "d.json", {"name": "d", "experiment": "grokking-mlp", "axes": axes, "members": members})


def test_cells_name_regions_and_pool_event_steps(tmp_path):
    planted_sweep(tmp_path)
    table = member_table(tmp_path, "d")
    assert len(table) == 8 and set(table["state"]) == {"finished"}
    grid = cells(table, "train_fraction", "weight_decay").set_index(["train_fraction", "weight_decay"])
    assert grid.loc[(0.3, 0.0), "region"] == "memorisation" and grid.loc[(0.3, 0.0), "with_event"] == 0
    grok = grid.loc[(0.3, 1.0)]
    assert grok["region"] == "grokking" and grok["in_region"] == 2 and grok["with_event"] == 2
    assert grok["log_step"] == pytest.approx((np.log10(300) + np.log10(1000)) / 2)
    assert (grok["step_min"], grok["step_max"]) == (300, 1000)
    mixed = grid.loc[(0.6, 1.0)]  # one run groks, the other comprehends: a tie goes to the earlier region in the list
    assert mixed["region"] == "comprehension" and mixed["in_region"] == 1 and mixed["with_event"] == 1


def test_the_page_is_written_and_escapes_what_it_shows(tmp_path):
    planted_sweep(tmp_path)
    record = json.loads((tmp_path / "sweeps" / "d.json").read_text())
    record["axes"]["tag"] = ["<b>bold</b>"]  # a user's string axis value
    record["members"] = [{**m, "tag": "<b>bold</b>"} for m in record["members"]]
    atomic_write_json(tmp_path / "sweeps" / "d.json", record)
    path = write_phase_diagram(tmp_path, "d", x="train_fraction", y="weight_decay")
    html = path.read_text()
    assert "<b>bold</b>" not in html and "&lt;b&gt;bold&lt;/b&gt;" in html
    assert path == tmp_path / "sweeps" / "d.html"
    assert 'href="../d-0.3-1.0-0/report.html"' in html and "Regions" in html and "memorisation" in html
    with pytest.raises(UserError, match="--x: 'lr' is not allowed"):
        write_phase_diagram(tmp_path, "d", x="lr")
    with pytest.raises(UserError, match="sweep 'nope' not found"):
        write_phase_diagram(tmp_path, "nope")


def test_the_page_fits_the_event_step_against_a_numeric_axis(tmp_path):
    """The planted grokking steps: fraction 0.3 at 300 and 1000, fraction 0.6 at 100. The exponent is
    the least-squares slope of log10 step on log10 fraction, computed here by hand."""
    planted_sweep(tmp_path)
    html = write_phase_diagram(tmp_path, "d", x="train_fraction", y="weight_decay").read_text()
    x = np.log10([0.3, 0.3, 0.6])
    y = np.log10([300, 1000, 100])
    slope = np.sum((x - x.mean()) * (y - y.mean())) / np.sum((x - x.mean()) ** 2)
    assert f"grokking step ∝ train_fraction^{slope:.2f}" in html
    assert "runs with the event per value — 0.3: 2/4, 0.6: 1/4" in html
    assert "step ∝ seed^" not in html and "step ∝ weight_decay^" not in html  # the seed, and an axis with a zero


def test_a_sweep_with_cells_never_run_still_gets_its_page_sharing_the_stores_plotly(tmp_path):
    planted_sweep(tmp_path)
    record = json.loads((tmp_path / "sweeps" / "d.json").read_text())
    record["axes"]["train_fraction"].append(0.9)  # a value whose runs were never run: a cell with no region
    record["members"] += [{"run": f"never-{seed}", "train_fraction": 0.9, "weight_decay": 1.0, "seed": seed} for seed in (0, 1)]
    atomic_write_json(tmp_path / "sweeps" / "d.json", record)
    html = write_phase_diagram(tmp_path, "d", x="train_fraction", y="weight_decay").read_text()
    assert "missing 2" in html and get_plotlyjs() not in html
    [src] = re.findall(r'<script src="([^"]+)"', html)
    assert src == f"../.assets/plotly-{get_plotlyjs_version()}.min.js" and (tmp_path / "sweeps" / src).is_file()
