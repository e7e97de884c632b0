"""Reading generated-language splits back as sentences (shared by the language and grammar tests)."""

from phasewatch.tasks.objective import IGNORE


def sentences(split) -> list[list[int]]:
    """Each row's full token sequence: the inputs, then the last scored target."""
    out = []
    for inputs, targets in zip(split.inputs.tolist(), split.targets.tolist()):
        length = sum(t != IGNORE for t in targets)
        out.append(inputs[:length] + [targets[length - 1]])
    return out
