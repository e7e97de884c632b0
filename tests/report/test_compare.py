import math
import re

import numpy as np
import pytest
from plotly.offline import get_plotlyjs
from report_fakes import HOSTILE

from phasewatch.errors import UserError
from phasewatch.report.common import mean_interval
from phasewatch.report.compare import final_values, group_runs, tradeoff_table, write_comparison
from phasewatch.report.compare_figures import decay_ratio_figure, mean_curve

T_95_2 = 2.919985580  # Student t quantile 0.95, 2 degrees of freedom (tables)


def test_mean_interval_on_known_numbers():
    mean, low, high = mean_interval([0.1, 0.2, 0.3])
    half = T_95_2 * 0.1 / math.sqrt(3)  # sample sd of (0.1, 0.2, 0.3) is 0.1
    assert mean == pytest.approx(0.2) and low == pytest.approx(0.2 - half) and high == pytest.approx(0.2 + half)
    mean, low, high = mean_interval([5.0, float("nan")])  # a missing value is skipped; one seed has no interval
    assert mean == 5.0 and math.isnan(low) and math.isnan(high)


def test_tradeoff_table_cells_and_keep_peak_columns():
    finals = {
        "baseline": [{"semantic_alignment/features": v, "train/loss": 0.1} for v in (0.1, 0.2, 0.3)],
        "keep-peak": [{"semantic_alignment/features": 0.6, "train/loss": 2.0, "keep_peak/step": 180.0, "true peak step": 200.0}],
    }
    columns, rows = tradeoff_table(finals)
    assert columns == ["group", "seeds", "semantic_alignment/features", "train/loss", "keep_peak/step", "true peak step"]
    assert rows[0][:4] == ["baseline", "3", ("0.2", "[0.03141, 0.3686]"), ("0.1", "[0.1, 0.1]")]
    assert rows[0][4:] == [("–", ""), ("–", "")]  # not recorded by the group
    assert rows[1][2:] == [("0.6", ""), ("2", ""), ("180", ""), ("200", "")]  # one seed: no interval
    columns, _ = tradeoff_table({"baseline": finals["baseline"]})
    assert "true peak step" not in columns  # without keep-peak the true peak is not a trade-off column


def test_default_groups_pool_seeds_and_name_what_differs(tmp_path, make_structure_run):
    runs = [
        make_structure_run(tmp_path, f"r{ratio:g}-s{seed}", seed=seed, decay_ratio=ratio)
        for ratio in (1.0, 100.0)
        for seed in (0, 1)
    ]
    groups = group_runs(runs)
    assert {label: [r.id for r in members] for label, members in groups.items()} == {
        "ufm · train.decay_ratio=1.0": ["r1-s0", "r1-s1"],
        "ufm · train.decay_ratio=100.0": ["r100-s0", "r100-s1"],
    }
    assert list(group_runs(runs, "train.decay_ratio")) == ["train.decay_ratio=1.0", "train.decay_ratio=100.0"]
    assert list(group_runs(runs, lambda run: run.info["seed"])) == ["0", "1"]
    with pytest.raises(UserError, match="group_by: 'train.nope'"):
        group_runs(runs, "train.nope")


def test_comparison_page_renders_escapes_and_summarises(tmp_path, make_structure_run):
    runs = [
        make_structure_run(tmp_path, f"s{seed}", experiment=HOSTILE, seed=seed, final_alignment=value)
        for seed, value in enumerate((0.1, 0.2, 0.3))
    ]
    runs.append(make_structure_run(tmp_path, "other", experiment="ufm", decay_ratio=1.0, final_alignment=0.5))
    path = write_comparison(runs, tmp_path / "compare.html")
    page = path.read_text(encoding="utf-8")
    # inside the runs' store: plotly.js is the store's shared copy, by a relative path
    [src] = re.findall(r'<script src="([^"]+)"', page)
    assert src.startswith(".assets/plotly-") and (path.parent / src).read_text(encoding="utf-8") == get_plotlyjs()
    rest = page
    assert get_plotlyjs() not in rest
    assert HOSTILE not in rest and "&lt;script&gt;alert(1)&lt;/script&gt;" in rest
    assert "https://" not in rest and "http://" not in rest
    final = [r.metric("semantic_alignment/features")[1][-1] for r in runs[:3]]
    mean, low, high = mean_interval(final)
    assert f"<td class=num>{mean:.4g}<br><span class=ci>[{low:.4g}, {high:.4g}]</span></td>" in rest
    for title in ("Trade-off", "Alignment over training", "The decay-ratio law"):
        assert f"<h2>{title}</h2>" in rest


def test_no_decay_ratio_figure_when_all_runs_share_the_ratio(tmp_path, make_structure_run):
    runs = [make_structure_run(tmp_path, f"s{seed}", seed=seed) for seed in (0, 1)]
    page = write_comparison(runs, tmp_path / "compare.html").read_text(encoding="utf-8")
    assert "<h2>Trade-off</h2>" in page and "decay-ratio law" not in page


def test_decay_ratio_figure_has_one_trace_per_family_and_metric(tmp_path, make_structure_run):
    runs = [
        make_structure_run(tmp_path, f"u{ratio:g}-{seed}", decay_ratio=ratio, seed=seed, final_alignment=0.5 / ratio)
        for ratio in (1.0, 10.0, 100.0)
        for seed in (0, 1)
    ]
    runs += [
        make_structure_run(tmp_path, f"sel{ratio:g}", experiment="sbc", setting="selectional", decay_ratio=ratio)
        for ratio in (1.0, 30.0)
    ]
    fig = decay_ratio_figure(runs)
    assert [a.text for a in fig.layout.annotations] == ["ufm", "sbc/selectional"]
    assert len(fig.data) == 2 * 2  # (alignment, ETF distance) × two families
    [ufm_alignment] = [t for t in fig.data if t.name == "ufm" and t.yaxis == "y"]
    assert list(ufm_alignment.x) == [1.0, 10.0, 100.0]
    assert list(ufm_alignment.y) == pytest.approx([r.metric("semantic_alignment/features")[1][-1] for r in runs[0:6:2]])


def test_mean_curve_interpolates_onto_shared_steps():
    steps = np.array([0, 1, 10, 100])
    a, b = (steps, np.array([0.0, 1.0, 2.0, 3.0])), (np.array([0, 100]), np.array([1.0, 1.0]))
    grid, mean = mean_curve([a, b])
    assert list(grid) == [0, 1, 10, 100] and list(mean) == [0.5, 1.0, 1.5, 2.0]


def test_final_values_take_the_true_peak_from_the_window_else_the_curve():
    data = {
        "semantic_alignment/features": (np.array([0, 10, 100, 1000]), np.array([0.0, 0.4, 0.7, float("nan")])),
        "keep_peak/step": (np.array([300]), np.array([90.0])),
    }
    finals = final_values(data, [])
    assert finals == {"semantic_alignment/features": 0.7, "keep_peak/step": 90.0, "true peak step": 100.0}
    events = [
        {"kind": "crystallisation", "metric": "semantic_alignment/features", "step": 5, "peak_step": 120},
        {"kind": "collapse", "metric": "semantic_alignment/features", "step": 500, "peak_step": 120},
    ]
    assert final_values(data, events)["true peak step"] == 120.0
