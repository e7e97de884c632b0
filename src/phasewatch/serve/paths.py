"""Which files inside the store the server may hand out, and nothing outside it.

A URL path is the user's input: `..`, an absolute path, a percent-encoded `%2e%2e` (decoded
before routing) or a symlink inside the store that points elsewhere must never reach a file
outside the store. Two checks, both required: the path's own segments (no `..`, no `.`, no
hidden names, not absolute), then the fully resolved file must lie inside the resolved store.
The one hidden file served is the pages' shared plotly.js, matched by its exact form.
"""

from __future__ import annotations

import re
from pathlib import Path

from phasewatch.report.assets import ASSETS, PLOTLY_FILE

PAGE_SUFFIX = ".html"
REPORT = "report.html"


def inside(root: Path, path: Path) -> Path | None:
    """`path` resolved (symlinks followed), if it exists and lies inside the store `root`; else None."""
    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError):  # missing, or a symlink loop
        return None
    return resolved if resolved.is_relative_to(root.resolve()) else None


def store_page(root: Path, relative: str) -> Path | None:
    """The HTML page that `relative` (a '/'-separated path inside the store) names, or None: a
    run's report (`RUN/report.html`, or just `RUN`), or another page a command wrote into the store
    (a comparison, a phase diagram). Only .html files: the store's data goes out through the API."""
    parts = relative.split("/")
    if "\\" in relative or "\x00" in relative or any(part in ("", ".", "..") or part.startswith(".") for part in parts):
        return None  # also refuses an absolute path: its first segment is empty
    path = root.joinpath(*parts)
    if path.is_dir():
        path = path / REPORT
    if path.suffix != PAGE_SUFFIX:
        return None
    found = inside(root, path)
    return found if found is not None and found.is_file() else None


def store_asset(root: Path, relative: str) -> Path | None:
    """The shared plotly.js of the store's pages (`.assets/plotly-VERSION.min.js`, report/assets.py)
    that `relative` names, or None: the one hidden file the server hands out, by its exact form."""
    folder, _, name = relative.partition("/")
    if folder != ASSETS or not re.fullmatch(PLOTLY_FILE, name):
        return None
    found = inside(root, root / ASSETS / name)
    return found if found is not None and found.is_file() else None
