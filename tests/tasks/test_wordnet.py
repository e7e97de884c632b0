"""The WordNet reader on a hand-made database in the real file formats, and on the real files."""

from pathlib import Path

import pytest
from machine_data import NO_WORDNET

from phasewatch.errors import UserError
from phasewatch.tasks.wordnet import LEXNAMES, noun_classes, plural_stems, synset_at

LICENSE = "  1 This software and database is being provided to you, the LICENSEE, by\n  2 Princeton University\n"


def write_database(root: Path) -> None:
    """Synsets (lex_filenum, words) for a few nouns, with index lines pointing at their byte offsets."""
    synsets = {
        "dog": (5, ["dog", "domestic_dog"]),
        "cad": (18, ["cad", "bounder", "dog"]),  # dog: animal first, then person
        "king": (18, ["king", "male_monarch"]),
        "maine": (15, ["Maine", "Me", "ME"]),
        "can": (6, ["can", "tin"]),
        "tree": (20, ["tree"]),
        "camel": (5, ["camel"]),
        "trumpet": (6, ["trumpet"]),
        "trumpets": (20, ["trumpets"]),
        "rose": (20, ["rose", "rosebush"]),
    }
    data, offsets = LICENSE, {}
    for key, (lexfile, words) in synsets.items():
        offsets[key] = len(data.encode())
        listed = " ".join(f"{w} 0" for w in words)
        data += f"{offsets[key]:08d} {lexfile:02d} n {len(words):02x} {listed} 000 | a gloss  \n"
    (root / "data.noun").write_text(data)
    senses = {
        "dog": ["dog", "cad"],
        "king": ["king"],
        "me": ["maine"],
        "can": ["can"],
        "tree": ["tree"],
        "camel": ["camel"],
        "trumpet": ["trumpet"],
        "trumpets": ["trumpets"],
        "rose": ["rose"],
    }
    index = "".join(
        f"{w} n {len(s)} 1 @ {len(s)} 1 " + " ".join(f"{offsets[k]:08d}" for k in s) + "  \n" for w, s in sorted(senses.items())
    )
    (root / "index.noun").write_text(LICENSE + index)
    (root / "index.verb").write_text(LICENSE + "can v 1 1 @ 1 1 00000001  \nrise v 1 1 @ 1 1 00000002  \n")
    (root / "index.adj").write_text(LICENSE)
    (root / "index.adv").write_text(LICENSE)
    (root / "cntlist.rev").write_text(
        "can%1:06:00:: 1 2\ncan%2:42:00:: 1 7\ndog%1:05:00:: 1 42\nking%1:18:00:: 1 9\ntree%1:20:00:: 1 5\n"
    )
    (root / "verb.exc").write_text("rose rise\n")
    for pos in ("noun", "adj", "adv"):
        (root / f"{pos}.exc").write_text("")


def test_synset_line_gives_lexfile_and_words(tmp_path):
    write_database(tmp_path)
    offset = int((tmp_path / "index.noun").read_text().split("\ndog n 2 1 @ 2 1 ")[1].split()[0])
    assert synset_at(tmp_path / "data.noun", offset) == (5, ["dog", "domestic_dog"])
    with pytest.raises(UserError, match="no synset at byte"):
        synset_at(tmp_path / "data.noun", offset + 1)


def test_noun_classes_follow_the_most_frequent_sense_and_the_rules(tmp_path):
    write_database(tmp_path)
    classes = noun_classes(["dog", "king", "me", "can", "tree", "camel", "trumpets", "rose", "unto"], root=tmp_path)
    # dog: its first sense (animal), not the second (person); camel: never tagged, a noun only.
    # me: Maine (a name); can: 2 of 9 tagged uses are nouns; trumpets: plural of trumpet;
    # rose: an inflection of rise; unto: not in WordNet.
    assert classes == {"dog": "noun.animal", "king": "noun.person", "tree": "noun.plant", "camel": "noun.animal"}
    assert noun_classes(["can"], root=tmp_path, min_noun_share=0.2) == {"can": "noun.artifact"}


def test_plural_stems_follow_morphy():
    assert plural_stems("trumpets") == ["trumpet"]
    assert set(plural_stems("churches")) == {"churche", "church"}
    assert set(plural_stems("women")) == {"woman"}
    assert set(plural_stems("cities")) == {"citie", "city"}
    assert plural_stems("glass") == []


def test_missing_database_names_the_package(tmp_path):
    with pytest.raises(UserError, match="wordnet-base"):
        noun_classes(["dog"], root=tmp_path)


@pytest.mark.skipif(NO_WORDNET, reason="Debian's wordnet-base is not installed")
def test_the_real_wordnet():
    classes = noun_classes(["dog", "sheep", "king", "bread", "vine", "sword", "hand", "can", "me", "rose", "men"])
    assert classes == {
        "dog": "noun.animal",
        "sheep": "noun.animal",
        "king": "noun.person",
        "bread": "noun.food",
        "vine": "noun.plant",
        "sword": "noun.artifact",
        "hand": "noun.body",
    }
    assert LEXNAMES[5] == "noun.animal" and LEXNAMES[18] == "noun.person" and len(LEXNAMES) == 45
