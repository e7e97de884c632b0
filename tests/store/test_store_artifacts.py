"""Checkpoints (sha256 manifest, corruption) and probe arrays in safetensors."""

import hashlib
import json
import shutil

import pytest
import torch

from phasewatch.errors import UserError
from phasewatch.store import Run


@pytest.fixture
def run(tmp_path):
    return Run.create(tmp_path, "r1", experiment="x", config={}, seed=0)


def state():
    embed = torch.randn(5, 3)
    return {"embed.W": embed, "unembed.W": embed, "rng": torch.get_rng_state(), "step": torch.tensor(7)}


def test_checkpoint_round_trip(run):
    tensors, meta = state(), {"step": 7, "data_position": [1, 2], "scheduler": {"last_epoch": 7}}
    run.save_checkpoint(7, tensors, meta)
    run.save_checkpoint(3, tensors, {})
    assert run.checkpoint_steps() == [3, 7]
    loaded, loaded_meta = run.load_checkpoint(7)
    assert loaded_meta == meta and loaded.keys() == tensors.keys()
    for key in tensors:
        assert torch.equal(loaded[key], tensors[key]) and loaded[key].dtype == tensors[key].dtype
    manifest = json.loads((run.path / "checkpoints" / "manifest.json").read_text())
    assert sorted(manifest) == ["step_00000003.safetensors", "step_00000007.safetensors"]


def test_resaving_a_step_replaces_it(run):
    run.save_checkpoint(7, {"w": torch.zeros(2)}, {"v": 1})
    run.save_checkpoint(7, {"w": torch.ones(2)}, {"v": 2})
    tensors, meta = run.load_checkpoint(7)
    assert meta == {"v": 2} and tensors["w"].tolist() == [1.0, 1.0]


def test_flipped_byte_is_sha256_mismatch(run):
    run.save_checkpoint(7, state(), {})
    path = run.path / "checkpoints" / "step_00000007.safetensors"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(UserError, match=f"checkpoint {path} is corrupt: sha256 mismatch"):
        run.load_checkpoint(7)


def test_truncated_checkpoint_is_user_error(run):
    run.save_checkpoint(7, state(), {})
    path = run.path / "checkpoints" / "step_00000007.safetensors"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(UserError, match="is corrupt: sha256 mismatch"):
        run.load_checkpoint(7)


def test_unreadable_file_with_matching_hash_is_user_error(run):
    run.save_checkpoint(7, state(), {})
    ckpt = run.path / "checkpoints"
    garbage = b"\x00" * 64
    (ckpt / "step_00000007.safetensors").write_bytes(garbage)
    manifest = {"step_00000007.safetensors": hashlib.sha256(garbage).hexdigest()}
    (ckpt / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(UserError, match="is not a readable safetensors file"):
        run.load_checkpoint(7)


def test_tagged_checkpoints_are_kept_apart_from_the_resume_points(run):
    run.save_checkpoint(100, {"w": torch.ones(2)}, {"step": 100})
    run.save_checkpoint(150, {"w": torch.full((2,), 7.0)}, {"step": 150}, tag="keep_peak")
    assert run.checkpoint_steps() == [100] and run.checkpoint_steps("keep_peak") == [150]
    tensors, meta = run.load_checkpoint(150, "keep_peak")
    assert torch.equal(tensors["w"], torch.full((2,), 7.0)) and meta == {"step": 150}
    with pytest.raises(UserError, match="checkpoint step 150 not found"):
        run.load_checkpoint(150)
    with pytest.raises(UserError, match="checkpoint tag: '../x' is not allowed"):
        run.save_checkpoint(1, {"w": torch.ones(1)}, {}, tag="../x")


def test_file_not_in_manifest_is_ignored(run):
    # A kill between writing the file and updating the manifest leaves exactly this.
    run.save_checkpoint(7, state(), {})
    ckpt = run.path / "checkpoints"
    shutil.copy(ckpt / "step_00000007.safetensors", ckpt / "step_00000009.safetensors")
    assert run.checkpoint_steps() == [7]
    with pytest.raises(UserError, match=r"checkpoint step 9 not found .*saved steps: \[7\]"):
        run.load_checkpoint(9)


def test_corrupt_manifest_is_user_error(run):
    run.save_checkpoint(7, state(), {})
    (run.path / "checkpoints" / "manifest.json").write_text("{")
    with pytest.raises(UserError, match="manifest.json is not readable JSON"):
        run.checkpoint_steps()


def test_arrays_round_trip(run):
    for step in (10, 0, 2):
        run.save_array("gram/class_means", step, {"gram": torch.full((3, 3), float(step))})
    assert run.array_steps("gram/class_means") == [0, 2, 10]
    assert run.array_steps("gram/other") == []
    assert torch.equal(run.load_array("gram/class_means", 2)["gram"], torch.full((3, 3), 2.0))
    assert (run.path / "arrays" / "gram" / "class_means" / "step_00000010.safetensors").is_file()


def test_truncated_array_is_user_error(run):
    run.save_array("gram/class_means", 1, {"gram": torch.eye(4)})
    path = run.path / "arrays" / "gram" / "class_means" / "step_00000001.safetensors"
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(UserError, match=f"array {path} is not a readable safetensors file"):
        run.load_array("gram/class_means", 1)
    with pytest.raises(UserError, match="not found"):
        run.load_array("gram/class_means", 2)


@pytest.mark.parametrize("probe", ["../x", "a//b", "/a", "a/", "a/../../b", ""])
def test_bad_probe_names(run, probe):
    with pytest.raises(UserError, match="probe"):
        run.save_array(probe, 0, {"gram": torch.eye(2)})


@pytest.mark.parametrize("step", [-1, 1.5, "3"])
def test_bad_steps(run, step):
    with pytest.raises(UserError, match="step"):
        run.save_checkpoint(step, {"w": torch.eye(2)}, {})


def test_non_tensor_value_is_user_error(run):
    with pytest.raises(UserError, match=r"tensors\['w'\]"):
        run.save_array("p", 0, {"w": [1, 2]})
