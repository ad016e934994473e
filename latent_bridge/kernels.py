"""Stationary correlation kernels k(h) with k(0) = 1, for Gaussian-process bridges.

Each kernel is a small immutable object, validated when built, evaluated on a tensor of lags::

    k = Periodic(length_scale=1.0, period=10.0) * Exponential(alpha=2.0, beta=0.01)
    k(torch.tensor([0.0, 2.5, 10.0]))     # float64, same shape as the lags

Kernels are symmetric (they use |h|) and normalised (k(0) = 1), so a GP with such a kernel
has the standard normal as its marginal at every time: the prior of a VAE.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from .checks import shown
from .registry import Param

__all__ = [
    "Kernel", "Exponential", "Periodic", "Matern", "Product", "locally_periodic", "NamedKernel", "KERNELS",
    "KERNEL_NAMES", "kernel_from_params",
]


def _positive(name: str, help: str, default: float) -> Param:
    return Param(name, "float", default, help, low=0.0, low_inclusive=False)


def _check_fields(kernel) -> None:
    """Check and convert each field of a kernel dataclass with its ``Param`` (``kernel.PARAMS``):
    numbers only, not text (``kernel_from_params`` converts text first)."""
    for param in kernel.PARAMS:
        object.__setattr__(kernel, param.name, param.check(getattr(kernel, param.name), text=False))


def _lags(h) -> torch.Tensor:
    """|h| as float64 (lags may come as any real tensor or number)."""
    return torch.as_tensor(h, dtype=torch.float64).abs()


class Kernel:
    """Base of all kernels: ``k(lags) -> float64`` tensor of the same shape; ``k1 * k2``.

    A kernel with parameters is a frozen dataclass whose ``PARAMS`` describe its fields (range,
    default, help): the one place they are written, used to check values and to build the
    ``gp`` sampler's controls."""

    PARAMS: tuple[Param, ...] = ()

    def __call__(self, lags) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def complement(self, lags) -> torch.Tensor:
        """1 - k(lags), float64: accurate where k is near 1 (tiny lags), where 1 - k(h) would
        keep only the rounding of k. Kernels with an exponential form override it."""
        return 1.0 - self(lags)

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

    PARAMS = (
        Param("alpha", "float", 2.0, "exponent: 1 rough (OU), 2 smooth", low=0.0, high=2.0, low_inclusive=False),
        _positive("beta", "rate: larger decorrelates faster in time", 1.0),
    )

    def __post_init__(self):
        _check_fields(self)

    def __call__(self, lags) -> torch.Tensor:
        return torch.exp(-self.beta * _lags(lags) ** self.alpha)

    def complement(self, lags) -> torch.Tensor:
        return -torch.expm1(-self.beta * _lags(lags) ** self.alpha)


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

    PARAMS = (
        _positive("length_scale", "length scale: smaller is wigglier", 1.0),
        _positive("period", "period of the repeating pattern (T = period closes a loop)", 4.0),
    )

    def __post_init__(self):
        _check_fields(self)

    def __call__(self, lags) -> torch.Tensor:
        # (s / l)^2 rather than s^2 / l^2: l^2 underflows to 0 for l below 1e-154.
        return torch.exp(-self._exponent(lags))

    def complement(self, lags) -> torch.Tensor:
        return -torch.expm1(-self._exponent(lags))

    def _exponent(self, lags) -> torch.Tensor:
        scaled = torch.sin(math.pi * _lags(lags) / self.period) / self.length_scale
        return 2.0 * scaled * scaled


@dataclass(frozen=True)
class Matern(Kernel):
    """Matern kernel with nu in {0.5, 1.5, 2.5} and length_scale l > 0 (r = |h| / l):

    nu = 0.5: exp(-r)  (the OU process with time scale l);
    nu = 1.5: (1 + sqrt(3) r) exp(-sqrt(3) r)  (once differentiable paths);
    nu = 2.5: (1 + sqrt(5) r + 5 r^2 / 3) exp(-sqrt(5) r)  (twice differentiable).
    """

    nu: float = 2.5
    length_scale: float = 1.0

    PARAMS = (
        Param("nu", "choice", 2.5, "smoothness: 0.5 rough (OU), 1.5 and 2.5 smoother", choices=(0.5, 1.5, 2.5)),
        _positive("length_scale", "length scale: smaller is wigglier", 1.0),
    )

    def __post_init__(self):
        _check_fields(self)
        object.__setattr__(self, "nu", float(self.nu))

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

    def complement(self, lags) -> torch.Tensor:
        # 1 - prod k_i = -expm1(sum log k_i), with log k_i = log1p(-(1 - k_i)) from each
        # factor's own accurate complement.
        return -torch.expm1(sum(torch.log1p(-factor.complement(lags)) for factor in self.factors))


def locally_periodic(length_scale: float = 1.0, period: float = 4.0, beta: float = 1.0) -> Product:
    """Periodic * squared exponential, exp(-beta h^2): a repeating pattern that drifts, the
    faster the larger beta."""
    return Periodic(length_scale=length_scale, period=period) * Exponential(alpha=2.0, beta=beta)


@dataclass(frozen=True)
class NamedKernel:
    """A kernel the ``gp`` sampler builds from flat parameters: its name, formula (for help),
    builder (keyword arguments named as ``params``) and parameters."""

    name: str
    formula: str
    build: Callable[..., Kernel]
    params: tuple[Param, ...]


def _param(cls, name: str) -> Param:
    return next(p for p in cls.PARAMS if p.name == name)


KERNELS = {k.name: k for k in (
    NamedKernel("exponential", "exp(-beta |h|^alpha) (eq. 5)", Exponential, Exponential.PARAMS),
    NamedKernel("periodic", "exp(-2 sin^2(pi |h| / period) / length_scale^2) (eq. 6)", Periodic, Periodic.PARAMS),
    NamedKernel("matern", "Matern with smoothness nu", Matern, Matern.PARAMS),
    NamedKernel("locally-periodic", "periodic x squared exponential exp(-beta h^2)", locally_periodic,
                Periodic.PARAMS + (_param(Exponential, "beta"),)),
)}
KERNEL_NAMES = tuple(KERNELS)


def kernel_from_params(kernel: str, **params) -> Kernel:
    """Build a named kernel (``KERNEL_NAMES``) from flat scalar parameters, as the app and the
    CLI hold them. Missing parameters take their defaults; one the chosen kernel does not
    use is an error (a UI filters its controls with ``Param.when`` before calling)."""
    if not isinstance(kernel, str) or kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {', '.join(KERNEL_NAMES)}; got {shown(kernel)!r}")
    named = KERNELS[kernel]
    own = {p.name: p for p in named.params}
    unused = sorted(set(params) - set(own))
    if unused:
        raise ValueError(f"the {kernel} kernel does not use {', '.join(unused)}; its parameters are "
                         f"{', '.join(own)}")
    return named.build(**{name: own[name].check(value) for name, value in params.items()})
