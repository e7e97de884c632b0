"""Comparing runs grouped by a config key (`phasewatch compare RUN... --by KEY`): the grouping, each
group's mean curve and band, the per-group event statistics, and the CLI, on tiny runs with
planted values whose statistics are known in closed form."""

from __future__ import annotations

import numpy as np
import pytest
from plotly.offline import get_plotlyjs

from phasewatch.cli import main
from phasewatch.errors import UserError
from phasewatch.report.common import curves
from phasewatch.report.compare import (
    config_key,
    curve_metrics,
    default_comparison_path,
    event_statistics,
    event_table,
    group_runs,
    write_comparison,
)
from phasewatch.report.compare_figures import band_curve, band_figure
from phasewatch.store import Run

HOSTILE_VALUE = "<b>bold</b><script>alert(1)</script>"
SCHEDULE = np.array([0, 10, 100, 1000])
OTHER_SCHEDULE = np.array([0, 50, 1000])  # another probe schedule: interpolated where they differ


def accuracy(steps: np.ndarray, offset: float) -> np.ndarray:
    """Linear in log(1 + step), so interpolating it in log-step is exact: the group's mean is known anywhere."""
    return offset + 0.1 * np.log1p(steps)


def grokking(step: int, low: int, high: int) -> dict:
    return {"kind": "grokking", "metric": "test/accuracy", "step": step, "step_low": low, "step_high": high}


def make(root, run_id, *, weight_decay=1.0, offset=0.0, steps=SCHEDULE, events=(), description="tiny", seed=0, extra=None):
    config = {
        "description": description,
        "seed": seed,
        "task": {"name": "modular", "p": 7},
        "model": {"name": "transformer", "d_model": 8},
        "train": {"steps": int(steps[-1]), "lr": 1e-3, "weight_decay": weight_decay},
    }
    run = Run.create(root, run_id, experiment="grokking", config=config, seed=seed)
    with run.writer(0) as writer:
        for step, value in zip(steps, accuracy(steps, offset)):
            writer.log(int(step), {"test/accuracy": float(value), "train/loss": float(2.0 - value)} | (extra or {}))
    run.save_events(list(events))
    return run


def watched(root, run_id="watched"):
    """A run of `phasewatch.Watcher`: a config of its own, without train.weight_decay."""
    config = {"description": "an MLP watched", "model": {"class": "MLP", "parameters": 10}, "probes": {"names": ["behaviour"]}}
    run = Run.create(root, run_id, experiment="watch", config=config, seed=0)
    with run.writer(0) as writer:
        writer.log(0, {"test/accuracy": 0.1, "train/loss": 2.0})
    return run


@pytest.fixture
def planted(tmp_path):
    """Group weight_decay=1.0: three runs, offsets 0, 0.1, 0.2 (one on another schedule), a grokking
    event at 100, 120, 140 and a loss cliff in two of them. Group 0.1: two runs, offsets 0.5 and 0.7."""
    cliff = {"kind": "loss_cliff", "metric": "train/loss", "step": 30, "step_low": 25, "step_high": 35}
    return [
        make(tmp_path, "a0", offset=0.0, events=[grokking(100, 90, 110), cliff], seed=0),
        make(tmp_path, "a1", offset=0.1, events=[grokking(120, 100, 140), cliff], seed=1),
        make(tmp_path, "a2", offset=0.2, steps=OTHER_SCHEDULE, events=[grokking(140, 110, 170)], seed=2),
        make(tmp_path, "b0", weight_decay=0.1, offset=0.5, events=[grokking(500, 500, 500)], seed=0),
        make(tmp_path, "b1", weight_decay=0.1, offset=0.7, seed=1),
    ]


# ---- grouping ---------------------------------------------------------------------------------------


def test_grouping_by_a_dotted_or_a_bare_key_orders_numeric_groups_by_value(planted):
    by_dotted = group_runs(planted, "train.weight_decay")
    by_bare = group_runs(planted, "weight_decay")
    expected = {"train.weight_decay=0.1": ["b0", "b1"], "train.weight_decay=1.0": ["a0", "a1", "a2"]}
    for groups in (by_dotted, by_bare):
        assert {label: [r.id for r in members] for label, members in groups.items()} == expected
        assert list(groups) == list(expected)  # 0.1 before 1.0, though the runs came first-seen 1.0 first
    assert config_key(planted, "weight_decay") == config_key(planted, "train.weight_decay") == "train.weight_decay"
    assert list(group_runs(planted, "p")) == ["task.p=7"]


def test_a_key_a_run_lacks_is_one_line_naming_the_run(planted, tmp_path):
    runs = [*planted, watched(tmp_path)]
    for key in ("train.weight_decay", "weight_decay"):
        with pytest.raises(UserError, match="run 'watched' has no setting 'train.weight_decay'") as caught:
            group_runs(runs, key)
        assert "\n" not in str(caught.value)
    with pytest.raises(UserError, match=r"--by: 'name' is ambiguous \(it may be model.name, task.name\)"):
        config_key(planted, "name", "--by")
    with pytest.raises(UserError, match="group_by: 'colour' is not a config key of these runs"):
        group_runs(planted, "colour")


# ---- curves -----------------------------------------------------------------------------------------


def test_band_is_the_mean_and_the_min_to_max_over_runs_on_the_union_of_steps(planted):
    group = [curves(run)["test/accuracy"] for run in planted[:3]]
    band = band_curve(group)
    assert list(band.steps) == [0, 10, 50, 100, 1000] and band.runs == 3
    # a2 was not probed at 10 and 100, a0 and a1 not at 50: interpolated in log-step, exact for these curves
    assert band.mean == pytest.approx(accuracy(band.steps, 0.1))
    assert band.low == pytest.approx(accuracy(band.steps, 0.0))
    assert band.high == pytest.approx(accuracy(band.steps, 0.2))


def test_band_keeps_probed_values_exact_skips_nan_and_stays_inside_the_common_range():
    steps = np.array([0, 10, 100])
    runs = [(steps, np.array([1.0, 5.0, 2.0])), (steps, np.array([3.0, np.nan, 4.0])), (steps[:2], np.array([2.0, 6.0]))]
    band = band_curve(runs)
    assert list(band.steps) == [0, 10]  # the third run stops at step 10: no run is extrapolated
    assert list(band.mean) == [2.0, 5.5] and list(band.low) == [1.0, 5.0] and list(band.high) == [3.0, 6.0]
    assert band_curve([]).runs == 0 and not len(band_curve([]).steps)


def test_band_spans_the_10_to_90_percent_quantiles_from_five_runs():
    offsets = [0.0, 0.1, 0.2, 0.3, 0.4]
    band = band_curve([(SCHEDULE, accuracy(SCHEDULE, o)) for o in offsets])
    assert band.mean == pytest.approx(accuracy(SCHEDULE, 0.2))
    assert band.low == pytest.approx(accuracy(SCHEDULE, 0.04))  # np.quantile, linear: 0.1 × 4 gaps = 0.4 of the first
    assert band.high == pytest.approx(accuracy(SCHEDULE, 0.36))


def test_band_figure_draws_each_group_and_says_which_runs_lack_the_metric():
    groups = {
        "<b>wd</b>=1": [{"m": (SCHEDULE, accuracy(SCHEDULE, 0.0))}, {"m": (SCHEDULE, accuracy(SCHEDULE, 0.2))}],
        "wd=0.1": [{"m": (SCHEDULE, accuracy(SCHEDULE, 0.5))}, {}],
    }
    fig = band_figure("m", groups)
    assert fig is not None and len(fig.data) == 2 * 3  # band edges and mean per group
    names = [t.name for t in fig.data if t.showlegend is not False]
    assert names == ["&lt;b&gt;wd&lt;/b&gt;=1", "wd=0.1 (1 of 2 runs)"]
    assert list(fig.data[2].y) == pytest.approx(accuracy(SCHEDULE, 0.1))
    assert fig.layout.xaxis.type == "log"
    assert band_figure("never", groups) is None


def test_curve_metrics_are_the_shared_behaviour_metrics_then_those_asked_for(planted):
    data = [curves(run) for run in planted]
    assert curve_metrics(data) == ["train/loss", "test/accuracy"]  # no run has test/loss or train/accuracy
    assert curve_metrics(data, ["test/accuracy", "train/loss"]) == ["train/loss", "test/accuracy"]
    with pytest.raises(
        UserError, match=r"metric: 'nope' is recorded by none of these runs \(recorded: test/accuracy, train/loss\)"
    ):
        curve_metrics(data, ["nope"])


# ---- events -----------------------------------------------------------------------------------------


def test_event_statistics_count_runs_and_give_mean_interval_and_width(planted):
    groups = group_runs(planted, "weight_decay")
    stats = event_statistics([run.events for run in groups["train.weight_decay=1.0"]])
    assert [(s["kind"], s["runs"], s["of"]) for s in stats] == [("loss_cliff", 2, 3), ("grokking", 3, 3)]
    cliff, grok = stats
    assert grok["mean"] == 120 and (grok["low"], grok["high"]) == (100, 140)  # fewer than five runs: min–max
    assert grok["width"] == pytest.approx((20 + 40 + 60) / 3)
    assert cliff["mean"] == 30 and cliff["width"] == 10
    rows = event_table({label: [r.events for r in members] for label, members in groups.items()})
    assert rows == [
        ("train.weight_decay=0.1", "grokking", "test/accuracy", "1/2", "500", "[500, 500]", "0"),
        ("train.weight_decay=1.0", "loss_cliff", "train/loss", "2/3", "30", "[30, 30]", "10"),
        ("train.weight_decay=1.0", "grokking", "test/accuracy", "3/3", "120", "[100, 140]", "40"),
    ]


def test_event_interval_is_the_5th_to_95th_percentile_from_five_runs_and_a_run_counts_its_first_event():
    runs = [[grokking(s, s - 5, s + 5)] for s in (100, 110, 120, 130, 140)]
    runs[0].append(grokking(900, 900, 900))  # the same event again, later: not a sixth step
    runs.append([])  # a run without it
    [stats] = event_statistics(runs)
    assert (stats["runs"], stats["of"], stats["mean"], stats["width"]) == (5, 6, 120, 10)
    assert stats["low"] == pytest.approx(102) and stats["high"] == pytest.approx(138)  # linear percentiles
    assert event_statistics([[{"kind": "plateau", "metric": "m", "step": 7}]] * 2)[0]["width"] == 0


# ---- the page and the CLI ---------------------------------------------------------------------------


def test_page_has_a_figure_per_metric_and_the_event_table(planted, tmp_path):
    page = write_comparison(planted, tmp_path / "c.html", group_by="weight_decay", metrics=["test/accuracy"]).read_text()
    for title in ("Trade-off", "train/loss", "test/accuracy", "Events"):
        assert f"<h2>{title}</h2>" in page
    assert "<td>3/3</td><td>120</td><td>[100, 140]</td><td>40</td>" in page


def test_cli_compare_writes_the_page_and_escapes_user_strings(tmp_path, capsys):
    store = tmp_path / "store"
    make(store, "plain", description="plain", extra={"weight_norm/total": 3.0}, seed=0)
    make(store, "hostile", description=HOSTILE_VALUE, offset=0.2, events=[grokking(100, 90, 110)], seed=1)
    argv = ["--store", str(store), "compare", "plain", "hostile", "--by", "description", "--metric", "weight_norm/total"]
    assert main(argv) == 0
    path = default_comparison_path(store, "description")
    assert capsys.readouterr().out == f"comparison: {path}\n" and path == store / "comparisons" / "compare-description.html"
    page = path.read_text(encoding="utf-8")
    assert get_plotlyjs() not in page and '<script src="../.assets/plotly-' in page  # the store's shared copy
    rest = page
    assert HOSTILE_VALUE not in rest and "<b>bold" not in rest and "<script>alert" not in rest
    assert "description=&lt;b&gt;bold&lt;/b&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in rest
    assert "<h2>weight_norm/total</h2>" in rest  # asked for, though only one run recorded it
    assert "https://" not in rest and "http://" not in rest
    out = tmp_path / "elsewhere" / "page.html"
    assert main([*argv, "--out", str(out)]) == 0 and out.is_file()
    assert out.read_text(encoding="utf-8").count(get_plotlyjs()) == 1  # outside the store: inlined, as before


@pytest.mark.parametrize(
    "argv, message",
    [
        (["compare", "a0", "nope", "--by", "weight_decay"], "run 'nope' not found"),
        (["compare", "a0", "a1", "--by", "colour"], "--by: 'colour' is not a config key of these runs"),
        (["compare", "a0", "watched", "--by", "weight_decay"], "--by: run 'watched' has no setting 'train.weight_decay'"),
        (["compare", "a0", "--by", "weight_decay"], "compare: needs two runs or more (got 1: a0)"),
        (["compare", "a0", "a0", "--by", "weight_decay"], "compare: needs two runs or more (got 1: a0)"),
        (["compare", "a0", "a1", "--by", "weight_decay", "--metric", "nope"], "metric: 'nope' is recorded by none"),
        (["compare", "a0", "a1"], "the following arguments are required: --by"),
    ],
)
def test_cli_compare_bad_input_is_one_line_exit_2_and_writes_nothing(argv, message, tmp_path, capsys):
    store = tmp_path / "store"
    make(store, "a0")
    make(store, "a1", seed=1)
    watched(store)
    assert main(["--store", str(store), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (store / "comparisons").exists()
