"""Small hookable networks: a GPT-style decoder, the quadratic grokking MLP, a feature MLP with a
per-item pathway, and the (attribute-coupled) unconstrained-features model."""
from phasewatch.models.feature_mlp import FeatureMLP
from phasewatch.models.hooks import Hookable, HookPoint
from phasewatch.models.mlp import QuadraticMLP
from phasewatch.models.transformer import Transformer
from phasewatch.models.ufm import UFM
from phasewatch.tasks.base import Task


def build_model(config, task: Task) -> Hookable:
    """The model a validated `config.model` section describes, sized for `task`."""
    settings = config.model_dump(exclude={"name"})
    if config.name == "mlp":
        return QuadraticMLP(task.vocab_size - 1, task.num_classes, **settings)
    if config.name == "ufm":
        return UFM(task.attributes, **settings)
    if config.name == "feature_mlp":
        input_dim = 0 if task.vocab_size else task.train.inputs.shape[1]
        return FeatureMLP(task.vocab_size, task.seq_len, input_dim, task.num_classes, task.item_dims, **settings)
    return Transformer(task.vocab_size, task.seq_len, task.num_classes, **settings, last_only=not task.sequence_targets)


def shared_parameter_names(model) -> list[str]:
    """Parameters of the model's shared (attribute) pathway, which `train.decay_ratio` scales."""
    prefixes = getattr(model, "shared_parameters", [])
    return [name for name, _ in model.named_parameters() if any(name.startswith(p) for p in prefixes)]


__all__ = ["FeatureMLP", "HookPoint", "Hookable", "QuadraticMLP", "Transformer", "UFM", "build_model", "shared_parameter_names"]
