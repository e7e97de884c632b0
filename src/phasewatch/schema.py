"""The base of every config section: a pydantic model that refuses unknown keys, and the kinds of
a section that has several (a task, a model), each registered by the class that defines it."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Kind(Section):
    """A section told apart from its siblings by `name`. A family (`TaskConfig`, `ModelConfig`)
    sets `kinds = {}`; each subclass with a literal `name` default registers itself there, so
    `config.py` assembles the union of what the modules define."""

    kinds: ClassVar[dict[str, type[Kind]]]

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        name = cls.model_fields["name"].default if "name" in cls.model_fields else None
        if isinstance(name, str):
            cls.kinds[name] = cls
