"""Small hookable networks: a GPT-style decoder and the quadratic grokking MLP."""
from phasewatch.models.hooks import Hookable, HookPoint
from phasewatch.models.mlp import QuadraticMLP
from phasewatch.models.transformer import Transformer
from phasewatch.tasks.base import Task


def build_model(config, task: Task) -> Hookable:
    """The model a validated `config.model` section describes, sized for `task`."""
    settings = config.model_dump(exclude={"name"})
    if config.name == "mlp":
        return QuadraticMLP(task.vocab_size - 1, task.num_classes, **settings)
    return Transformer(task.vocab_size, task.seq_len, task.num_classes, **settings)


__all__ = ["HookPoint", "Hookable", "QuadraticMLP", "Transformer", "build_model"]
