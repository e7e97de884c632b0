"""Structure Before Collapse in networks, end to end on seed 0: the structure forms and collapses
where the shared and per-item pathways' decay differ, and persists where it is equal
(../shared/science/structure_before_collapse.md, "What a faithful reproduction shows")."""

import pytest

import phasewatch as pw


def alignment(run, site: str = "features"):
    steps, b = run.metric(f"semantic_alignment/{site}")
    return b[0], b.max(), b[-1]


def structure_kinds(run, site: str = "features") -> set[str]:
    return {e["kind"] for e in run.events if e["metric"] == f"semantic_alignment/{site}"}


@pytest.mark.slow
def test_setting_2_rises_and_collapses_at_ratio_30_and_keeps_its_structure_at_ratio_1(tmp_path):
    hybrid = pw.run("structure-before-collapse", store=tmp_path, name="hybrid", setting="selectional")
    start, peak, final = alignment(hybrid)
    assert peak >= 2 * start and final <= 0.2 * peak
    assert hybrid.metric("etf_distance/features")[1][-1] <= 0.8
    assert structure_kinds(hybrid) == {"crystallisation", "collapse"}
    equal = pw.run("structure-before-collapse", store=tmp_path, name="equal", setting="selectional", decay_ratio=1)
    assert "collapse" not in structure_kinds(equal)
    assert equal.metric("etf_distance/features")[1][-1] >= 1.1


@pytest.mark.slow
def test_setting_1_rises_twofold_then_collapses_with_split_decay(tmp_path):
    run = pw.run("structure-before-collapse", store=tmp_path, name="split", setting="hierarchical")
    start, peak, final = alignment(run)
    assert peak >= 1.8 * start and final <= 0.15 * peak
    assert alignment(run, "classifier")[1] >= 0.1
    assert structure_kinds(run) == {"crystallisation", "collapse"}
