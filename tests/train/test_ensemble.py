"""The ensemble backend: N members trained as one vectorised model record what N solo runs record."""

import numpy as np
import pytest
import torch

from phasewatch import pipeline
from phasewatch.config import resolve
from phasewatch.errors import UserError
from phasewatch.store import Run
from phasewatch.train import ensemble as ensemble_module
from phasewatch.train.ensemble import _Stacked, check_ensemble, ensemble_key, train_ensemble
from phasewatch.train.loop import train
from phasewatch.train.optim import build_optimizer
from phasewatch.train.prepare import prepare
from phasewatch.train.state import load_training_state

# Measured on CPU (torch 2.13, 2-core x86_64), 60 steps of the tiny transformer, 4 members (seeds, and
# seeds with lr/wd varied): parameters, AdamW state and every probe metric bit-identical to the solo
# runs; train/loss within 4.8e-7 absolute (2.3e-7 relative: the vmapped loss's last-bit rounding).
# SGD with momentum (same model): parameters within 5e-7 (torch.optim fuses alpha·x + y). The tolerance
# leaves a margin for other BLAS builds, chunked members and CUDA kernels.
RTOL, ATOL = 1e-4, 1e-5

SEEDS = (0, 1, 2, 3)
LR_WD = {1: ["train.lr=3e-3", "train.weight_decay=0.3"], 2: ["train.lr=2e-2", "train.weight_decay=0"]}


def _members(root, experiment, config_file, assignments_of):
    members = []
    for seed in SEEDS:
        _, config = resolve(experiment, config_file, assignments_of(seed))
        run = Run.create(root, f"m{seed}", experiment="tiny", config=config.model_dump(mode="json"), seed=seed)
        members.append((run, prepare(config)))
    return members


def _solo(root, experiment, config_file, assignments_of):
    for seed in SEEDS:
        pipeline.run(experiment, config_file=config_file, assignments=assignments_of(seed), store=root, name=f"m{seed}")


def _assert_same_metrics(a: Run, b: Run, names=None):
    assert a.metric_names() == b.metric_names()
    for name in names or a.metric_names():
        (steps_a, values_a), (steps_b, values_b) = a.metric(name), b.metric(name)
        np.testing.assert_array_equal(steps_a, steps_b, err_msg=name)
        np.testing.assert_allclose(values_a, values_b, rtol=RTOL, atol=ATOL, err_msg=f"{a.id} {name}")


def _assert_same_checkpoint(a: Run, b: Run, step: int, atol: float = ATOL):
    tensors_a, _ = a.load_checkpoint(step)
    tensors_b, _ = b.load_checkpoint(step)
    assert tensors_a.keys() == tensors_b.keys()
    for key in tensors_a:
        if key != "rng.torch":  # the process's CPU RNG state: nothing in training draws from it
            assert tensors_a[key].dtype == tensors_b[key].dtype, key
            torch.testing.assert_close(tensors_a[key], tensors_b[key], rtol=RTOL, atol=atol, msg=key)


@pytest.mark.parametrize("variant", ["seeds", "lr_wd"])
def test_ensemble_records_what_solo_runs_record(tiny_config, tmp_path, variant):
    path = tiny_config(steps=60, checkpoint_every=20)

    def assignments(seed):
        return [f"seed={seed}", *(LR_WD.get(seed, []) if variant == "lr_wd" else [])]

    members = _members(tmp_path / "ensemble", None, path, assignments)
    solo_init = {n: p.detach().clone() for n, p in prepare(resolve(None, path, assignments(2))[1]).model.named_parameters()}
    train_ensemble(members, chunk_size=3 if variant == "lr_wd" else None)  # chunks of 3 and 1 members
    _solo(tmp_path / "solo", None, path, assignments)
    for seed in SEEDS:
        ensemble, solo = Run.open(tmp_path / "ensemble", f"m{seed}"), Run.open(tmp_path / "solo", f"m{seed}")
        assert ensemble.status == "finished" and ensemble.info["ensemble"] == len(SEEDS)
        assert ensemble.checkpoint_steps() == solo.checkpoint_steps() == [0, 20, 40, 60]
        _assert_same_metrics(ensemble, solo)
        assert [e["metric"] for e in ensemble.events] == [e["metric"] for e in solo.events]
        for step in (0, 60):
            _assert_same_checkpoint(ensemble, solo, step)
    # the stacked init is the solo init, bit for bit
    initial, _ = Run.open(tmp_path / "ensemble", "m2").load_checkpoint(0)
    for name, value in solo_init.items():
        assert torch.equal(initial[f"model.{name}"], value), name

    # The final checkpoint loads into a solo model and AdamW ...
    _, config = resolve(None, path, assignments(1))
    prepared = prepare(config)
    optimizer = build_optimizer(prepared.model, config.train)
    tensors, _ = Run.open(tmp_path / "ensemble", "m1").load_checkpoint(60)
    load_training_state(tensors, prepared.model, optimizer)
    final, _ = Run.open(tmp_path / "solo", "m1").load_checkpoint(60)
    for name, parameter in prepared.model.named_parameters():
        torch.testing.assert_close(parameter.detach(), final[f"model.{name}"], rtol=RTOL, atol=ATOL)
    # ... and a member resumed solo from its step-40 checkpoint continues as the solo run did
    resumed = Run.open(tmp_path / "ensemble", "m1")
    train(resumed, prepare(config), resume=True, show_progress=False, before=41)
    assert resumed.info["resumed_from"] == 40
    _assert_same_metrics(resumed, Run.open(tmp_path / "solo", "m1"))


def test_sgd_with_momentum_on_the_ufm(tmp_path):
    """SGD (the UFM preset's optimiser) with momentum, a shared pathway (decay_ratio) and a buffer
    (the attribute matrix, the same for every member: left unbatched)."""

    def assignments(seed):
        common = ["train.steps=30", "train.checkpoint_every=15", "train.momentum=0.9", "probes.every=10", "model.init=0.1"]
        common += ['probes.names=["behaviour", "weight_norm"]', "events.fit_ufm=false", "events.structure_windows=[]"]
        return [f"seed={seed}", *common, *(["train.lr=0.2", "train.weight_decay=0.01"] if seed == 3 else [])]

    members = _members(tmp_path / "ensemble", "ufm", None, assignments)
    train_ensemble(members)
    _solo(tmp_path / "solo", "ufm", None, assignments)
    for seed in SEEDS:
        ensemble, solo = Run.open(tmp_path / "ensemble", f"m{seed}"), Run.open(tmp_path / "solo", f"m{seed}")
        _assert_same_metrics(ensemble, solo, ["train/loss", "train/accuracy", "test/loss"])
        _assert_same_checkpoint(ensemble, solo, 30)


def _prepared(path, *assignments):
    return prepare(resolve(None, path, list(assignments))[1])


def test_refusals_are_one_line(tiny_config):
    path = tiny_config(steps=10)
    first = _prepared(path, "seed=0")
    with pytest.raises(UserError, match=r"^model\.d_model: members differ \(16 in member 0, 32 in member 1\)") as error:
        check_ensemble([first, _prepared(path, "seed=1", "model.d_model=32")])
    assert "\n" not in str(error.value)
    with pytest.raises(UserError, match=r"^train\.steps: members differ"):
        check_ensemble([first, _prepared(path, "seed=1", "train.steps=11")])
    with pytest.raises(UserError, match=r"^probes\.adaptive: true is not allowed in an ensemble"):
        check_ensemble([_prepared(path, "probes.adaptive=true")])
    with pytest.raises(UserError, match="no members"):
        check_ensemble([])
    # the lr/wd/seed levers are fine
    other = _prepared(path, "seed=5", "train.lr=3e-3", "train.weight_decay=0.5", "events.watch=['train/*']")
    check_ensemble([first, other])
    assert ensemble_key(first.config) == ensemble_key(other.config)
    assert ensemble_key(first.config) != ensemble_key(_prepared(path, "train.steps=11").config)


def test_interventions_are_refused(tmp_path):
    _, config = resolve("ufm", None, ["interventions.structure_penalty=0.1", "train.steps=10"])
    with pytest.raises(UserError, match=r"^interventions\.structure_penalty: 0\.1 is not allowed in an ensemble") as error:
        check_ensemble([prepare(config)])
    assert "\n" not in str(error.value)


def test_mse_loss_is_vectorised():
    """F.one_hot cannot be vmapped: the quadratic MLP's MSE loss takes the comparison form."""
    prepared = [prepare(resolve("grokking-mlp", None, [f"seed={s}", "task.p=7", "model.width=8"])[1]) for s in (0, 1)]
    check_ensemble(prepared)


def test_buffers_that_differ_between_members_are_stacked():
    prepared = [prepare(resolve("ufm", None, [f"seed={s}", "model.init=0.1"])[1]) for s in (0, 1)]
    for p in prepared:
        with torch.no_grad():
            p.model.attribute_embed.W.normal_()  # B starts at zero: make the attributes count
    prepared[1].model.attributes = prepared[1].model.attributes.flip(0)  # a member-specific buffer
    stacked = _Stacked(prepared)
    assert list(stacked.buffers) == ["attributes"]
    inputs = torch.stack([p.task.train.inputs for p in prepared])
    targets = torch.stack([p.task.train.targets for p in prepared])
    _, losses, _ = stacked(inputs, targets)
    for index, p in enumerate(prepared):
        solo = p.loss(p.model(p.task.train.inputs), p.task.train.targets)
        torch.testing.assert_close(losses[index], solo.detach(), rtol=RTOL, atol=ATOL)
    unflipped = prepared[1].model
    unflipped.attributes = unflipped.attributes.flip(0)
    assert not torch.isclose(losses[1], prepared[1].loss(unflipped(inputs[1]), targets[1]))  # the buffer mattered


def test_a_crash_fails_every_member_and_each_resumes_solo(tiny_config, tmp_path, monkeypatch):
    path = tiny_config(steps=30, checkpoint_every=10)
    members = _members(tmp_path, None, path, lambda seed: [f"seed={seed}"])
    original = ensemble_module._Optimizer.step

    def crash(self, grads, step):
        if step == 15:
            raise RuntimeError("boom")
        original(self, grads, step)

    monkeypatch.setattr(ensemble_module._Optimizer, "step", crash)
    with pytest.raises(RuntimeError, match="boom"):
        train_ensemble(members)
    monkeypatch.undo()
    for seed in SEEDS:
        run = Run.open(tmp_path, f"m{seed}")
        assert run.status == "failed" and "boom" in run.info["error"]
        assert run.checkpoint_steps() == [0, 10]
    resumed = pipeline.resume("m2", store=tmp_path)
    assert resumed.status == "finished" and resumed.info["resumed_from"] == 10
