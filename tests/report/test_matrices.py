import torch
from report_fakes import FACTOR_SIZES, ITEMS_PER_COMBINATION, PEAK_STEP, structure_events

from phasewatch.report.matrices import saved_matrices_figure, slider_frames
from phasewatch.tasks.attributes import attribute_groups, item_attributes


def test_slider_frames_label_init_peak_end_and_open_at_the_peak():
    saved = [0, 1, 2, 5, 10, 180, 230, 1000, 5000]
    frames, labels, active = slider_frames(saved, peak_step=200)
    assert labels == {0: "init", 180: "peak", 5000: "end"}  # 180 is the saved step nearest 200
    assert active == 180 and frames == saved
    frames, labels, active = slider_frames(saved, peak_step=None)
    assert labels == {0: "init", 5000: "end"} and active == 5000


def test_slider_keeps_the_peak_when_thinning_frames():
    saved = list(range(0, 100_001, 7))
    frames, labels, active = slider_frames(saved, peak_step=4_321)
    assert 4_319 in frames and labels[4_319] == "peak" and active == 4_319  # 4,319 = 617·7, the nearest
    assert frames[0] == 0 and frames[-1] == saved[-1] and len(frames) <= 61


def test_attribute_groups_of_the_ufm_task():
    groups = attribute_groups(item_attributes((2, 3, 2), 4), [2, 3, 2])
    assert [(first, end) for first, end, _, _ in groups] == [(4 * k, 4 * k + 4) for k in range(12)]
    labels = [label for _, _, label, _ in groups]
    assert labels[:3] == ["0·0·0", "0·0·1", "0·1·0"] and labels[-1] == "1·2·1"
    # the level is the coarsest factor that changed: 0·0·1 → 0·1·0 changes factor 1, 0·2·1 → 1·0·0 factor 0
    assert [level for *_, level in groups[1:7]] == [2, 1, 2, 1, 2, 0]


def test_attribute_groups_need_items_in_attribute_order_and_labels_need_the_sizes():
    shuffled = item_attributes((2, 2), 2)[torch.tensor([0, 2, 1, 3, 4, 5, 6, 7])]  # 0·0 recurs after 0·1
    assert attribute_groups(shuffled, [2, 2]) is None
    assert [label for _, _, label, _ in attribute_groups(item_attributes((2, 2), 1))] == ["0·2", "0·3", "1·2", "1·3"]


def test_a_run_without_saved_groups_draws_its_matrices_without_them(tmp_path, make_structure_run):
    run = make_structure_run(tmp_path, events=structure_events())
    (run.path / "analysis" / "attribute_groups.json").unlink()
    fig = saved_matrices_figure(run, peak_step=PEAK_STEP)
    assert fig is not None and not fig.layout.shapes


def test_gram_heat_maps_side_by_side_with_groups_and_labelled_frames(tmp_path, make_structure_run):
    run = make_structure_run(tmp_path, events=structure_events())
    run.save_checkpoint(
        180, {"unembed.W": torch.ones(16, 8), "item_embed.W": torch.ones(8, 8)}, {}, tag="keep_peak"
    )  # a model state, not a matrix
    fig = saved_matrices_figure(run, peak_step=PEAK_STEP)
    assert [a.text for a in fig.layout.annotations] == ["gram/features", "gram/classifier"]
    assert fig.layout.xaxis.domain[1] < fig.layout.xaxis2.domain[0] and fig.layout.yaxis.domain == fig.layout.yaxis2.domain
    slider = fig.layout.sliders[0]
    labels = [step.label for step in slider.steps]
    assert labels == ["0 (init)", "10", "120", "230 (peak)", "1000", "5000 (end)"]  # 230: the saved step nearest 200
    assert slider.active == 3
    groups = FACTOR_SIZES[0] * FACTOR_SIZES[1]
    assert len(fig.layout.shapes) == 2 * 2 * (groups - 1)  # a row and a column line per boundary, per matrix
    assert list(fig.layout.xaxis.ticktext) == ["0·0", "0·1", "1·0", "1·1"]
    m = ITEMS_PER_COMBINATION
    assert list(fig.layout.xaxis.tickvals) == [m * k + (m - 1) / 2 for k in range(groups)]  # each group's centre
