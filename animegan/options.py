"""The stylization options every entry point shares (Python API, CLI, app, HTTP API), validated in one place."""
from __future__ import annotations

import math
from typing import Any

from animegan.errors import InvalidOptionError

STYLE_SIZE = -1         # max_size: stylize at the style's working size (the default)
FULL_RESOLUTION = 0     # max_size: stylize every pixel, in overlapping tiles (None means the same)
MIN_SIDE = 64           # smallest long side max_size may ask for


def max_size_option(value: Any) -> int:
    """``max_size`` as ``STYLE_SIZE``, ``FULL_RESOLUTION`` or a long side ≥ ``MIN_SIDE`` px (integral floats are
    accepted, as JSON sends them; None means full resolution)."""
    if value is None:
        return FULL_RESOLUTION
    number = _number(value)
    if number is not None and number.is_integer() and (number in (STYLE_SIZE, FULL_RESOLUTION) or number >= MIN_SIDE):
        return int(number)
    raise InvalidOptionError(f"max_size must be {STYLE_SIZE} (the style's size), {FULL_RESOLUTION} (full resolution) "
                             f"or a long side of at least {MIN_SIDE} px, got {value!r}")


def strength_option(value: Any) -> float:
    """``strength`` as a float in [0, 1]: how far the picture moves from the photo toward the style."""
    number = _number(value)
    if number is None or not 0.0 <= number <= 1.0:
        raise InvalidOptionError(f"strength must be a number from 0 (the photo) to 1 (the full style), got {value!r}")
    return number


def keep_colors_option(value: Any) -> bool:
    """``keep_colors`` as a bool."""
    return _flag("keep_colors", value)


def faces_option(value: Any) -> bool:
    """``faces`` (restyle each face aligned) as a bool."""
    return _flag("faces", value)


def _flag(name: str, value: Any) -> bool:
    """A bool option: True or False (the integers 0 and 1 too); strings such as "false" are refused, never truthy."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise InvalidOptionError(f"{name} must be true or false, got {value!r}")


def _number(value: Any) -> float | None:
    """A finite float from an int or float; None for anything else (bools and strings included)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None
