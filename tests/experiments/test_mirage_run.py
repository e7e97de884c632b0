"""The mirage verdict on a real run: 3-digit addition, learned abruptly, judged under every metric."""

import pytest

import phasewatch as pw


@pytest.mark.slow
def test_an_abrupt_addition_transition_persists_under_the_continuous_metrics(tmp_path):
    # the preset's 5-digit, 1-layer model takes minutes; 3 digits on 2 layers learn in ~400 steps
    run = pw.run("addition", store=tmp_path, name="add", digits=3, n_layers=2, d_model=64, d_head=16, lr=1e-3, steps=900)
    steps, exact = run.metric("answer/exact_match")
    assert exact[0] == 0 and exact[-1] > 0.95
    emergence = [e for e in run.events if e["kind"] == "emergence" and e["metric"] == "answer/exact_match"]
    assert len(emergence) == 1, run.events
    event = emergence[0]
    assert event["verdict"] == "persists"
    assert {"answer/log_likelihood", "answer/token_accuracy"} <= set(event["persists_on"])
    assert (run.path / "analysis" / "sharpness.json").is_file()
