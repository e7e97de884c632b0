"""The phase table: each span of the run's timeline (analysis/timeline.py) with its steps and share
of training, beside the "coherence crystallisation" article's claim when the phases are the
article's (docs/science/language.md). The claim is a claim to compare with, not a measurement."""

from __future__ import annotations

from phasewatch.analysis.timeline import MEMORISATION, REFINEMENT, percent
from phasewatch.report.common import fmt_number

ARTICLE = 'the "coherence crystallisation" article'
# Its phases as % of training; "crystallisation" is its name for the semantic phase.
ARTICLE_CLAIM = {
    MEMORISATION: (0, 20),
    "syntax": (20, 50),
    "semantics": (50, 70),
    "crystallisation": (50, 70),
    REFINEMENT: (70, 100),
}
PHASE_COLUMNS = ("phase", "steps", "% of training", "from")
CLAIM_COLUMN = "article's claim (% of training)"


def has_claim(timeline: list[dict]) -> bool:
    """Whether the article's claim applies: a phase of its own (not only the memorisation and
    refinement every timeline has) was measured."""
    return any(s["name"] in ARTICLE_CLAIM and s["name"] not in (MEMORISATION, REFINEMENT) for s in timeline)


def claim_text(name: str) -> str:
    """The article's span for a phase, e.g. "20–50 %"; "–" for a phase it does not name."""
    if name not in ARTICLE_CLAIM:
        return "–"
    low, high = ARTICLE_CLAIM[name]
    return f"{low}–{high} %"


def phase_table(timeline: list[dict]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """(columns, rows of strings), one row per span; the claim column only when `has_claim`."""
    claim = has_claim(timeline)
    columns = PHASE_COLUMNS + ((CLAIM_COLUMN,) if claim else ())
    rows = []
    for span in timeline:
        row = (
            str(span["name"]),
            f"{fmt_number(span['start'])}–{fmt_number(span['end'])}",
            f"{percent(span['start_share'])}–{percent(span['end_share'])} %",
            ", ".join(span["metrics"]) or "–",
        )
        rows.append(row + ((claim_text(span["name"]),) if claim else ()))
    return columns, rows


def claim_note() -> str:
    """The sentence under the table that says whose claim the last column is (plain text)."""
    spans = ", ".join(f"{name} {claim_text(name)}" for name in (MEMORISATION, "syntax", "crystallisation", REFINEMENT))
    return f"The last column is the claim of {ARTICLE} ({spans} of training): a claim to compare with, not a measurement."
