"""The `llc` probe in a built-in run and a watched one: when it estimates, what it records, the
report's panel, and the settings it takes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from phasewatch import Run, Watcher
from phasewatch import run as run_experiment
from phasewatch.config import resolve
from phasewatch.errors import UserError
from phasewatch.probes import PROBES
from phasewatch.probes.llc import LLC_ACCEPTANCE, LLC_MEAN, LLC_STD, LLC_TRACE, LLCConfig
from phasewatch.record.schedule import ProbeSteps, schedule_rank

SAMPLER = ["probes.llc.chains=2", "probes.llc.draws=20", "probes.llc.burn_in=10", "probes.llc.epsilon=1e-4"]


def test_a_run_estimates_at_every_kth_scheduled_step_and_the_report_draws_it(tiny_config, tmp_path):
    overrides = ['probes.names=["behaviour", "llc"]', "probes.llc.every=3", *SAMPLER]
    run = run_experiment(config_file=tiny_config(steps=40), assignments=overrides, store=tmp_path, name="l")
    steps, values = run.metric(LLC_MEAN.name)
    scheduled = list(ProbeSteps(40, 10, 5))
    assert steps.tolist() == scheduled[::3]  # the first scheduled step, then every third
    assert (run.metric(LLC_STD.name)[1] >= 0).all() and ((0 <= run.metric(LLC_ACCEPTANCE.name)[1]) <= 1).all()
    trace = run.load_array(LLC_TRACE, int(steps[-1]))
    assert {k: tuple(v.shape) for k, v in trace.items()} == {
        **{k: (2, 30) for k in ("loss", "distance", "acceptance")},
        "seconds": (),
    }
    html = (run.path / "report.html").read_text()
    assert 'id="llc"' in html and "traces at step" in html
    assert run.config["probes"]["llc"]["every"] == 3


def test_the_rank_of_a_step_is_its_place_in_the_schedule():
    """A resumed run estimates at the same steps: the rank is a function of the step alone."""
    schedule = ProbeSteps(1000, 25, 30)
    listed = list(schedule)
    assert [schedule_rank(schedule, s) for s in listed] == list(range(len(listed)))
    assert [schedule_rank(frozenset(listed), s) for s in listed] == list(range(len(listed)))
    assert schedule_rank(schedule, 26) is None  # an adaptive probe's extra step


def test_its_settings_are_dotted_keys_and_bare_keys_still_name_a_section_field():
    _, config = resolve("grokking-mlp", assignments=["probes.llc.every=7", "every=11", "batch_size=32"])
    assert config.probes.llc.every == 7 and config.probes.every == 11
    assert config.train.batch_size == 32 and config.probes.llc.batch_size == LLCConfig().batch_size
    with pytest.raises(UserError, match="probes.llc.epsilon"):
        resolve("grokking-mlp", assignments=["probes.llc.epsilon=-1"])


def test_a_watched_classifier_gets_it_only_when_named(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 3))
    inputs, labels = torch.randn(64, 4), torch.randint(0, 3, (64,))
    watcher = Watcher(model, inputs, labels=labels, store=tmp_path, name="default", schedule=[0, 1], sites=["1"])
    assert "llc" not in watcher.probes and PROBES["llc"].on_request
    watcher.close()
    options = {"llc": LLCConfig(every=1, chains=2, draws=20, burn_in=10, epsilon=1e-4)}
    watcher = Watcher(
        model,
        inputs,
        labels=labels,
        store=tmp_path,
        name="named",
        schedule=[0, 1],
        sites=["1"],
        probes=["llc"],
        probe_options=options,
    )
    watcher.step(0)
    watcher.step(1)
    watcher.close()
    steps, values = Run.open(tmp_path, "named").metric(LLC_MEAN.name)
    assert steps.tolist() == [0, 1] and np.isfinite(values).all()  # an untrained model: λ̂ of either sign
