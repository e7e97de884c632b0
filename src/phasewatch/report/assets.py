"""plotly.js shared by the pages of a store instead of inlined in each (about 4.6 MB a page).

`shared_plotly(store, page)` writes `<store>/.assets/plotly-<plotly.js version>.min.js` once
(atomically, and again only when the file there differs) and returns the URL of that file
relative to the page, e.g. `../.assets/plotly-2.35.2.min.js` for `<store>/RUN/report.html` or
`<store>/sweeps/NAME.html`: a page then opens offline from file:// as before, and the dashboard
serves the file beside the pages (`/report/.assets/...`). The folder is hidden: the store's run
listing (`store.query._run_dirs`) skips hidden names, and `store.run.recover` removes only
`.tmp-RUN-PID` / `.old-RUN-PID` entries, so it is never taken for a run or a half-built one.

A page outside its store, or a store that cannot be written, gets None: the caller inlines
plotly.js as before (`html.page(..., plotly=None)`).
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from plotly.offline import get_plotlyjs, get_plotlyjs_version

from phasewatch.store.atomic import atomic_write_bytes

ASSETS = ".assets"
PLOTLY_FILE = r"plotly-[0-9][0-9A-Za-z.+-]*\.min\.js"  # what the dashboard may serve from ASSETS


def plotly_name() -> str:
    return f"plotly-{get_plotlyjs_version()}.min.js"


@cache
def _plotly_bytes() -> bytes:
    return get_plotlyjs().encode("utf-8")


def shared_plotly(store: str | Path, page: str | Path) -> str | None:
    """The relative URL from `page` (a file to be written) to the store's shared plotly.js, written
    first if missing or different; None when `page` is not inside `store` or the file cannot be
    written (inline it then)."""
    root = Path(store).resolve()
    folder = Path(page).parent.resolve()
    if not folder.is_relative_to(root):
        return None
    asset = root / ASSETS / plotly_name()
    body = _plotly_bytes()
    try:
        if not _holds(asset, body):
            atomic_write_bytes(asset, body)
    except OSError:
        return None
    return Path(os.path.relpath(asset, folder)).as_posix()


def _holds(path: Path, body: bytes) -> bool:
    try:
        return path.stat().st_size == len(body) and path.read_bytes() == body
    except OSError:
        return False
