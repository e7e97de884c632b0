"""Keep-peak and steering on a real (short) coupled-UFM run."""

import numpy as np

import phasewatch as pw
from phasewatch.train.steering import peak_model, steering_curve


def test_keep_peak_stops_after_the_true_peak_and_steering_moves_mass(tmp_path):
    run = pw.run(
        "keep-structure", store=tmp_path, name="kp", assignments=["setting=keep-peak", "stop_at_peak=true", "steps=3000"]
    )
    steps, alignment = run.metric("semantic_alignment/features")
    chosen = int(run.metric("keep_peak/step")[1][-1])
    assert run.info["stopped_at"] < 3000  # it stopped once the peak was behind
    assert chosen == int(steps[np.argmax(alignment)])  # no later value beat the kept one
    kept = run.checkpoint_steps("keep_peak")  # one tagged state per new peak, the chosen one last
    assert kept[-1] == chosen and chosen not in run.checkpoint_steps()  # never mistaken for a resume point
    model, task, step = peak_model(run)
    assert step == chosen
    shifts = [point["mass_shift"] for point in steering_curve(model, task, [0.5, 1.0, 2.0])]
    assert 0 < shifts[0] < shifts[1] < shifts[2]


def test_structure_penalty_keeps_more_alignment_than_the_baseline(tmp_path):
    finals = {}
    for setting in ("baseline", "penalty"):
        run = pw.run("keep-structure", store=tmp_path, name=setting, assignments=[f"setting={setting}", "steps=1500"])
        finals[setting] = run.metric("semantic_alignment/features")[1][-1]
    assert finals["penalty"] > finals["baseline"] + 0.1
