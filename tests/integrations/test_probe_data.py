"""The probe data format: JSONL and text parsed, every malformed input a one-line UserError."""

from __future__ import annotations

import json

import pytest
import torch
from integration_data import write_jsonl

from phasewatch.errors import UserError
from phasewatch.integrations.probe_data import ProbeData, as_probe_data, load_probe_data


def test_jsonl_with_labels_and_attributes(probe_file):
    data = load_probe_data(probe_file)
    assert data.inputs.shape == (24, 12) and data.inputs.dtype == torch.long
    assert data.labels.shape == (24,) and data.num_classes == 4
    assert data.attributes.shape == (24, 4)
    kernel = data.attribute_kernel()  # one-hot per factor: 2 on the diagonal, shared factors off it
    assert kernel.diagonal().eq(2).all() and set(kernel.unique().tolist()) == {0.0, 1.0, 2.0}
    info = data.describe()
    assert info["items"] == 24 and info["classes"] == 4 and info["attributes"] == 4 and len(info["sha256"]) == 64


def test_content_hash_ignores_where_the_data_came_from(probe_file):
    from_file = load_probe_data(probe_file)
    from_tensors = ProbeData(from_file.inputs.clone(), from_file.labels.clone(), from_file.attributes.clone())
    assert from_file.describe()["sha256"] == from_tensors.describe()["sha256"]
    changed = ProbeData(from_file.inputs.flip(0), from_file.labels, from_file.attributes)
    assert changed.describe()["sha256"] != from_file.describe()["sha256"]


def test_tokens_only_and_blank_lines(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"tokens": [1, 2, 3]}\n\n{"tokens": [4, 5, 6]}\n')
    data = load_probe_data(path)
    assert data.inputs.tolist() == [[1, 2, 3], [4, 5, 6]] and data.labels is None and data.attributes is None


def test_input_ids_is_read_as_tokens(tmp_path):
    """A Hugging Face dataset's column name, `input_ids`, works as the key of the token ids."""
    path = tmp_path / "p.jsonl"
    path.write_text('{"input_ids": [1, 2, 3], "label": 1}\n{"input_ids": [4, 5, 6], "label": 0}\n')
    data = load_probe_data(path)
    assert data.inputs.tolist() == [[1, 2, 3], [4, 5, 6]] and data.labels.tolist() == [1, 0]
    same = tmp_path / "q.jsonl"
    same.write_text(path.read_text().replace("input_ids", "tokens"))
    assert load_probe_data(same).describe()["sha256"] == data.describe()["sha256"]


GOOD = {"tokens": [1, 2, 3], "label": 0, "attributes": [1, 0]}


@pytest.mark.parametrize(
    "second, message",
    [
        ("not json", "line 2: not valid JSON"),
        ("[1, 2, 3]", 'line 2: \'[1, 2, 3]\' is not allowed (an object with a "tokens" or "input_ids" list)'),
        ({**GOOD, "colour": 1}, "line 2: key 'colour' is not allowed (tokens or input_ids, label, attributes)"),
        ({**GOOD, "input_ids": [1, 2, 3]}, "line 2: both tokens and input_ids are given (one of the two: the line's token ids)"),
        ({"label": 0, "attributes": [1, 0]}, "line 2: no tokens or input_ids is given (one of the two: the line's token ids)"),
        (
            {"input_ids": [1, -2, 3], "label": 0, "attributes": [1, 0]},
            "line 2: input_ids [1, -2, 3] is not allowed (a list of at least 2",
        ),
        (
            {"input_ids": [1, 2], "label": 0, "attributes": [1, 0]},
            "line 2: 2 tokens is not allowed (every item has as many as line 1: 3)",
        ),
        ({**GOOD, "tokens": [1, -2, 3]}, "line 2: tokens [1, -2, 3] is not allowed (a list of at least 2 token ids >= 0)"),
        ({**GOOD, "tokens": [1.5, 2, 3]}, "tokens [1.5, 2, 3] is not allowed"),
        ({**GOOD, "tokens": [1]}, "tokens [1] is not allowed"),
        ({**GOOD, "tokens": [1, 2, 3, 4]}, "line 2: 4 tokens is not allowed (every item has as many as line 1: 3)"),
        ({**GOOD, "label": "cat"}, "line 2: label cat is not allowed (a class id >= 0)"),
        ({**GOOD, "label": True}, "label True is not allowed"),
        ({"tokens": [1, 2, 3], "attributes": [1, 0]}, "line 2: label is missing (give it on every line or on none"),
        ({**GOOD, "attributes": [1, 0, 0]}, "line 2: 3 attributes is not allowed (every item has as many as line 1: 2)"),
        ({**GOOD, "attributes": ["a", 0]}, "attributes ['a', 0] is not allowed (a non-empty list of numbers)"),
        ({**GOOD, "attributes": []}, "attributes [] is not allowed"),
    ],
)
def test_malformed_jsonl_is_one_line_naming_the_line(tmp_path, second, message):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + (second if isinstance(second, str) else json.dumps(second)) + "\n")
    with pytest.raises(UserError) as error:
        load_probe_data(path)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_too_few_items_missing_file_and_text_without_tokenizer(tmp_path):
    with pytest.raises(UserError, match="has 1 items"):
        load_probe_data(write_jsonl(tmp_path / "one.jsonl", [GOOD]))
    with pytest.raises(UserError, match="is not a file"):
        load_probe_data(tmp_path / "missing.jsonl")
    text = tmp_path / "probe.txt"
    text.write_text("the cat sat\nthe dog ran\n")
    with pytest.raises(UserError, match="needs --tokenizer DIR"):
        load_probe_data(text)


def test_text_file_with_a_local_tokenizer(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ["[UNK]", "the", "cat", "dog", "sat", "ran", "far"]
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]").save_pretrained(tmp_path / "tok")
    text = tmp_path / "probe.txt"
    text.write_text("the cat sat far\n\nthe dog ran\n")
    data = load_probe_data(text, tokenizer=tmp_path / "tok")
    assert data.inputs.tolist() == [[1, 2, 4], [1, 3, 5]]  # cut to the shortest line
    with pytest.raises(UserError, match="--tokenizer: .* is not a directory"):
        load_probe_data(text, tokenizer=tmp_path / "nowhere")


@pytest.mark.parametrize(
    "inputs, labels, attributes, message",
    [
        (torch.zeros(1, 3), None, None, "inputs of shape (1, 3)"),
        (torch.zeros(4, 3), torch.tensor([0, 1, 2]), None, "labels of shape (3,)"),
        (torch.zeros(4, 3), torch.tensor([0.0, 1, 2, 3]), None, "labels of shape (4,) and dtype float32"),
        (torch.zeros(4, 3), torch.tensor([0, 1, -1, 3]), None, "(a tensor of 4 class ids >= 0)"),
        (torch.zeros(4, 3), None, torch.ones(4), "attributes of shape (4,)"),
        (torch.zeros(4, 3), None, torch.full((4, 2), float("nan")), "a finite (4, k) tensor"),
    ],
)
def test_tensors_are_validated(inputs, labels, attributes, message):
    with pytest.raises(UserError) as error:
        as_probe_data(inputs, labels, attributes)
    assert message in str(error.value)


def test_as_probe_data_accepts_a_path_and_refuses_other_things(probe_file):
    assert len(as_probe_data(probe_file)) == 24
    with pytest.raises(UserError, match="labels/attributes: not allowed with a probe data file"):
        as_probe_data(probe_file, labels=torch.zeros(24, dtype=torch.long))
    with pytest.raises(UserError, match="a list is not allowed"):
        as_probe_data([[1, 2], [3, 4]])
