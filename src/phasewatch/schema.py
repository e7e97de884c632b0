"""The base of every config section: a pydantic model that refuses unknown keys, and the kinds of
a section that has several (a task, a model), each registered by the class that defines it."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, model_validator

INT64 = 2**63  # torch and numpy take integers of at most 64 bits


class Section(BaseModel):
    # No unknown keys, no NaN or infinity in any number, and strict types: no `"7"` or `true` for
    # a number, no `0` or `"yes"` for a boolean, no float for an integer (`1.5` nor `1e4`); an int
    # is still a float. A tuple field, which TOML and JSON give as an array, needs `strict=False`.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)

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

    @model_validator(mode="after")
    def _64_bit_integers(self) -> Section:
        """An integer past 64 bits (`threads = 100000000000000000000`) is a mistake that torch
        would meet as a traceback ("Overflow when unpacking long long"). Fields with their own
        upper bound have refused it already, with their own message."""
        for name in type(self).model_fields:
            value = getattr(self, name)
            for number in value if isinstance(value, list) else [value]:
                if type(number) is int and not -INT64 <= number < INT64:
                    raise ValueError(f"{name}: {number!r} is not allowed (a 64-bit integer: at most {INT64 - 1})")
        return self


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
