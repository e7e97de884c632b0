"""Small hookable networks: a GPT-style decoder, the quadratic grokking MLP, a feature MLP with a
per-item pathway, and the (attribute-coupled) unconstrained-features model."""

from torch import nn

from phasewatch.models.base import ModelConfig
from phasewatch.models.feature_mlp import FeatureMLP
from phasewatch.models.hooks import Hookable, HookPoint
from phasewatch.models.mlp import QuadraticMLP
from phasewatch.models.transformer import Transformer
from phasewatch.models.ufm import UFM
from phasewatch.tasks.base import Task


def build_model(config: ModelConfig, task: Task) -> nn.Module:
    """The model a validated `config.model` section describes, sized for `task`."""
    return config.build(task)


def shared_parameter_names(model) -> list[str]:
    """Parameters of the model's shared (attribute) pathway, which `train.decay_ratio` scales."""
    prefixes = getattr(model, "shared_parameters", [])
    return [name for name, _ in model.named_parameters() if any(name.startswith(p) for p in prefixes)]


__all__ = [
    "FeatureMLP",
    "ModelConfig",
    "HookPoint",
    "Hookable",
    "QuadraticMLP",
    "Transformer",
    "UFM",
    "build_model",
    "shared_parameter_names",
]
