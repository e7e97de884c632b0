"""WordNet 3.0 noun classes without NLTK: a small reader of Debian's `wordnet-base` database files.

Formats (wndb(5WN), cntlist(5WN), lexnames(5WN), morphy(7WN)):
- `index.noun` (and .verb/.adj/.adv): `lemma pos synset_cnt p_cnt [ptr_symbol]×p_cnt sense_cnt
  tagsense_cnt synset_offset×synset_cnt`. Offsets come in sense-number order, and WordNet numbers
  senses by their frequency in its semantically tagged concordance, so the first is the most
  frequent sense.
- `data.noun`: the synset at byte `synset_offset` is the line `synset_offset lex_filenum ss_type
  w_cnt(hex) [word lex_id]×w_cnt ...`; `lex_filenum` indexes the lexicographer files of
  lexnames(5WN) (5 = noun.animal, ...); the words keep their case ("Maine Me ME").
- `cntlist.rev`: `sense_key sense_number tag_cnt` for every tagged sense, sense_key =
  `lemma%ss_type:lex_filenum:...` (ss_type 1 noun, 2 verb, 3 adjective, 4 adverb, 5 satellite).
- `noun.exc`, `verb.exc`, `adj.exc`, `adv.exc`: `inflected_form base_form ...`.
All ship in `wordnet-base`; `index.sense` (package `wordnet-sense-index`) repeats what
`cntlist.rev` says about tag counts, so it is not needed.

A word of running text gets a class only when it is, by WordNet's own data,
1. a common noun in its most frequent sense: the word itself, in lower case, is one of that
   synset's words (drops names and abbreviations: "me" = Maine, "he" = helium, "may" = May);
2. mainly a noun: at least `min_noun_share` of its tagged uses are noun senses ("king" 1.0,
   "can" 0.17), or, never tagged, it is listed as a noun only;
3. a base form: not an irregular inflection ("rose" → rise, "men" → man) nor a regular plural
   of another noun (morphy's suffix rules: "trumpets" → trumpet, "works" → work).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from phasewatch.errors import UserError

WORDNET_DIR = Path("/usr/share/wordnet")
INSTALL_HINT = "install Debian's wordnet-base with `make setup` or `apt-get install wordnet-base`"

# lexnames(5WN): the lexicographer file names, indexed by lex_filenum.
LEXNAMES = (
    "adj.all",
    "adj.pert",
    "adv.all",
    "noun.Tops",
    "noun.act",
    "noun.animal",
    "noun.artifact",
    "noun.attribute",
    "noun.body",
    "noun.cognition",
    "noun.communication",
    "noun.event",
    "noun.feeling",
    "noun.food",
    "noun.group",
    "noun.location",
    "noun.motive",
    "noun.object",
    "noun.person",
    "noun.phenomenon",
    "noun.plant",
    "noun.possession",
    "noun.process",
    "noun.quantity",
    "noun.relation",
    "noun.shape",
    "noun.state",
    "noun.substance",
    "noun.time",
    "verb.body",
    "verb.change",
    "verb.cognition",
    "verb.communication",
    "verb.competition",
    "verb.consumption",
    "verb.contact",
    "verb.creation",
    "verb.emotion",
    "verb.motion",
    "verb.perception",
    "verb.possession",
    "verb.social",
    "verb.stative",
    "verb.weather",
    "adj.ppl",
)
NOUN_SENSE = "1"  # ss_type of a noun in a sense key
# morphy(7WN)'s noun detachment rules: (plural suffix, singular ending)
PLURAL_SUFFIXES = (
    ("s", ""),
    ("ses", "s"),
    ("xes", "x"),
    ("zes", "z"),
    ("ches", "ch"),
    ("shes", "sh"),
    ("men", "man"),
    ("ies", "y"),
)
PARTS_OF_SPEECH = ("noun", "verb", "adj", "adv")


def _entries(path: Path) -> Iterable[list[str]]:
    """The fields of each database line, skipping the license header (lines that begin with spaces)."""
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if not line.startswith(" "):
                yield line.split()


def first_senses(index_file: Path, words: set[str]) -> dict[str, int]:
    """word → the synset offset of its most frequent sense, for the `words` the index lists."""
    return {fields[0]: int(fields[-int(fields[2])]) for fields in _entries(index_file) if fields[0] in words}


def listed(index_file: Path, words: set[str]) -> set[str]:
    """The `words` that have an entry in `index_file`."""
    return {fields[0] for fields in _entries(index_file) if fields[0] in words}


def synset_at(data_file: Path, offset: int) -> tuple[int, list[str]]:
    """(lex_filenum, words as written) of the synset stored at byte `offset` of a data file."""
    with data_file.open("rb") as data:
        data.seek(offset)
        fields = data.readline().decode("utf-8").split()
    if len(fields) < 4 or fields[0] != f"{offset:08d}":
        raise UserError(f"wordnet: {str(data_file)!r} has no synset at byte {offset} (a corrupt or mismatched file)")
    word_count = int(fields[3], 16)
    return int(fields[1]), fields[4 : 4 + 2 * word_count : 2]


def tag_counts(cntlist_file: Path, words: set[str]) -> dict[str, tuple[int, int]]:
    """word → (tagged uses as a noun, tagged uses in all parts of speech) in the concordance."""
    noun: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for fields in _entries(cntlist_file):
        lemma, _, sense = fields[0].partition("%")
        if lemma in words:
            total[lemma] += int(fields[2])
            noun[lemma] += int(fields[2]) * (sense[:1] == NOUN_SENSE)
    return {word: (noun[word], total[word]) for word in total}


def inflected_forms(root: Path, words: set[str]) -> set[str]:
    """The `words` that WordNet's exception lists give as irregular inflections of another word."""
    inflected = set()
    for pos in PARTS_OF_SPEECH:
        inflected |= {fields[0] for fields in _entries(root / f"{pos}.exc") if fields[0] in words and fields[1] != fields[0]}
    return inflected


def plural_stems(word: str) -> list[str]:
    """The singular forms morphy's noun rules would try for `word` (none for words in -ss)."""
    if word.endswith("ss"):
        return []
    return [
        word[: -len(suffix)] + ending for suffix, ending in PLURAL_SUFFIXES if word.endswith(suffix) and len(word) > len(suffix)
    ]


def noun_classes(words: Iterable[str], root: Path = WORDNET_DIR, min_noun_share: float = 0.5) -> dict[str, str]:
    """{word: lexname of its most frequent noun sense} for the `words` that are common nouns,
    mainly nouns and base forms (the rules above); every other word is left out."""
    root = Path(root)
    if not (root / "data.noun").is_file():
        raise UserError(f"wordnet: no WordNet database in {str(root)!r}; {INSTALL_HINT}")
    wanted = set(words)
    stems = {word: plural_stems(word) for word in wanted}
    senses = first_senses(root / "index.noun", wanted | {s for ss in stems.values() for s in ss})
    plurals = {word for word in wanted if any(s in senses for s in stems[word])}
    candidates = (set(senses) & wanted) - plurals - inflected_forms(root, wanted)
    counts = tag_counts(root / "cntlist.rev", candidates)
    untagged = candidates - set(counts)
    other_parts = set().union(*(listed(root / f"index.{pos}", untagged) for pos in PARTS_OF_SPEECH[1:]))
    classes = {}
    for word in sorted(candidates):
        noun_uses, uses = counts.get(word, (0, 0))
        if not (noun_uses >= min_noun_share * uses if uses else word not in other_parts):
            continue
        lexfile, synset_words = synset_at(root / "data.noun", senses[word])
        if word in synset_words:  # written in lower case: a common noun, not a name or an abbreviation
            classes[word] = LEXNAMES[lexfile]
    return classes
