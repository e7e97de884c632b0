"""The API's conventions: query parameters checked on the way in, values made JSON-ready on the
way out.

A bad parameter is an `ApiError` naming the parameter, the value and what is allowed, which the
app answers as `{"error": "..."}` with its status, so the page can show it in one line. JSON has
no NaN or infinity (and Starlette refuses to send them): such values go out as null, which
Plotly draws as a gap.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

MAX_STEP = 2**62


class ApiError(Exception):
    """An answer other than 200: the status and a one-line message for the page."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def clean(value: Any) -> Any:
    """JSON-ready: NaN and ±inf (which JSON cannot carry) become null, numpy scalars Python ones."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def floats(values: np.ndarray) -> list:
    """A float array as (nested) lists, null where a value is not finite."""
    values = np.asarray(values, np.float64)
    out = values.astype(object)
    out[~np.isfinite(values)] = None
    return out.tolist()


def text(query: Mapping[str, str], name: str, required: bool = True) -> str | None:
    """The text parameter `name`; None when it is absent and not `required`."""
    value = query.get(name)
    if required and not value:
        raise ApiError(400, f"{name}: missing (give ?{name}=...)")
    return value or None


def integer(query: Mapping[str, str], name: str, default: int | None, low: int, high: int) -> int:
    """The integer parameter `name`; `default` when it is absent (None: it is required)."""
    raw = query.get(name)
    if raw is None or raw == "":
        if default is None:
            raise ApiError(400, f"{name}: missing (give ?{name}=N, an integer from {low} to {high})")
        return default
    return as_integer(name, raw, low, high)


def as_integer(name: str, raw: str, low: int, high: int) -> int:
    """`raw` as an integer from `low` to `high`, else an ApiError naming `name`."""
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name}: {raw[:40]!r} is not allowed (an integer from {low} to {high})") from None
    if not low <= value <= high:
        raise ApiError(400, f"{name}: {value} is not allowed (an integer from {low} to {high})")
    return value


def step(query: Mapping[str, str], name: str) -> float | None:
    """The step parameter `name` (a number, possibly fractional: an axis position), or None."""
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0 <= value <= MAX_STEP:
        raise ApiError(400, f"{name}: {raw[:40]!r} is not allowed (a step from 0 to {MAX_STEP})")
    return value
