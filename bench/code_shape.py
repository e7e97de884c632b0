"""The shape of the code: lines, modules that spell metric names, and the import graph.

    python bench/code_shape.py [SRC ...]     # default: src/phasewatch; give an old checkout's to compare

For each source tree (a `phasewatch` package folder) it prints
- lines of Python (non-blank, comment lines included) and the number of modules, and the largest;
- the modules outside probes/ whose string constants (docstrings excepted) spell a metric name:
  a constant that starts with one of the metric families below or equals a behaviour metric;
- the import graph between the package's parts (tasks, models, train, probes, record, store,
  analysis, report, integrations and the top-level modules): who imports whom, and any import
  that goes up the layering of docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import argparse
import ast
from collections import defaultdict
from pathlib import Path

FAMILIES = (
    "induction_score",
    "prev_token_score",
    "duplicate_token_score",
    "copying_score",
    "dependency_syntax",
    "dependency_semantic",
    "semantic_alignment",
    "semantic_correlation",
    "etf_distance",
    "effective_rank",
    "nc1",
    "nc3",
    "cka",
    "restricted_loss",
    "excluded_loss",
    "fourier_sparsity",
    "fourier_ipr",
    "weight_norm",
    "attribute_probe",
    "selection",
    "in_context",
    "icl",
    "position_loss",
    "keep_peak",
    "curriculum",
    "gram",
)
BEHAVIOUR = ("train/loss", "train/accuracy", "test/loss", "test/accuracy", "test/bits_per_byte", "probe/loss", "eval/loss")
# top to bottom; an import from a part to one above it goes up (the first row are entry points,
# as docs/ARCHITECTURE.md has them: the CLI and its fitting commands, the dashboard, sweeps)
LAYERS = [
    ("cli", "cli_parser", "cli_fits", "serve", "pipeline", "integrations", "sweep", "__init__"),
    ("train",),
    ("record",),
    ("report",),
    ("analysis", "config"),
    ("probes",),
    ("llc",),
    ("models",),
    ("store", "tasks", "schema", "errors"),
]


def part(path: Path, root: Path) -> str:
    relative = path.relative_to(root)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def strings(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, text) of every string constant in a module that is not a docstring (tests/probes/
    test_declarations.py reads modules with it too)."""
    docs = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs
    ]


def spells_metric(text: str) -> bool:
    return text in BEHAVIOUR or any(text == family or text.startswith(family + "/") for family in FAMILIES)


def layer(name: str) -> int:
    return next((i for i, names in enumerate(LAYERS) if name in names), len(LAYERS))


def shape(root: Path) -> None:
    files = sorted(root.rglob("*.py"))
    lines = {f: sum(1 for line in f.read_text().splitlines() if line.strip()) for f in files}
    print(f"\n## {root}")
    largest = max(lines, key=lines.__getitem__)
    print(
        f"lines of Python: {sum(lines.values()):,} in {len(files)} modules (largest: {largest.relative_to(root)}, {lines[largest]})"
    )
    spelling, graph = [], defaultdict(set)
    for f in files:
        tree = ast.parse(f.read_text())
        if part(f, root) != "probes" and any(spells_metric(s) for _, s in strings(tree)):
            spelling.append(str(f.relative_to(root)))
        for node in ast.walk(tree):
            names = (
                [node.module]
                if isinstance(node, ast.ImportFrom) and node.module
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            for name in names:
                if name.startswith("phasewatch."):
                    target = name.split(".")[1]
                    if target != part(f, root):
                        graph[part(f, root)].add(target)
    print(f"modules outside probes/ that spell a metric name: {len(spelling)}")
    for name in spelling:
        print(f"  {name}")
    print("imports between parts:")
    for source in sorted(graph, key=lambda s: (layer(s), s)):
        up = sorted(t for t in graph[source] if layer(t) < layer(source))
        print(f"  {source:13} -> {', '.join(sorted(graph[source]))}" + (f"   (upward: {', '.join(up)})" if up else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("roots", nargs="*", type=Path, default=[Path(__file__).parents[1] / "src" / "phasewatch"])
    for root in parser.parse_args().roots:
        shape(root)


if __name__ == "__main__":
    main()
