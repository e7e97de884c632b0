# `make demo` and `make test` each set up everything on a bare machine, then run.
VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
# The CPU build of torch goes in first, pinned: an unpinned torch pulls a multi-GB CUDA build.
TORCH   ?= torch==2.13.0

.PHONY: setup demo test test-all bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

demo: setup
	$(VENV)/bin/phasewatch run grokking --name demo --overwrite --set threads=2
	@echo "Report: runs/demo/report.html"

test: setup
	$(VENV)/bin/pytest -q -m "not slow"

test-all: setup
	$(VENV)/bin/pytest -q

bench: setup
	$(PY) -m pip install -q -e ".[bench]"
	$(PY) bench/train_speed.py
	$(PY) bench/detector.py

clean:
	rm -rf $(VENV) runs
