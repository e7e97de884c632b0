"""The base of every config section: a pydantic model that refuses unknown keys, and the kinds of
a section that has several (a task, a model), each registered by the class that defines it."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, model_validator


class Section(BaseModel):
    # No unknown keys and no NaN or infinity in any number.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, raw: Any) -> Any:
        """`steps = true` is a mistake, not 1 (pydantic's lax mode would take it). The message
        starts with the field's name; `config.py` puts the section's in front."""
        if isinstance(raw, dict):
            for name, field in cls.model_fields.items():
                if field.annotation in (int, float) and isinstance(raw.get(name), bool):
                    raise ValueError(f"{name}: {raw[name]!r} is not allowed (a number, not a boolean)")
        return raw


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
