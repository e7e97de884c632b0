"""The README's "Add a probe" diff, applied as written: the new probe runs in `phasewatch run`, under a
`Watcher` and in `analyze`, and its values are the formula its docstring gives."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

import phasewatch as pw
from phasewatch.probes import METRICS, PROBES

README = Path(__file__).parents[2] / "README.md"


def readme_diff() -> tuple[str, str]:
    """(the new probe module's source, the preset line the diff adds) from README's "Add a probe"."""
    section = README.read_text().split("### Add a probe", 1)[1].split("```diff", 1)[1].split("```", 1)[0]
    new_file, preset = section.split("--- a/", 1)
    source = "\n".join(line[1:] for line in new_file.splitlines() if line.startswith("+") and not line.startswith("+++"))
    added = [line[1:] for line in preset.splitlines() if line.startswith("+") and not line.startswith("+++")]
    return source + "\n", added[0]


@pytest.fixture
def feature_norm(tmp_path):
    """The README's probe module, imported (so registered) for one test and unregistered after."""
    source, _ = readme_diff()
    path = tmp_path / "feature_norm.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("readme_feature_norm", path)
    module = importlib.util.module_from_spec(spec)
    metrics_before = list(METRICS)
    spec.loader.exec_module(module)
    yield module
    PROBES.pop("feature_norm", None)
    METRICS[:] = metrics_before
    sys.modules.pop("readme_feature_norm", None)


def test_the_diff_adds_one_file_and_one_preset_line():
    source, preset_line = readme_diff()
    assert '@probe("feature_norm"' in source
    assert re.fullmatch(r'names = \[.*"feature_norm"\]', preset_line)


def test_the_new_probe_runs_in_a_built_in_run(feature_norm, tiny_config, tmp_path):
    run = pw.run(
        config_file=tiny_config(steps=20, checkpoint_every=20),
        store=tmp_path,
        name="built-in",
        assignments=['probes.names=["behaviour", "feature_norm"]'],
    )
    steps, values = run.metric("feature_norm/blocks.0.resid_post")
    assert len(steps) > 3 and (values > 0).all()


def test_the_new_probe_runs_under_a_watcher_and_in_analyze_with_the_same_values(feature_norm, tmp_path):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=32, n_positions=8, n_embd=16, n_layer=2, n_head=2))
    tokens = torch.randint(32, (12, 8))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    watcher = pw.Watcher(model, tokens, store=tmp_path, name="live", probes=["feature_norm"], schedule=[0, 2, 4])
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    for step in range(5):
        if step in (2, 4):
            save_file({k: v.clone() for k, v in model.state_dict().items()}, folder / f"step_{step}.safetensors")
        watcher.step(step)
        loss = model(tokens, labels=tokens).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    live = watcher.close()
    steps, values = live.metric("feature_norm/transformer.h.0")
    assert steps.tolist() == [0, 2, 4]
    # the docstring's formula on the weights of step 4: hidden_states[1] is the first block's output
    model.load_state_dict(load_file(folder / "step_4.safetensors"))
    with torch.no_grad():
        hidden = model.eval()(tokens, output_hidden_states=True).hidden_states[1]
    assert values[-1] == pytest.approx(hidden[:, -1].norm(dim=-1).mean().item(), rel=1e-6)

    def build():
        torch.manual_seed(1)
        return GPT2LMHeadModel(GPT2Config(vocab_size=32, n_positions=8, n_embd=16, n_layer=2, n_head=2))

    offline = pw.analyze(folder, _jsonl(tmp_path, tokens), store=tmp_path, factory=build, probes=["feature_norm"])
    for site in ("transformer.h.0", "transformer.h.1"):
        assert offline.metric(f"feature_norm/{site}")[1].tolist() == pytest.approx(
            live.metric(f"feature_norm/{site}")[1][1:].tolist(), abs=1e-6
        )


def _jsonl(tmp_path, tokens) -> str:
    import json

    path = tmp_path / "probes.jsonl"
    path.write_text("".join(json.dumps({"tokens": row.tolist()}) + "\n" for row in tokens))
    return str(path)
