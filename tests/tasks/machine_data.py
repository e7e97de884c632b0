"""Data a test reads from the machine (the packaged corpus, Debian's WordNet): skipped on a
developer's machine that lacks it, an error under CI (CI=true), where `make setup` installs both."""

from __future__ import annotations

import importlib.util
import os

from phasewatch.tasks.wordnet import WORDNET_DIR

IN_CI = os.environ.get("CI") == "true"
NO_CORPUS = importlib.util.find_spec("bible") is None and not IN_CI
NO_WORDNET = not (WORDNET_DIR / "data.noun").is_file() and not IN_CI
