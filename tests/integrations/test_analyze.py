"""analyze over a checkpoint series: the live Watcher's values, resumable, one run per analysis."""

from __future__ import annotations

import pytest
import torch
from agreement import assert_agree
from integration_data import (
    PLANTED_GRAM,
    PlantedClassifier,
    build_modular_model,
    modular_rows,
    planted_expectations,
    planted_rows,
    save_state,
    write_factory,
    write_jsonl,
)

from phasewatch import Run, Watcher, analyze
from phasewatch.errors import UserError
from phasewatch.probes.llc import LLC_MEAN

CHECKPOINTS = (20, 40, 60)


def train_and_save(tmp_path, probe_path) -> Run:
    """A plain loop over (a + b) mod 7: Watcher probes, state dicts saved as safetensors."""
    rows = modular_rows()
    inputs = torch.tensor([r["tokens"] for r in rows])
    labels = torch.tensor([r["label"] for r in rows])
    model = build_modular_model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1.0)
    watcher = Watcher(model, probe_path, store=tmp_path / "store", name="live", schedule=range(0, 61, 10))
    watcher.step(0)
    for step in range(1, 61):
        loss = torch.nn.functional.cross_entropy(model(inputs), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        watcher.step(step, loss=loss)
        if step in CHECKPOINTS:
            save_state(model, tmp_path / "series" / f"step_{step}.safetensors")
    return watcher.close()


def test_a_plain_loop_and_analyze_over_its_checkpoints_agree(tmp_path, monkeypatch):
    probe_path = write_jsonl(tmp_path / "probe.jsonl", modular_rows())
    live = train_and_save(tmp_path, probe_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    offline = analyze(tmp_path / "series", probe_path, store=tmp_path / "store", factory=write_factory(tmp_path))
    assert offline.id == "analyze-series" and offline.status == "finished"
    assert offline.config["source"]["model"] == "factory tiny_factory:build"
    assert {"nc1/blocks.1", "semantic_alignment/blocks.0", "probe/loss"} <= set(offline.metric_names())
    assert_agree(live, offline, list(CHECKPOINTS), tolerance=1e-6)
    for step in CHECKPOINTS:
        assert torch.equal(live.load_array("gram/blocks.1", step)["gram"], offline.load_array("gram/blocks.1", step)["gram"])
    assert (offline.path / "report.html").is_file()


def test_analyze_resumes_and_picks_up_new_checkpoints(tmp_path):
    probe_path = write_jsonl(tmp_path / "probe.jsonl", modular_rows())
    for step in (1, 2, 3):
        save_state(build_modular_model(seed=step), tmp_path / "series" / f"step_{step}.safetensors")
    seen: list[int] = []

    def stop_after_two(step: int) -> None:
        seen.append(step)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        analyze(tmp_path / "series", probe_path, store=tmp_path, factory=build_modular_model, on_checkpoint=stop_after_two)
    run = Run.open(tmp_path, "analyze-series")
    assert run.status == "failed" and sorted(run.metrics()["step"].unique()) == [1, 2]
    save_state(build_modular_model(seed=4), tmp_path / "series" / "step_4.safetensors")
    seen.clear()
    run = analyze(tmp_path / "series", probe_path, store=tmp_path, factory=build_modular_model, on_checkpoint=seen.append)
    assert seen == [3, 4] and run.status == "finished"
    assert sorted(run.metrics()["step"].unique()) == [1, 2, 3, 4]
    assert run.metrics().groupby("metric").size().eq(4).all()  # each step recorded exactly once
    with pytest.raises(UserError, match="--name: run 'analyze-series' exists with other settings"):
        analyze(tmp_path / "series", probe_path, store=tmp_path, factory=build_modular_model, probes=["loss"])


def test_analyze_records_the_closed_form_values_of_a_planted_checkpoint(tmp_path):
    """The factory builds a model with random weights; the planted ones come from the checkpoint,
    the probe items from JSONL: the recorded values are integration_data.planted_expectations."""
    probe_path = write_jsonl(tmp_path / "probe.jsonl", planted_rows())
    save_state(PlantedClassifier().plant(), tmp_path / "series" / "step_7.safetensors")
    run = analyze(tmp_path / "series", probe_path, store=tmp_path, factory=PlantedClassifier, sites=["features"])
    assert run.status == "finished"
    expected = planted_expectations()
    assert set(expected) <= set(run.metric_names())
    for name, value in expected.items():
        steps, values = run.metric(name)
        assert steps.tolist() == [7] and values[0] == pytest.approx(value, rel=1e-6), name
    assert torch.equal(run.load_array("gram/features", 7)["gram"], PLANTED_GRAM)


def test_the_llc_estimates_at_every_checkpoint_of_a_series(tmp_path):
    """A training run's schedule is thinned for the llc probe; a checkpoint series is not."""
    probe_path = write_jsonl(tmp_path / "probe.jsonl", modular_rows())
    for step in (1, 2, 3):
        save_state(build_modular_model(seed=step), tmp_path / "series" / f"step_{step}.safetensors")
    run = analyze(tmp_path / "series", probe_path, store=tmp_path, factory=build_modular_model, probes=["llc"])
    assert run.metric(LLC_MEAN.name)[0].tolist() == [1, 2, 3]
