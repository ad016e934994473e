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

from latent_bridge.kernels import KERNEL_NAMES, KERNEL_PARAMS, PARAM_DEFAULTS, Exponential, Kernel, kernel_from_params

__all__ = [
    "Param", "Sampler", "register", "get", "available", "check_sample_args", "GaussianBridge",
    "Linear", "Slerp", "OUBridge", "GPBridge", "adjacent_correlation",
]


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
            if all(isinstance(c, (int, float)) for c in self.choices) and isinstance(value, str):
                # Numeric choices (e.g. nu) arrive as text from a command line.
                try:
                    value = float(value)
                except ValueError:
                    pass
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
    """Import the modules that register samplers outside this file (those that exist)."""
    import importlib
    import importlib.util

    for module in _EXTERNAL_MODULES:
        if importlib.util.find_spec(module) is not None:
            importlib.import_module(module)


# Samplers defined in other modules register themselves on import: `ou-sde` and `langevin`
# live in latent_bridge.sde beside their integrators.
_EXTERNAL_MODULES: tuple[str, ...] = ("latent_bridge.sde",)


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
    Samplers for which float64 costs too much override ``_sample_paths`` instead (see there).
    """

    name: str = "sampler"
    # False for samplers whose paths ignore the generator (every path is the same).
    stochastic: bool = True

    def __init__(self, T: float = 1.0):
        self.T = Param("T", "float", 1.0, "time horizon", low=MIN_T).check(T)
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
        a = z0.detach().reshape(-1).to("cpu")
        b = z1.detach().reshape(-1).to("cpu")
        out = self._sample_paths(a, b, self.times(frames), n_paths, generator)
        out[:, 0] = a.to(torch.float32)
        out[:, -1] = b.to(torch.float32)
        return out.reshape(n_paths, frames, *shape).to(z0.device)

    def _sample_paths(self, z0, z1, times, n_paths, generator) -> torch.Tensor:
        """All frames, float32 ``(n_paths, frames, n)``, from flat CPU endpoints ``(n,)`` in
        the caller's dtype. The endpoint frames may hold anything: ``sample`` overwrites them.
        This default runs ``_sample_interior`` in float64."""
        frames = times.numel()
        out = torch.empty((n_paths, frames, z0.numel()), dtype=torch.float32)
        if frames > 2:
            interior = self._sample_interior(z0.double(), z1.double(), times, n_paths, generator)
            out[:, 1:-1] = interior
        return out

    def _sample_interior(self, z0, z1, times, n_paths, generator):  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


# Below this every bridge is the straight line to within sqrt(T) = 0.1 % of the prior's scale,
# and time grids of subnormal numbers stop being evenly spaced (T = 1e-323 gave NaN).
MIN_T = 1e-6


def _T_param(default: float) -> Param:
    return Param("T", "float", default, "time horizon of the bridge process: longer is more random",
                 low=MIN_T)


# ---------------------------------------------------------------------------------------------
# Deterministic baselines


@register(
    "linear",
    "Straight line z(u) = (1 - u) z0 + u z1 (deterministic; its midpoint lies inside the sphere "
    "where a high-dimensional standard normal puts its mass).",
    (_T_param(1.0),),
)
class Linear(Sampler):
    """Linear interpolation. ``T`` is accepted so every method takes the same arguments; it
    only sets ``times()``: the frames are the same for every T, and all paths are equal."""

    stochastic = False

    def _sample_interior(self, z0, z1, times, n_paths, generator):
        u = (times[1:-1] / self.T)[:, None]
        return ((1.0 - u) * z0 + u * z1).expand(n_paths, -1, -1)


# Below this sine of the angle between z0 and z1 the great circle is numerically undefined.
_SLERP_MIN_SIN = 1e-7


@register(
    "slerp",
    "Great-circle interpolation (White 2016): keeps the norm when |z0| = |z1| (deterministic).",
    (_T_param(1.0),),
)
class Slerp(Sampler):
    """Spherical interpolation z(u) = sin((1-u)W)/sin W z0 + sin(uW)/sin W z1, with W the angle
    between z0 and z1. When sin W is near 0 the great circle is not defined (W near 0: the
    points coincide in direction; W near pi: antipodal, every great circle through them
    qualifies) and the straight line is returned instead (``last_diagnostics["fallback"]``).
    ``T`` only sets ``times()``, as for ``linear``."""

    stochastic = False

    def _sample_interior(self, z0, z1, times, n_paths, generator):
        u = (times[1:-1] / self.T)[:, None]
        a, b = z0 / z0.norm(), z1 / z1.norm()
        # Kahan's angle formula: accurate near 0 and pi, where acos of the cosine is not.
        angle = 2.0 * torch.atan2((a - b).norm(), (a + b).norm())
        sin_angle = torch.sin(angle)
        if not torch.isfinite(sin_angle) or sin_angle < _SLERP_MIN_SIN:
            self.last_diagnostics = {"fallback": "linear", "angle": float(angle)}
            path = (1.0 - u) * z0 + u * z1
        else:
            self.last_diagnostics = {"angle": float(angle)}
            path = (torch.sin((1.0 - u) * angle) * z0 + torch.sin(u * angle) * z1) / sin_angle
        return path.expand(n_paths, -1, -1)


# ---------------------------------------------------------------------------------------------
# Gaussian bridges: a stationary GP with correlation kernel k, pinned at Z(0) = z0, Z(T) = z1


# 1 - k(T) below this: Z(T) = Z(0) almost surely (a loop), condition on Z(0) alone.
_LOOP_TOLERANCE = 1e-9
# Mean weights of a well-posed bridge stay near [0, 1] (at most 1.3 for a periodic kernel at
# T = 1.1 periods); near a loop they grow without bound and paths between different latents
# leave the data entirely (T = 4.00004, period 4: weights of 8540, |z| / sqrt(n) up to 3661).
MAX_MEAN_WEIGHT = 10.0


class GaussianBridge(Sampler):
    """A GP with kernel ``k`` (k(0) = 1), independent across coordinates, conditioned on its
    endpoints (eq. 7). ``mean`` and ``covariance`` are the closed forms; ``sample`` draws all
    interior frames jointly from one float64 factorisation of the interior covariance, shared
    by every coordinate and path (cost O(M^3 + M^2 n K)). Subclasses may sample differently.
    """

    def __init__(self, kernel: Kernel, T: float = 1.0):
        super().__init__(T)
        self.kernel = kernel
        k_T = float(kernel(torch.tensor(self.T, dtype=torch.float64)))
        # k(T) = 1: the process is back at its start at T (periodic kernel, T a multiple of
        # the period), so the pair (Z(0), Z(T)) is singular and only z0 = z1 is possible.
        self.is_loop = 1.0 - k_T < _LOOP_TOLERANCE
        self._k_T = k_T
        self._maps: dict[int, tuple[torch.Tensor, dict]] = {}
        # max |weight| of z0 or z1 in the mean over [0, T] (257 times): 1 or a little more for
        # a well-posed bridge; it grows as 1 / (1 - k(T)^2) near a loop.
        self.largest_mean_weight = float(self._weights(self.times(257)).abs().max())

    def params(self) -> dict[str, Any]:
        return {"T": self.T, "kernel": self.kernel}

    def _weights(self, times: torch.Tensor) -> torch.Tensor:
        """B(t) A^-1: the weights of (z0, z1) in the bridge mean, float64 ``(M, 2)``."""
        k_t, k_rest = self.kernel(times), self.kernel(self.T - times)
        if self.is_loop:
            return torch.stack([k_t, torch.zeros_like(k_t)], dim=1)
        k_T = self._k_T
        return torch.stack([k_t - k_rest * k_T, k_rest - k_t * k_T], dim=1) / (1.0 - k_T * k_T)

    def mean(self, times: torch.Tensor, z0: torch.Tensor, z1: torch.Tensor) -> torch.Tensor:
        """Bridge mean at ``times`` (float ``(M,)`` in [0, T]) for endpoints ``(*shape)``:
        float64 ``(M, *shape)``. eq. (7): (z0 (k(t) - k(T-t) k(T)) + z1 (k(T-t) - k(t) k(T)))
        / (1 - k(T)^2); in the loop case (k(T) = 1), k(t) z0."""
        times = torch.as_tensor(times, dtype=torch.float64)
        ends = torch.stack([z0.detach().reshape(-1), z1.detach().reshape(-1)]).to("cpu", torch.float64)
        return (self._weights(times) @ ends).reshape(times.numel(), *z0.shape)

    def covariance(self, times: torch.Tensor) -> torch.Tensor:
        """Bridge covariance between ``times`` (float ``(M,)`` in [0, T]), the same for every
        coordinate: float64 ``(M, M)``, k(t - s) - B(t) A^-1 B(s)^T (eq. 7)."""
        times = torch.as_tensor(times, dtype=torch.float64)
        prior = self.kernel(times[:, None] - times[None, :])
        if self.is_loop:
            k_t = self.kernel(times)
            return prior - k_t[:, None] * k_t[None, :]
        ends = torch.stack([self.kernel(times), self.kernel(self.T - times)], dim=1)
        return prior - self._weights(times) @ ends.T

    def _check_loop(self, z0: torch.Tensor, z1: torch.Tensor) -> None:
        if torch.equal(z0, z1):
            return
        if self.is_loop:
            raise ValueError(
                f"this kernel has k(T) = 1 at T = {self.T:g} (T is a multiple of the period, or "
                "T is tiny against the length scale), so every path returns to its start: z1 must "
                "equal z0 (a loop); change T, the period or the length scale to interpolate "
                "between two different latents"
            )
        weight = self.largest_mean_weight
        if weight > MAX_MEAN_WEIGHT:
            raise ValueError(
                f"this kernel has k(T) = {self._k_T:.9f}, close to 1, at T = {self.T:g} (T is close to a "
                "multiple of the period, or tiny against the length scale): the bridge between two "
                f"different latents swings far outside both (its mean weights reach {weight:.3g}, more "
                f"than {MAX_MEAN_WEIGHT:g}); move T away from the multiple of the period (or set it "
                "exactly for a loop from one image), or change the period or the length scale")

    def _frame_map(self, frames: int) -> tuple[torch.Tensor, dict]:
        """The float32 ``(frames, frames)`` matrix taking [z0, noise_1..noise_{M-2}, z1] to the
        frames (first column: mean weights of z0; last: of z1; middle: the factor L with
        L L^T = interior covariance), and a diagnostics dict. Cached per frame count."""
        if frames not in self._maps:
            times = self.times(frames)
            inner = times[1:-1]
            cov = self.covariance(inner)
            factor, info = _factorise(cov)
            full = torch.zeros((frames, frames), dtype=torch.float64)
            full[0, 0] = full[-1, -1] = 1.0
            full[1:-1, [0, -1]] = self._weights(inner)
            full[1:-1, 1:-1] = factor
            self._maps[frames] = (full.to(torch.float32), info)
        return self._maps[frames]

    def _sample_paths(self, z0, z1, times, n_paths, generator):
        self._check_loop(z0, z1)
        frames = times.numel()
        if frames > MAX_JOINT_FRAMES:
            raise ValueError(
                f"{self.name} draws all frames jointly from a frames x frames covariance, so frames "
                f"must be at most {MAX_JOINT_FRAMES}; got {frames} (use ou for longer paths, or "
                "join several shorter walks)")
        # Float32 throughout: the factorisation is float64 (that is where precision matters);
        # the big tensors are drawn and mixed in float32, one matmul for all coordinates.
        buffer = _noise_frames(z0, n_paths, frames, generator)
        buffer[:, -1] = z1.to(torch.float32)
        if frames == 2:
            return buffer
        frame_map, info = self._frame_map(frames)
        self.last_diagnostics = dict(info)
        return torch.matmul(frame_map, buffer)


# A GP bridge factorises a (frames x frames) float64 covariance: at 8192 frames each such
# matrix is 0.5 GB and the eigendecomposition about half a minute on 2 CPU cores (4000 frames:
# 4 s); far beyond that the memory runs out before the user hears why.
MAX_JOINT_FRAMES = 8192


def _noise_frames(z0: torch.Tensor, n_paths: int, frames: int, generator) -> torch.Tensor:
    """float32 ``(n_paths, frames, n)``: z0 in frame 0, standard normal noise in the others.

    The noise is drawn for all frames at once, the two endpoint frames included: filling a
    slice with ``normal_`` takes a scalar path about 8x slower than ``randn`` of a whole
    contiguous tensor, and the two wasted frames cost far less than a copy."""
    out = torch.randn((n_paths, frames, z0.numel()), generator=generator, dtype=torch.float32)
    out[:, 0] = z0.to(torch.float32)
    return out


def _factorise(cov: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """A float64 factor L with L L^T = cov ``(m, m)``, and how it was found.

    Cholesky when it succeeds; otherwise (smooth kernels with many frames make the covariance
    numerically singular, with rounding-level negative eigenvalues) a clipped
    eigendecomposition L = V sqrt(max(lambda, 0)), which is exact up to rounding for a
    positive semi-definite matrix and needs no jitter that would bias the variance."""
    if cov.numel() == 0:
        return cov, {"factorisation": "none"}
    cov = 0.5 * (cov + cov.T)
    factor, status = torch.linalg.cholesky_ex(cov)
    if int(status) == 0 and torch.isfinite(factor).all():
        return factor, {"factorisation": "cholesky"}
    eigenvalues, vectors = torch.linalg.eigh(cov)
    clipped = eigenvalues.clamp(min=0.0)
    return vectors * clipped.sqrt(), {
        "factorisation": "eigh",
        "min_eigenvalue": float(eigenvalues.min()),
        "rank": int((clipped > eigenvalues.max() * 1e-12).sum()),
    }


@register(
    "ou",
    "Ornstein-Uhlenbeck bridge of the standard normal prior (eq. 4), sampled exactly: straight "
    "line for small T, on the sphere of radius sqrt(n) for large T.",
    (_T_param(0.5),),
)
class OUBridge(GaussianBridge):
    """Exact OU bridge: the GP bridge with k(h) = exp(-|h|) (``Exponential(1, 1)``).

    Sampled by its Markov property, frame by frame from the exact Gaussian transition of the
    bridge, O(M n K) with no factorisation: given Z(t) = x, with h the step, tau = T - t and
    tau' = tau - h,

        Z(t + h) = e^-h (1 - e^-2tau') / (1 - e^-2tau) x + e^-tau' (1 - e^-2h) / (1 - e^-2tau) z1
                   + sqrt((1 - e^-2h) (1 - e^-2tau') / (1 - e^-2tau)) eps,

    i.e. (sinh(tau') x + sinh(h) z1) / sinh(tau) in the mean: the Gaussian conditioning of the
    OU transition on Z(T) = z1, written with expm1 so tiny and huge T stay accurate.
    """

    def __init__(self, T: float = 0.5):
        super().__init__(Exponential(alpha=1.0, beta=1.0), T)

    def params(self) -> dict[str, Any]:
        return {"T": self.T}

    def _transitions(self, times: torch.Tensor) -> torch.Tensor:
        """Per interior frame i: (weight of frame i-1, weight of z1, noise std), float64 (M-2, 3)."""
        step = times[1:-1] - times[:-2]
        left_before = self.T - times[:-2]
        left_after = self.T - times[1:-1]

        def one_minus_exp2(x):  # 1 - e^{-2x}, accurate for small x
            return -torch.expm1(-2.0 * x)

        denom = one_minus_exp2(left_before)
        keep = torch.exp(-step) * one_minus_exp2(left_after) / denom
        pull = torch.exp(-left_after) * one_minus_exp2(step) / denom
        std = (one_minus_exp2(step) * one_minus_exp2(left_after) / denom).sqrt()
        return torch.stack([keep, pull, std], dim=1)

    def _sample_paths(self, z0, z1, times, n_paths, generator):
        frames = times.numel()
        out = _noise_frames(z0, n_paths, frames, generator)
        end = z1.to(torch.float32)
        for i, (keep, pull, std) in enumerate(self._transitions(times).tolist(), start=1):
            out[:, i].mul_(std).add_(out[:, i - 1], alpha=keep).add_(end, alpha=pull)
        return out


def _used_by(param: str) -> tuple:
    """``Param.when`` for a flat kernel parameter: shown only for the kernels that read it."""
    return ("kernel", tuple(k for k, names in KERNEL_PARAMS.items() if param in names))


def _positive(name: str, help: str) -> Param:
    """A positive flat kernel parameter of ``gp``, default from the kernel classes."""
    return Param(name, "float", PARAM_DEFAULTS[name], help, low=0.0, low_inclusive=False, when=_used_by(name))


_KERNEL_HELP = {
    "exponential": "exp(-beta |h|^alpha) (eq. 5)",
    "periodic": "exp(-2 sin^2(pi |h| / period) / length_scale^2) (eq. 6)",
    "matern": "Matern with smoothness nu",
    "locally-periodic": "periodic x squared exponential exp(-beta h^2)",
}


@register(
    "gp",
    "Gaussian-process bridge with a chosen kernel (eq. 7): smooth, rough or periodic paths; "
    "with the periodic kernel and T = period a random walk loops back exactly.",
    (
        _T_param(2.0),
        Param("kernel", "choice", "exponential", "covariance kernel: " + "; ".join(
            f"{k}: {v}" for k, v in _KERNEL_HELP.items()), choices=KERNEL_NAMES),
        Param("alpha", "float", PARAM_DEFAULTS["alpha"], "exponent: 1 rough (OU), 2 smooth",
              low=0.0, high=2.0, low_inclusive=False, when=_used_by("alpha")),
        _positive("beta", "rate: larger decorrelates faster in time"),
        _positive("length_scale", "length scale: smaller is wigglier"),
        _positive("period", "period of the repeating pattern (T = period closes a loop)"),
        Param("nu", "choice", PARAM_DEFAULTS["nu"], "smoothness: 0.5 rough (OU), 1.5 and 2.5 smoother",
              choices=(0.5, 1.5, 2.5), when=_used_by("nu")),
    ),
)
class GPBridge(GaussianBridge):
    """GP bridge with any kernel: ``GPBridge(kernel=Periodic(1.0, 10.0), T=10.0)`` or from
    flat parameters ``GPBridge(kernel="periodic", length_scale=1.0, period=10.0, T=10.0)``
    (those not used by the chosen kernel are ignored, as a UI passes all its controls)."""

    def __init__(self, T: float = 2.0, kernel: str | Kernel = "exponential", **kernel_params):
        params = {p.name: p for p in available()["gp"]["params"]}
        if isinstance(kernel, Kernel):
            if kernel_params:
                raise ValueError(
                    "give the kernel either as a Kernel object or as flat parameters, not both; "
                    f"got a Kernel and {', '.join(sorted(kernel_params))}"
                )
            built = kernel
        else:
            kernel = params["kernel"].check(kernel)
            for name, value in kernel_params.items():
                if name not in params:
                    raise ValueError(f"gp has no parameter {name!r}")
                kernel_params[name] = params[name].check(value)
            built = kernel_from_params(kernel, **kernel_params)
        super().__init__(built, T)


def adjacent_correlation(sampler: Sampler, frames: int) -> float:
    """How alike consecutive frames' random parts are: the correlation of the bridge noise
    between interior frames i and i+1, pooled over all consecutive interior pairs,

        sum_i C[i, i+1] / sqrt(sum_i C[i, i] * sum_i C[i+1, i+1])

    from the closed-form covariance C. Pooling weights each pair by its variance, so the nearly
    pinned frames next to the endpoints (whose pairwise correlation is about 0.7 for any
    Brownian-like bridge) count little. 1.0 for deterministic samplers; close to 1 means a
    smooth video. Needs frames >= 4 (two interior frames) and a sampler with ``covariance``.
    """
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 4:
        raise ValueError(f"frames must be a whole number >= 4 (two interior frames); got {frames!r}")
    if not sampler.stochastic:
        return 1.0
    if not hasattr(sampler, "covariance"):
        raise ValueError(f"{sampler.name} has no closed-form covariance to correlate frames with")
    cov = sampler.covariance(sampler.times(frames)[1:-1])
    var = cov.diagonal()
    return float(cov.diagonal(1).sum() / (var[:-1].sum() * var[1:].sum()).sqrt())
