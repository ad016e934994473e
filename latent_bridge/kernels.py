"""Stationary correlation kernels k(h) with k(0) = 1, for Gaussian-process bridges.

Each kernel is a small immutable object, validated when built, evaluated on a tensor of lags::

    k = Periodic(length_scale=1.0, period=10.0) * Exponential(alpha=2.0, beta=0.01)
    k(torch.tensor([0.0, 2.5, 10.0]))     # float64, same shape as the lags

Kernels are symmetric (they use |h|) and normalised (k(0) = 1), so a GP with such a kernel
has the standard normal as its marginal at every time: the prior of a VAE.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch

__all__ = [
    "Kernel", "Exponential", "Periodic", "Matern", "Product", "kernel_from_params", "KERNEL_NAMES",
    "KERNEL_PARAMS", "PARAM_DEFAULTS",
]


def _check_number(name: str, value, low: float, high: float = math.inf, *, low_open=True, high_open=False) -> float:
    """``value`` as a float if it lies in the interval, else a ValueError naming ``name``."""
    left, right = ("(" if low_open else "["), (")" if high_open or high == math.inf else "]")
    allowed = f"{left}{low:g}, {high:g}{right}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number in {allowed}; got {value!r}")
    number = float(value)
    inside = (number > low if low_open else number >= low) and (number < high if high_open else number <= high)
    if not (math.isfinite(number) and inside):
        raise ValueError(f"{name} must be in {allowed}; got {value!r}")
    return number


def _lags(h) -> torch.Tensor:
    """|h| as float64 (lags may come as any real tensor or number)."""
    return torch.as_tensor(h, dtype=torch.float64).abs()


class Kernel:
    """Base of all kernels: ``k(lags) -> float64`` tensor of the same shape; ``k1 * k2``."""

    def __call__(self, lags) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def __mul__(self, other: "Kernel") -> "Product":
        # The product of positive definite kernels is positive definite (Schur product
        # theorem) and keeps k(0) = 1; factors are flattened so products stay readable.
        if not isinstance(other, Kernel):
            return NotImplemented
        left = self.factors if isinstance(self, Product) else (self,)
        right = other.factors if isinstance(other, Product) else (other,)
        return Product(left + right)


@dataclass(frozen=True)
class Exponential(Kernel):
    """Powered exponential kernel, eq. (5): k(h) = exp(-beta |h|^alpha).

    alpha in (0, 2] (positive definite only there), beta > 0. alpha = 1 is the
    Ornstein-Uhlenbeck process (rough, Brownian-like paths); alpha = 2 the squared exponential
    (infinitely smooth paths); beta sets the time scale, 1 / beta^(1/alpha).
    """

    alpha: float = 2.0
    beta: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "alpha", _check_number("alpha", self.alpha, 0.0, 2.0))
        object.__setattr__(self, "beta", _check_number("beta", self.beta, 0.0))

    def __call__(self, lags) -> torch.Tensor:
        return torch.exp(-self.beta * _lags(lags) ** self.alpha)


@dataclass(frozen=True)
class Periodic(Kernel):
    """Periodic kernel, eq. (6): k(h) = exp(-(2 / l^2) sin^2(pi |h| / p)).

    length_scale l > 0 (smaller: wigglier within a period), period p > 0; k(h) = 1 at every
    multiple of p, so a path returns exactly to its start after a period (a loop).

    The poster prints |h|^2 inside the sine. That reads as a typo: sin^2(pi h^2 / p) is not
    a function of the lag with a non-negative spectrum, and its Gram matrices have negative
    eigenvalues in general (30 equally spaced times in [0, 4] with l = 1, p = 3 give one of
    -2.4), so it does not define a process. We use |h|, the standard periodic kernel (MacKay 1998).
    """

    length_scale: float = 1.0
    period: float = 4.0

    def __post_init__(self):
        object.__setattr__(self, "length_scale", _check_number("length_scale", self.length_scale, 0.0))
        object.__setattr__(self, "period", _check_number("period", self.period, 0.0))

    def __call__(self, lags) -> torch.Tensor:
        # (s / l)^2 rather than s^2 / l^2: l^2 underflows to 0 for l below 1e-154.
        scaled = torch.sin(math.pi * _lags(lags) / self.period) / self.length_scale
        return torch.exp(-2.0 * scaled * scaled)


@dataclass(frozen=True)
class Matern(Kernel):
    """Matern kernel with nu in {0.5, 1.5, 2.5} and length_scale l > 0 (r = |h| / l):

    nu = 0.5: exp(-r)  (the OU process with time scale l);
    nu = 1.5: (1 + sqrt(3) r) exp(-sqrt(3) r)  (once differentiable paths);
    nu = 2.5: (1 + sqrt(5) r + 5 r^2 / 3) exp(-sqrt(5) r)  (twice differentiable).
    """

    nu: float = 2.5
    length_scale: float = 1.0

    def __post_init__(self):
        if isinstance(self.nu, bool) or self.nu not in (0.5, 1.5, 2.5):
            raise ValueError(f"nu must be one of 0.5, 1.5, 2.5; got {self.nu!r}")
        object.__setattr__(self, "nu", float(self.nu))
        object.__setattr__(self, "length_scale", _check_number("length_scale", self.length_scale, 0.0))

    def __call__(self, lags) -> torch.Tensor:
        # Past r = 1e3 every Matern kernel is 0 in float64; the clamp keeps (1 + c) exp(-c)
        # from becoming inf * 0 = NaN when |h| / l overflows (tiny length scales).
        r = (_lags(lags) / self.length_scale).clamp(max=1e3)
        if self.nu == 0.5:
            return torch.exp(-r)
        if self.nu == 1.5:
            c = math.sqrt(3.0) * r
            return (1.0 + c) * torch.exp(-c)
        c = math.sqrt(5.0) * r
        return (1.0 + c + c * c / 3.0) * torch.exp(-c)


@dataclass(frozen=True)
class Product(Kernel):
    """Product of kernels, k(h) = k_1(h) k_2(h) ...; build it with ``*``."""

    factors: tuple[Kernel, ...]

    def __post_init__(self):
        factors = tuple(self.factors)
        if not factors or not all(isinstance(f, Kernel) for f in factors):
            raise ValueError(f"factors must be a non-empty tuple of kernels; got {self.factors!r}")
        object.__setattr__(self, "factors", factors)

    def __call__(self, lags) -> torch.Tensor:
        value = self.factors[0](lags)
        for factor in self.factors[1:]:
            value = value * factor(lags)
        return value


def _default(cls, name: str):
    return next(f.default for f in fields(cls) if f.name == name)


# The flat-parameter kernels of the `gp` sampler and the parameters each one reads.
KERNEL_NAMES = ("exponential", "periodic", "matern", "locally-periodic")
KERNEL_PARAMS = {
    "exponential": ("alpha", "beta"),
    "periodic": ("length_scale", "period"),
    "matern": ("nu", "length_scale"),
    # Periodic * squared exponential: beta sets how fast the repeating pattern drifts.
    "locally-periodic": ("length_scale", "period", "beta"),
}
PARAM_DEFAULTS = {
    "alpha": _default(Exponential, "alpha"),
    "beta": _default(Exponential, "beta"),
    "length_scale": _default(Periodic, "length_scale"),
    "period": _default(Periodic, "period"),
    "nu": _default(Matern, "nu"),
}


def kernel_from_params(kernel: str, **params) -> Kernel:
    """Build a kernel from flat scalar parameters, as the app and the CLI hold them.

    kernel: one of ``KERNEL_NAMES``. params: any of alpha, beta, length_scale, period, nu;
    those the chosen kernel does not use are ignored (a UI passes all of its controls), missing
    ones take their defaults, unknown names raise ValueError.
    """
    if kernel not in KERNEL_PARAMS:
        raise ValueError(f"kernel must be one of {', '.join(KERNEL_NAMES)}; got {kernel!r}")
    unknown = sorted(set(params) - set(PARAM_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown kernel parameter {', '.join(unknown)}; known: {', '.join(PARAM_DEFAULTS)}")
    p = {**PARAM_DEFAULTS, **params}
    if kernel == "exponential":
        return Exponential(alpha=p["alpha"], beta=p["beta"])
    if kernel == "periodic":
        return Periodic(length_scale=p["length_scale"], period=p["period"])
    if kernel == "matern":
        return Matern(nu=p["nu"], length_scale=p["length_scale"])
    return Periodic(length_scale=p["length_scale"], period=p["period"]) * Exponential(alpha=2.0, beta=p["beta"])
