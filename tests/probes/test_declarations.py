"""Metric names are declared once, by the probe that makes them: every recorded metric has a
declaration, and no module outside probes/ spells a declared name."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest
import torch

import phasewatch as pw
from phasewatch.probes import METRICS, PROBES, ProbeContext, declarations, run_probes
from phasewatch.probes.registry import Metric

PACKAGE = Path(pw.__file__).parent
_spec = importlib.util.spec_from_file_location("code_shape", Path(__file__).parents[2] / "bench" / "code_shape.py")
CODE_SHAPE = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(CODE_SHAPE)
SPLITS = ("train", "test", "eval")  # `split/name` behaviour metrics: the split alone is a convention, not a name


def _strings(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every string constant of a module but its docstrings, as bench/code_shape.py reads them."""
    return CODE_SHAPE.strings(ast.parse(path.read_text()))


def _spells(text: str, metric: Metric) -> bool:
    if metric.name.startswith("*"):
        return False  # the generic rules ("*loss*") name no metric
    exact = "*" not in metric.name
    family_prefix = metric.family not in SPLITS and text.startswith(metric.family + "/")
    return (exact and text == metric.name) or family_prefix


def test_no_module_outside_probes_spells_a_declared_metric_name():
    offenders = [
        f"{path.relative_to(PACKAGE)}:{line} {text!r} ({metric.name})"
        for path in sorted(PACKAGE.rglob("*.py"))
        if "probes" not in path.relative_to(PACKAGE).parts
        for line, text in _strings(path)
        for metric in METRICS
        if _spells(text, metric)
    ]
    assert offenders == []


def test_the_check_itself_catches_a_spelled_name(tmp_path):
    module = tmp_path / "m.py"
    module.write_text('"""A docstring may say induction_score/max."""\nNAME = "induction_score/max"\n')
    spelled = {text for _, text in _strings(module) for m in METRICS if _spells(text, m)}
    assert spelled == {"induction_score/max"}


def test_every_metric_of_a_built_in_run_is_declared_by_a_probe_that_ran(tiny_config, tmp_path):
    run = pw.run(config_file=tiny_config(steps=30, checkpoint_every=30), store=tmp_path, name="t")
    names = run.metric_names()
    assert len(names) > 10
    undeclared = [name for name in names if not declarations(name)]
    assert undeclared == []
    made = {m.name for p in run.config["probes"]["names"] for m in PROBES[p].metrics}
    for name in names:
        if not name.startswith(("train/",)):
            assert any(d.name in made for d in declarations(name)), name


def test_every_metric_of_a_watched_model_is_declared():
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=32, n_positions=16, n_embd=16, n_layer=2, n_head=2))
    tokens = torch.randint(32, (8, 16))
    data = pw.integrations.ProbeData(tokens, labels=torch.arange(8) % 2, attributes=torch.eye(4)[torch.arange(8) % 4])
    context = ProbeContext.of_data(model, data)
    names = list(PROBES)
    chosen = [n for n in names if PROBES[n].needs.unmet(context) is None]
    assert {"attention", "loss", "effective_rank", "collapse", "semantic", "weight_norm"} <= set(chosen)
    result = run_probes(chosen, context)
    assert [name for name in result.scalars if not declarations(name)] == []
    # read through the model's own attention weights: the largest over heads of mean_i A[L+i, i+1]
    # on the probe's repeated sequences (L = 8), recomputed here from the eager attention weights
    from phasewatch.probes.attention import repeated_random_tokens

    tokens = repeated_random_tokens(32, 16)
    model.set_attn_implementation("eager")
    model.eval()  # as the probes see it: no dropout
    with torch.no_grad():
        attentions = torch.stack(model(tokens, output_attentions=True).attentions).double()  # (layers, batch, heads, T, T)
    induction = [
        sum(attentions[layer, b, head, 8 + i, i + 1].item() for b in range(len(tokens)) for i in range(7)) / (7 * len(tokens))
        for layer in range(2)
        for head in range(2)
    ]
    assert result.scalars["induction_score/max"] == pytest.approx(max(induction), rel=1e-5)
    assert result.scalars["induction_score/L1H0"] == pytest.approx(induction[2], rel=1e-5)


@pytest.mark.parametrize("name", sorted(PROBES))
def test_every_probe_declares_what_it_emits_and_what_it_needs(name):
    probe = PROBES[name]
    assert probe.metrics, f"{name} declares no metric"
    assert probe.doc, f"{name} has no docstring"
