"""Whole numbers, checked once: the one integer test every module uses.

``check_whole`` takes the values programs pass (``int`` and numpy integers); with
``loose=True`` also what forms and command lines send (integral floats, digit strings), via
``whole_number``, which never rounds through a float. Booleans are never numbers here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["whole_number", "check_whole", "shown", "quoted"]


def whole_number(value: Any, loose: bool = True) -> int | None:
    """``value`` as an exact int when it is one, else None.

    Always: an int or a numpy integer (never a bool). With ``loose``: also an integral float
    below 2**53, or a string of at most 30 digits with an optional sign; nothing goes through
    a float that could round it (``"9007199254740993"`` stays itself)."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if not loose:
        return None
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) < 2**53 else None
    if isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text[:1] in "+-" else text
        if digits.isascii() and digits.isdigit() and len(digits) <= 30:
            return -int(digits) if text.startswith("-") else int(digits)
    return None


def shown(value: Any, most: int = 40) -> Any:
    """A value short enough to quote in a message: strings of over ``most`` characters, numbers
    of over 40 digits and containers by their type (a client's 5 MB string must not come back
    in the error)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and abs(int(value)).bit_length() > 133:
        return type(value).__name__
    if isinstance(value, (bool, int, float, np.integer, np.floating)) or (isinstance(value, str) and len(value) <= most):
        return value
    return type(value).__name__


def quoted(value: Any, most: int = 40) -> str:
    """A text someone gave, quoted for a message: ``repr`` (so control characters such as a
    terminal's ESC come out escaped, never raw), cut after ``most`` characters with the length
    said ("'org/aaaa...' ... (151 characters)")."""
    text = str(value)
    if len(text) <= most:
        return repr(text)
    return f"{text[:most]!r}... ({len(text)} characters)"


def check_whole(name: str, value: Any, low: int, high: int | None = None, *, loose: bool = False,
                why: str = "", limit: str = "") -> int:
    """``value`` as an int in [low, high] (``high=None``: no upper bound), else a ValueError
    naming ``name`` and the range: "frames must be a whole number >= 2; got 1.5".

    loose: accept integral floats and digit strings too (``whole_number``). why: words added
    after the range, e.g. " (the two endpoints included)". limit: words after "at most N",
    e.g. " on this server": with it, a whole number out of range gets the short messages "at
    least N" / "at most N on this server"."""
    number = whole_number(value, loose=loose)
    out_of_range = number is not None and (number < low or (high is not None and number > high))
    if number is None or (out_of_range and not limit):
        allowed = f">= {low}" if high is None else f"from {low} to {high}"
        raise ValueError(f"{name} must be a whole number {allowed}{why}; got {shown(value)!r}")
    if number < low:
        raise ValueError(f"{name} must be at least {low}; got {number}")
    if high is not None and number > high:
        raise ValueError(f"{name} must be at most {high}{limit}; got {number}")
    return number
