"""Latent path samplers and their registry.

Every sampler shares one contract::

    sampler = get("ou", T=1.0)
    paths = sampler.sample(z0, z1, frames=48, n_paths=4, generator=g)
    # paths: float32 (n_paths, frames, *z0.shape); paths[:, 0] == z0 and paths[:, -1] == z1 exactly

Samplers are configured once (their parameters are validated in the constructor) and can be
sampled many times. ``available()`` describes every registered sampler and its parameters,
so the app and the CLI build their controls from it: registering a sampler here is all it
takes for it to appear everywhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

__all__ = ["Param", "Sampler", "register", "get", "available", "check_sample_args"]


@dataclass(frozen=True)
class Param:
    """Description of one sampler parameter, for building controls and checking input.

    kind: "float", "int", "bool" or "choice". ``low``/``high`` bound numbers (``None`` = open);
    ``low_inclusive``/``high_inclusive`` say whether the bound itself is allowed.
    ``when`` limits the parameter to some values of another one, e.g. ``("kernel",
    ("periodic",))``: a UI shows it only then.
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

    def check(self, value: Any) -> Any:
        """Return ``value`` converted to this parameter's type, or raise a clear ValueError."""
        if self.kind == "choice":
            if value not in self.choices:
                raise ValueError(f"{self.name} must be {self.range_text()}; got {value!r}")
            return value
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"{self.name} must be true or false; got {value!r}")
            return value
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{self.name} must be a number in {self.range_text()}; got {value!r}") from None
        if not math.isfinite(number):
            raise ValueError(f"{self.name} must be a finite number in {self.range_text()}; got {value!r}")
        if self.kind == "int":
            if number != int(number):
                raise ValueError(f"{self.name} must be a whole number in {self.range_text()}; got {value!r}")
            number = int(number)
        too_low = self.low is not None and (number < self.low or (number == self.low and not self.low_inclusive))
        too_high = self.high is not None and (number > self.high or (number == self.high and not self.high_inclusive))
        if too_low or too_high:
            raise ValueError(f"{self.name} must be in {self.range_text()}; got {value!r}")
        return number


@dataclass(frozen=True)
class _Entry:
    name: str
    factory: Callable[..., "Sampler"]
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
    _load_all()
    return {n: {"description": e.description, "params": list(e.params)} for n, e in _REGISTRY.items()}


def get(name: str, **params) -> "Sampler":
    """A configured sampler by registry name; unknown names and parameters raise ValueError."""
    _load_all()
    if name not in _REGISTRY:
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


def _load_all() -> None:
    """Import the modules that register samplers outside this file."""
    import importlib

    for module in _EXTERNAL_MODULES:
        importlib.import_module(module)


# Samplers defined in other modules register themselves on import.
_EXTERNAL_MODULES: tuple[str, ...] = ()


def check_sample_args(z0: torch.Tensor, z1: torch.Tensor, frames: int, n_paths: int) -> None:
    """Raise a clear ValueError for endpoints or sizes no sampler can work with."""
    if not isinstance(z0, torch.Tensor) or not isinstance(z1, torch.Tensor):
        raise ValueError("z0 and z1 must be torch tensors")
    if z0.shape != z1.shape:
        raise ValueError(f"z0 and z1 must have the same shape; got {tuple(z0.shape)} and {tuple(z1.shape)}")
    if z0.numel() == 0:
        raise ValueError("z0 and z1 must not be empty")
    if not (torch.isfinite(z0).all() and torch.isfinite(z1).all()):
        raise ValueError("z0 and z1 must be finite (no NaN or inf)")
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 2:
        raise ValueError(f"frames must be a whole number >= 2 (the two endpoints included); got {frames!r}")
    if isinstance(n_paths, bool) or not isinstance(n_paths, int) or n_paths < 1:
        raise ValueError(f"n_paths must be a whole number >= 1; got {n_paths!r}")


class Sampler:
    """Base of all samplers: a time horizon ``T`` and the shared ``sample`` contract.

    Subclasses implement ``_sample_interior(z0, z1, times, n_paths, generator)`` on flattened
    float64 endpoints ``(n,)`` and return the interior frames ``(n_paths, frames - 2, n)``;
    this class checks the arguments, flattens, and writes the endpoints back bit for bit.
    """

    name: str = "sampler"

    def __init__(self, T: float = 1.0):
        self.T = Param("T", "float", 1.0, "time horizon", low=0.0, low_inclusive=False).check(T)
        # Filled by samplers that have something to report (e.g. Langevin's effective sample
        # size); always a plain dict of numbers and lists, empty when there is nothing.
        self.last_diagnostics: dict[str, Any] = {}

    def params(self) -> dict[str, Any]:
        """The parameters this sampler was built with (for results and captions)."""
        return {"T": self.T}

    def times(self, frames: int) -> torch.Tensor:
        """Frame times ``t_i = i T / (frames - 1)``: float64 ``(frames,)``, endpoints included."""
        return torch.linspace(0.0, self.T, frames, dtype=torch.float64)

    def sample(
        self,
        z0: torch.Tensor,
        z1: torch.Tensor,
        frames: int,
        n_paths: int = 1,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Sample paths from z0 to z1.

        z0, z1: (*latent_shape) float on the prior's scale. Returns float32
        ``(n_paths, frames, *latent_shape)`` with ``[:, 0] == z0`` and ``[:, -1] == z1`` exactly.
        """
        check_sample_args(z0, z1, frames, n_paths)
        self.last_diagnostics = {}
        shape = z0.shape
        a = z0.detach().reshape(-1).to("cpu", torch.float64)
        b = z1.detach().reshape(-1).to("cpu", torch.float64)
        out = torch.empty((n_paths, frames, a.numel()), dtype=torch.float32)
        if frames > 2:
            interior = self._sample_interior(a, b, self.times(frames), n_paths, generator)
            out[:, 1:-1] = interior.to(torch.float32)
        out[:, 0] = z0.detach().reshape(-1).to("cpu", torch.float32)
        out[:, -1] = z1.detach().reshape(-1).to("cpu", torch.float32)
        return out.reshape(n_paths, frames, *shape).to(z0.device)

    def _sample_interior(self, z0, z1, times, n_paths, generator):  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"
