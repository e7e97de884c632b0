"""A model's config section: each model module defines one beside its class."""

from __future__ import annotations

from typing import Any, ClassVar

from torch import nn

from phasewatch.schema import Kind
from phasewatch.tasks.base import Task


class ModelConfig(Kind):
    """`build(task)` makes the model, sized for the task."""

    kinds: ClassVar[dict[str, type[Kind]]] = {}
    name: str

    def settings(self) -> dict[str, Any]:
        """The fields the model class takes."""
        return self.model_dump(exclude={"name"})

    def build(self, task: Task) -> nn.Module:
        raise NotImplementedError
