"""The sampler registry: every method by name, with a description of each of its parameters.

Sampler modules register their classes on import (``latent_bridge`` imports them all)::

    @register("ou", "Ornstein-Uhlenbeck bridge ...", (Param("T", "float", 0.5, "time horizon", low=1e-6),))
    class OUBridge(Sampler): ...

    sampler = get("ou", T=1.0)         # unknown names and parameters raise ValueError
    available()["ou"]["params"]        # [Param, ...]: what the app and the CLI build controls from
    all_params()                       # {name: Param}: one control per parameter name

A ``Param`` is the one source of a parameter's type, range, default and help: samplers and
kernels check their values with it, the app and the CLI show it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

from .checks import shown, whole_number

__all__ = ["Param", "register", "get", "available", "all_params"]


@dataclass(frozen=True)
class Param:
    """Description of one parameter, for building controls and checking input.

    kind: "float", "int", "bool" or "choice". ``low``/``high`` bound numbers (``None`` = open);
    ``low_inclusive``/``high_inclusive`` say whether the bound itself is allowed.
    ``when`` limits the parameter to some values of another one, e.g. ``("kernel",
    ("periodic",))``: it is used (and a UI shows it) only then (``applies``).
    """

    name: str
    kind: str
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    low_inclusive: bool = True
    high_inclusive: bool = True
    choices: tuple = ()
    when: tuple | None = None

    def range_text(self) -> str:
        """The allowed range in words, e.g. "(0, 2]" or "one of exponential, periodic"."""
        if self.kind == "choice":
            return "one of " + ", ".join(map(str, self.choices))
        if self.kind == "bool":
            return "true or false"
        lo = "-inf" if self.low is None else f"{self.low:g}"
        hi = "inf" if self.high is None else f"{self.high:g}"
        left = "[" if self.low is not None and self.low_inclusive else "("
        right = "]" if self.high is not None and self.high_inclusive else ")"
        return f"{left}{lo}, {hi}{right}"

    def applies(self, values: dict[str, Any]) -> bool:
        """Whether this parameter is used given the other values (its ``when`` condition)."""
        if self.when is None:
            return True
        other, allowed = self.when
        return values.get(other) in allowed

    def check(self, value: Any, text: bool = True) -> Any:
        """``value`` converted to this parameter's type, or a clear ValueError. With ``text``,
        numbers may come as text (a command line, a form); booleans are never numbers."""
        if self.kind == "choice":
            if text and all(isinstance(c, (int, float)) for c in self.choices) and isinstance(value, str):
                try:  # numeric choices (e.g. nu) arrive as text from a command line
                    value = float(value)
                except ValueError:
                    pass
            if isinstance(value, bool) or value not in self.choices:
                raise ValueError(f"{self.name} must be {self.range_text()}; got {shown(value)!r}")
            return value
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"{self.name} must be true or false; got {shown(value)!r}")
            return value
        number = None
        if not isinstance(value, bool) and (text or not isinstance(value, str)):
            try:
                number = float(value)
            except (TypeError, ValueError, OverflowError):
                pass
        if number is None:
            raise ValueError(f"{self.name} must be a number in {self.range_text()}; got {shown(value)!r}")
        if not math.isfinite(number):
            raise ValueError(f"{self.name} must be a finite number in {self.range_text()}; got {shown(value)!r}")
        if self.kind == "int":
            whole = whole_number(value)
            if whole is None:
                raise ValueError(f"{self.name} must be a whole number in {self.range_text()}; got {shown(value)!r}")
            number = whole
        too_low = self.low is not None and (number < self.low or (number == self.low and not self.low_inclusive))
        too_high = self.high is not None and (number > self.high or (number == self.high and not self.high_inclusive))
        if too_low or too_high:
            raise ValueError(f"{self.name} must be in {self.range_text()}; got {shown(value)!r}")
        return number


@dataclass(frozen=True)
class _Entry:
    name: str
    factory: Callable[..., Any]
    description: str
    params: tuple[Param, ...] = field(default_factory=tuple)


_REGISTRY: dict[str, _Entry] = {}


def register(name: str, description: str, params: tuple[Param, ...] = ()):
    """Class decorator: make a sampler available as ``get(name, **params)``."""

    def decorate(factory):
        if name in _REGISTRY:
            raise ValueError(f"a sampler named {name!r} is already registered")
        _REGISTRY[name] = _Entry(name, factory, description, tuple(params))
        factory.name = name
        return factory

    return decorate


def available() -> dict[str, dict]:
    """All registered samplers: ``{name: {"description": str, "params": [Param, ...]}}``."""
    return {n: {"description": e.description, "params": list(e.params)} for n, e in _REGISTRY.items()}


def all_params() -> dict[str, Param]:
    """One ``Param`` per parameter name over all samplers, in registration order (the first
    sampler's where several take the same name: same name, same meaning)."""
    params: dict[str, Param] = {}
    for entry in _REGISTRY.values():
        for param in entry.params:
            params.setdefault(param.name, param)
    return params


def get(name: str, **params):
    """A configured sampler by registry name; unknown names and parameters raise ValueError."""
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValueError(f"unknown method {name!r}; choose one of {', '.join(_REGISTRY)}")
    entry = _REGISTRY[name]
    known = {p.name for p in entry.params}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValueError(
            f"method {name!r} has no parameter {', '.join(map(repr, unknown))}; "
            f"its parameters are {', '.join(sorted(known)) or 'none'}"
        )
    return entry.factory(**params)
