"""A sweep's runs as scaling-law points: parameters counted from the checkpoint, tokens from the batches."""

import json

from phasewatch.cli import main
from phasewatch.store import Run
from phasewatch.sweep.scale import scaling_points


def test_each_finished_run_is_a_point_with_its_parameters_and_tokens(tiny_config, tmp_path, capsys):
    config = tiny_config(steps=20, checkpoint_every=20)
    sweep = tmp_path / "widths.toml"
    sweep.write_text(
        f'name = "widths"\nconfig = "{config}"\n[set]\n"probes.names" = ["behaviour"]\n"events.watch" = ["test/loss"]\n'
        "[zip]\nd_model = [8, 16]\nd_head = [4, 8]\n[grid]\nsteps = [10, 20]\n"
    )
    store = tmp_path / "store"
    assert main(["--store", str(store), "sweep", str(sweep), "--workers", "1", "--no-progress"]) == 0
    points = scaling_points(store, "widths")
    assert len(points) == 4 and len(set(points.N)) == 2
    for row in points.itertuples():
        run = Run.open(store, row.run)
        tensors, _ = run.load_checkpoint(run.checkpoint_steps()[-1])  # the model's weights, counted independently
        assert row.N == sum(t.numel() for key, t in tensors.items() if key.startswith("model."))
        assert row.D == run.info["stopped_at"] * 24 * 3  # (a + b) mod 7 at 50 %: 24 pairs of 3 tokens, full batch
        assert row.loss == run.metric("test/loss")[1][-1] and row.C == 6.0 * row.N * row.D
    capsys.readouterr()
    assert main(["--store", str(store), "scaling", "fit", "widths", "--form", "kaplan", "--resamples", "0", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["points"] == 4
    assert (store / "scaling" / "widths-points.csv").is_file()
