"""Checkpoint series: layouts and steps found, weights loaded in place, bad files refused clearly."""

from __future__ import annotations

import json

import pytest
import torch
from integration_data import build_modular_model, gpt2_config, save_state, tiny_gpt2
from safetensors.torch import save_file

from phasewatch.errors import UserError
from phasewatch.integrations.checkpoints import ModelBuilder, find_checkpoints, load_factory, load_weights


def test_loose_files_and_save_pretrained_directories(tmp_path):
    for name in ("step_00000500.safetensors", "ckpt-20.safetensors", "model.safetensors", "notes.txt", "training_args.bin"):
        (tmp_path / name).write_bytes(b"")
    for name in ("checkpoint-1000", "step1500"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.safetensors").write_bytes(b"")
        (tmp_path / name / "optimizer.pt").write_bytes(b"")  # trainer state beside the weights is not read
    (tmp_path / "step1500" / "config.json").write_text("{}")
    (tmp_path / "runs").mkdir()  # no step number: not a checkpoint
    series = find_checkpoints(tmp_path)
    assert [c.step for c in series] == [20, 500, 1000, 1500]  # the final model.safetensors has no step: skipped
    assert series[2].files == (tmp_path / "checkpoint-1000" / "model.safetensors",) and series[2].config is None
    assert series[3].config == tmp_path / "step1500" / "config.json"


def test_sharded_directory_and_folder_config(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    shard = tmp_path / "checkpoint-7"
    shard.mkdir()
    weight_map = {"a": "m-2.safetensors", "b": "m-1.safetensors", "c": "m-1.safetensors"}
    (shard / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    [checkpoint] = find_checkpoints(tmp_path)
    assert checkpoint.files == (shard / "m-1.safetensors", shard / "m-2.safetensors")
    assert checkpoint.config == tmp_path / "config.json"


@pytest.mark.parametrize(
    "layout, message",
    [
        ({}, "holds no checkpoints"),
        ({"model.safetensors": b""}, "holds no checkpoints"),
        ({"step_5.pt": b""}, "step_5.pt is not read (pickle checkpoints are not read; convert to safetensors)"),
        ({"checkpoint-5/pytorch_model.bin": b""}, "holds its weights as pickles (pickle checkpoints are not read"),
        ({"checkpoint-5/config.json": b"{}"}, "checkpoint-5 holds no weights"),
        ({"checkpoint-5/model.safetensors.index.json": b"[]"}, "is not allowed (a JSON index with a weight_map)"),
        ({"step_5.safetensors": b"", "checkpoint-5/model.safetensors": b""}, "is step 5, as is"),
    ],
)
def test_bad_folders(tmp_path, layout, message):
    for name, content in layout.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(content)
    with pytest.raises(UserError) as error:
        find_checkpoints(tmp_path)
    assert message in str(error.value)
    with pytest.raises(UserError, match="is not a directory"):
        find_checkpoints(tmp_path / "missing")


SYMLINK_RULE = "(symlinks only to files or sibling folders inside the series folder)"


@pytest.mark.parametrize(
    "links, message",
    [
        ({"checkpoint-600": "."}, "checkpoint-600 leads to a folder holding it"),  # was read as step 600 with every file
        (
            {"step_2.safetensors": "step_3.safetensors", "step_3.safetensors": "step_2.safetensors"},
            "step_2.safetensors is a symlink loop",
        ),
        ({"step_2.safetensors": "../outside.safetensors"}, "step_2.safetensors leads outside the series folder"),
        ({"checkpoint-2": "../elsewhere"}, "checkpoint-2 leads outside the series folder"),
        ({"checkpoint-2/model.safetensors": "../../outside.safetensors"}, "model.safetensors leads outside the series folder"),
        ({"config.json": "../outside.json"}, "config.json leads outside the series folder"),
    ],
)
def test_symlinks_that_leave_or_loop_are_refused(tmp_path, links, message):
    series = tmp_path / "series"
    series.mkdir()
    (series / "step_1.safetensors").write_bytes(b"")
    (tmp_path / "outside.safetensors").write_bytes(b"")
    (tmp_path / "outside.json").write_text("{}")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "model.safetensors").write_bytes(b"")
    for name, target in links.items():
        (series / name).parent.mkdir(parents=True, exist_ok=True)
        (series / name).symlink_to(target)
    with pytest.raises(UserError) as error:
        find_checkpoints(series)
    assert str(error.value).startswith(f"checkpoint: {series}/") and message in str(error.value)
    assert str(error.value).endswith(f"not allowed {SYMLINK_RULE}")


def test_a_shard_index_cannot_point_outside_the_folder(tmp_path):
    (tmp_path / "series" / "checkpoint-2").mkdir(parents=True)
    weight_map = {"a": "../../outside.safetensors"}
    (tmp_path / "series" / "checkpoint-2" / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    with pytest.raises(UserError, match="outside.safetensors leads outside the series folder"):
        find_checkpoints(tmp_path / "series")


def test_symlinks_inside_the_folder_are_read(tmp_path):
    series = tmp_path / "series"
    (series / "blobs").mkdir(parents=True)
    (series / "blobs" / "abc").write_bytes(b"")
    (series / "checkpoint-1").mkdir()
    (series / "checkpoint-1" / "model.safetensors").symlink_to("../blobs/abc")  # HF-cache style: weights are blobs
    (series / "checkpoint-2").symlink_to("checkpoint-1")  # a sibling folder
    (series / "step_3.safetensors").symlink_to("blobs/abc")
    (series / "runs").symlink_to("..")  # no step in the name: not a checkpoint, not read, so not refused
    (tmp_path / "link").symlink_to("series")  # the folder itself may be a symlink
    found = find_checkpoints(tmp_path / "link")
    assert [(c.step, c.path.name) for c in found] == [(1, "checkpoint-1"), (2, "checkpoint-2"), (3, "step_3.safetensors")]
    assert found[1].files == (tmp_path / "link" / "checkpoint-2" / "model.safetensors",)


def test_weights_are_loaded_in_place_with_tied_copies(tmp_path):
    trained, fresh = tiny_gpt2(seed=1), tiny_gpt2(seed=2)
    save_state(trained, tmp_path / "step_1.safetensors")  # lm_head.weight is stored once, as wte
    [checkpoint] = find_checkpoints(tmp_path)
    load_weights(fresh, checkpoint)
    for (name, a), (_, b) in zip(trained.state_dict().items(), fresh.state_dict().items()):
        assert torch.equal(a, b), name
    assert fresh.lm_head.weight.data_ptr() == fresh.transformer.wte.weight.data_ptr()  # still tied


def one_checkpoint(tmp_path, tensors=None, raw: bytes | None = None):
    path = tmp_path / "step_1.safetensors"
    if raw is not None:
        path.write_bytes(raw)
    else:
        save_file(tensors, str(path))
    return find_checkpoints(tmp_path)[0]


def test_bad_checkpoint_files(tmp_path):
    model = build_modular_model()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    missing = dict(state)
    del missing["blocks.1.mlp.W_in"]
    with pytest.raises(UserError, match="tensor 'blocks.1.mlp.W_in' is missing"):
        load_weights(model, one_checkpoint(tmp_path, missing))
    with pytest.raises(UserError, match="tensor 'extra' is not allowed"):
        load_weights(model, one_checkpoint(tmp_path, {**state, "extra": torch.zeros(1)}))
    with pytest.raises(UserError, match=r"tensor 'embed.W' of shape \(3, 16\) is not allowed \(the model's is \(8, 16\)\)"):
        load_weights(model, one_checkpoint(tmp_path, {**state, "embed.W": torch.zeros(3, 16)}))
    save_file(state, str(tmp_path / "step_1.safetensors"))
    data = (tmp_path / "step_1.safetensors").read_bytes()
    with pytest.raises(UserError, match="truncated or corrupt"):
        load_weights(model, one_checkpoint(tmp_path, raw=data[: len(data) // 2]))
    torch.save(state, tmp_path / "step_1.safetensors")  # a pickle under a safetensors name
    with pytest.raises(UserError, match="is a pickle \\(pickle checkpoints are not read; convert to safetensors\\)"):
        load_weights(model, find_checkpoints(tmp_path)[0])
    torch.save(state, tmp_path / "step_1.safetensors", _use_new_zipfile_serialization=False)  # the legacy format
    with pytest.raises(UserError, match="is a pickle"):
        load_weights(model, find_checkpoints(tmp_path)[0])


def test_model_builder_from_config_reuses_the_model_and_needs_an_architecture(tmp_path):
    gpt2_config().save_pretrained(tmp_path / "checkpoint-1")
    gpt2_config().save_pretrained(tmp_path / "checkpoint-2")
    save_state(tiny_gpt2(), tmp_path / "checkpoint-1" / "model.safetensors")
    save_state(tiny_gpt2(), tmp_path / "checkpoint-2" / "model.safetensors")
    builder = ModelBuilder()
    first, second = find_checkpoints(tmp_path)
    before = torch.get_rng_state()
    model = builder.build(first)
    assert type(model).__name__ == "GPT2LMHeadModel" and builder.build(second) is model  # same config: reused
    assert torch.equal(torch.get_rng_state(), before)  # random init did not move the caller's RNG
    (tmp_path / "checkpoint-1" / "config.json").unlink()
    with pytest.raises(UserError, match="--factory: needed, since .*checkpoint-1 has no config.json"):
        ModelBuilder().build(find_checkpoints(tmp_path)[0])
    (tmp_path / "checkpoint-1" / "config.json").write_text(json.dumps({"model_type": "no-such-model"}))
    with pytest.raises(UserError, match="config.json: not allowed \\(a causal LM config transformers can build"):
        ModelBuilder().build(find_checkpoints(tmp_path)[0])


def test_factory_specs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_models.py").write_text("def build():\n    return 42\n")
    with pytest.raises(UserError, match="--factory: 'my_models' is not allowed \\(module:function"):
        load_factory("my_models")
    with pytest.raises(UserError, match="--factory: module 'no_such_module' cannot be imported"):
        load_factory("no_such_module:build")
    with pytest.raises(UserError, match="my_models has no function 'make'"):
        load_factory("my_models:make")
    with pytest.raises(UserError, match="--factory: my_models:build returned a int"):
        ModelBuilder("my_models:build").build(None)
