"""Named analysis results: analysis/<name>.json, written atomically, read back as a dict."""

import json

import numpy as np
import pytest

from phasewatch.errors import UserError
from phasewatch.store import Run


@pytest.fixture
def run(tmp_path):
    return Run.create(tmp_path, "r1", experiment="ufm", config={}, seed=0)


def test_save_then_read_round_trips(run):
    assert run.analysis("ufm_fit") is None
    data = {"metric": "semantic_alignment/features", "r": 100.0, "r2": np.float64(0.99), "steps": np.arange(3)}
    run.save_analysis("ufm_fit", data)
    assert run.analysis("ufm_fit") == {"metric": "semantic_alignment/features", "r": 100.0, "r2": 0.99, "steps": [0, 1, 2]}
    assert json.loads((run.path / "analysis" / "ufm_fit.json").read_text())["r"] == 100.0
    run.save_analysis("ufm_fit", {"r": 30.0})  # replaced whole, no temporary file left behind
    assert run.analysis("ufm_fit") == {"r": 30.0}
    assert [p.name for p in (run.path / "analysis").iterdir()] == ["ufm_fit.json"]


@pytest.mark.parametrize("bad", ["", ".hidden", "../x", "a/b", "a b", 5])
def test_bad_names_are_user_errors(run, bad):
    with pytest.raises(UserError, match="analysis name"):
        run.save_analysis(bad, {})
    with pytest.raises(UserError, match="analysis name"):
        run.analysis(bad)


@pytest.mark.parametrize("content", ["{not json", "[1, 2]"])
def test_unreadable_results_are_user_errors(run, content):
    (run.path / "analysis").mkdir()
    (run.path / "analysis" / "x.json").write_text(content)
    with pytest.raises(UserError, match="x.json"):
        run.analysis("x")
