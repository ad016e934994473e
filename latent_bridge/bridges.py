"""Latent path samplers: the deterministic baselines and the Gaussian bridges.

Every sampler shares one contract::

    sampler = lb.registry.get("ou", T=1.0)
    paths = sampler.sample(z0, z1, frames=48, n_paths=4, generator=g)
    # paths: float32 (n_paths, frames, *z0.shape); paths[:, 0] == z0 and paths[:, -1] == z1 exactly
    run = sampler.run(z0, z1, frames=48, n_paths=4, generator=g, callback=report)
    # run.latents (as above), run.times float64 (frames,), run.diagnostics: a JSON-able dict

Samplers are configured once (their parameters are validated in the constructor) and keep
nothing from a run: what a run found is in the ``Paths`` it returns, so one sampler can serve
several threads. Each registers itself (``latent_bridge.registry``); the SDE samplers live in
``latent_bridge.sde``.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from .checks import check_whole, shown
from .kernels import KERNEL_NAMES, KERNELS, Exponential, Kernel, kernel_from_params
from .priors import Gaussian
from .registry import Param, register

__all__ = [
    "Sampler", "Paths", "Callback", "check_sample_args", "time_param", "MIN_T", "GaussianBridge",
    "Linear", "Slerp", "OUBridge", "GPBridge", "adjacent_correlation", "SMOOTH_CORRELATION",
    "frames_for_smooth_motion", "EASINGS", "check_easing", "check_keys",
    "timeline",
]

# callback(done, total, message): called as a sampler's work advances (done of total units).
Callback = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Paths:
    """What one ``Sampler.run`` found.

    latents: float32 ``(n_paths, frames, *latent_shape)``, ``[:, 0] == z0`` and ``[:, -1] ==
    z1`` exactly; times: float64 ``(frames,)``, the frame times in [0, T]; diagnostics: plain
    numbers, strings and lists (JSON-able), with ``warnings``, a list of sentences, when there
    is something the user must know.
    """

    latents: torch.Tensor
    times: torch.Tensor
    diagnostics: dict[str, Any] = field(default_factory=dict)


# Below this every bridge is the straight line to within sqrt(T) = 0.1 % of the prior's scale,
# and time grids of subnormal numbers stop being evenly spaced (T = 1e-323 gave NaN).
MIN_T = 1e-6


def time_param(default: float) -> Param:
    """The time horizon ``T`` of a bridge process, shared by every stochastic sampler."""
    return Param("T", "float", default, "time horizon of the bridge process: longer is more random", low=MIN_T)


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
    check_whole("frames", frames, 2, why=" (the two endpoints included)")
    check_whole("n_paths", n_paths, 1)


class Sampler:
    """Base of all samplers: a time horizon ``T`` and the shared ``sample``/``run`` contract.

    Subclasses implement ``_sample_interior(z0, z1, times, n_paths, generator, callback)`` on
    flattened float64 endpoints ``(n,)`` and return the interior frames ``(n_paths, frames -
    2, n)`` with a diagnostics dict; this class checks the arguments, flattens, and writes the
    endpoints back bit for bit. Samplers for which float64 costs too much override
    ``_sample_paths`` instead (see there).
    """

    name: str = "sampler"
    # False for samplers whose paths ignore the generator (every path is the same).
    stochastic: bool = True

    def __init__(self, T: float = 1.0):
        self.T = time_param(1.0).check(T)

    def params(self) -> dict[str, Any]:
        """The parameters this sampler was built with (for results and captions)."""
        return {"T": self.T}

    def times(self, frames: int) -> torch.Tensor:
        """Frame times ``t_i = i T / (frames - 1)``: float64 ``(frames,)``, endpoints included."""
        return torch.linspace(0.0, self.T, frames, dtype=torch.float64)

    def run(
        self,
        z0: torch.Tensor,
        z1: torch.Tensor,
        frames: int,
        n_paths: int = 1,
        generator: torch.Generator | None = None,
        callback: Callback | None = None,
    ) -> Paths:
        """Sample paths from z0 to z1 and say how it went.

        z0, z1: (*latent_shape) float on the prior's scale. callback(done, total, message) is
        called as the work advances (samplers with long runs call it often). Returns
        ``Paths`` with float32 latents ``(n_paths, frames, *latent_shape)`` on z0's device.
        """
        check_sample_args(z0, z1, frames, n_paths)
        frames, n_paths = int(frames), int(n_paths)
        shape = z0.shape
        a = z0.detach().reshape(-1).to("cpu")
        b = z1.detach().reshape(-1).to("cpu")
        times = self.times(frames)
        out, diagnostics = self._sample_paths(a, b, times, n_paths, generator, callback)
        out[:, 0] = a.to(torch.float32)
        out[:, -1] = b.to(torch.float32)
        return Paths(out.reshape(n_paths, frames, *shape).to(z0.device), times, diagnostics)

    def sample(
        self,
        z0: torch.Tensor,
        z1: torch.Tensor,
        frames: int,
        n_paths: int = 1,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """``run(...).latents``: float32 ``(n_paths, frames, *latent_shape)`` with ``[:, 0] ==
        z0`` and ``[:, -1] == z1`` exactly."""
        return self.run(z0, z1, frames, n_paths, generator).latents

    # -- keyframes: one path through several latents --------------------------------------------

    def segment_times(self, frames_per_segment: int, easing: str = "linear") -> torch.Tensor:
        """Frame times within one segment, from key to key: float64 ``(frames_per_segment,)``
        from exactly 0 to exactly T. ``linear``: ``times(frames_per_segment)``, evenly spaced;
        ``smooth``: T s(i / (f - 1)) with the smoothstep s(u) = 3u^2 - 2u^3, so the frames
        crowd near the keys and the path slows into and out of each one."""
        easing = check_easing(easing)
        if easing == "linear":
            return self.times(frames_per_segment)
        u = torch.linspace(0.0, 1.0, frames_per_segment, dtype=torch.float64)
        return self.T * (u * u * (3.0 - 2.0 * u))

    def run_through(
        self,
        keys: torch.Tensor,
        frames_per_segment: int,
        n_paths: int = 1,
        generator: torch.Generator | None = None,
        loop: bool = False,
        callback: Callback | None = None,
        easing: str = "linear",
    ) -> Paths:
        """Sample paths through every latent of ``keys`` in order, and say how it went.

        keys: float ``(K, *latent_shape)``, K >= 2, on the prior's scale; key j sits at time
        j T (each segment between two keys spans the sampler's T). loop: add a last segment
        from ``keys[-1]`` back to ``keys[0]``. easing: where the frames of each segment sit
        in time (``segment_times``). Returns ``Paths`` with float32 latents ``(n_paths, S (f -
        1) + 1, *latent_shape)`` for S segments (K - 1, or K with ``loop``) of f =
        ``frames_per_segment`` frames, key j exactly (bit for bit) at frame j (f - 1) and, with
        ``loop``, ``keys[0]`` exactly at the last frame; times float64 in [0, S T]; the
        diagnostics of the run with ``key_frames``, the frame index of each key.

        Gaussian-process bridges condition on all keys at once; the others (and the Markov
        ``ou``, for which this is the same law) chain one bridge per segment, with each
        segment's diagnostics under ``segments``.
        """
        check_keys(keys)
        frames_per_segment = check_whole("frames_per_segment", frames_per_segment, 2,
                                         why=" (the segment's two keys included)")
        n_paths = check_whole("n_paths", n_paths, 1)
        if not isinstance(loop, bool):
            raise ValueError(f"loop must be true or false; got {shown(loop)!r}")
        shape = keys.shape[1:]
        flat = keys.detach().reshape(keys.shape[0], -1).to("cpu")
        chain = torch.cat([flat, flat[:1]]) if loop else flat
        local = self.segment_times(frames_per_segment, easing)
        times = timeline(local, chain.shape[0] - 1, self.T)
        out, diagnostics = self._sample_through(chain, local, times, n_paths, generator, callback)
        key_frames = torch.arange(chain.shape[0]) * (frames_per_segment - 1)
        out[:, key_frames] = chain.to(torch.float32)
        diagnostics = {**diagnostics, "key_frames": key_frames.tolist()}
        return Paths(out.reshape(n_paths, times.numel(), *shape).to(keys.device), times, diagnostics)

    def sample_through(
        self,
        keys: torch.Tensor,
        frames_per_segment: int,
        n_paths: int = 1,
        generator: torch.Generator | None = None,
        loop: bool = False,
    ) -> torch.Tensor:
        """``run_through(...).latents``: float32 ``(n_paths, S (f - 1) + 1, *latent_shape)``
        with ``keys[j]`` exactly at frame j (f - 1) (see ``run_through``)."""
        return self.run_through(keys, frames_per_segment, n_paths, generator, loop).latents

    def _sample_through(self, chain, local, times, n_paths, generator, callback) -> tuple[torch.Tensor, dict]:
        """All frames through ``chain`` (flat CPU keys ``(S + 1, n)``, the loop's return
        included), float32 ``(n_paths, S (f - 1) + 1, n)``, and the diagnostics; the key
        frames may hold anything (``run_through`` writes them). This default chains
        independent bridges, one ``_sample_paths`` per segment over the local times ``local``
        ``(f,)``: exact for a Markov process, whose future given a key is independent of its
        past."""
        segments, frames = chain.shape[0] - 1, local.numel()
        out = torch.empty((n_paths, times.numel(), chain.shape[1]), dtype=torch.float32)
        found = []
        for j in range(segments):
            piece, info = self._sample_paths(chain[j], chain[j + 1], local, n_paths, generator,
                                             _segment_callback(callback, j, segments))
            out[:, j * (frames - 1):(j + 1) * (frames - 1) + 1] = piece
            found.append(info)
        return out, _segment_diagnostics(found)

    def _sample_paths(self, z0, z1, times, n_paths, generator, callback) -> tuple[torch.Tensor, dict]:
        """All frames, float32 ``(n_paths, frames, n)``, from flat CPU endpoints ``(n,)`` in
        the caller's dtype, and the diagnostics. The endpoint frames may hold anything:
        ``run`` overwrites them. This default runs ``_sample_interior`` in float64."""
        frames = times.numel()
        out = torch.empty((n_paths, frames, z0.numel()), dtype=torch.float32)
        diagnostics: dict = {}
        if frames > 2:
            out[:, 1:-1], diagnostics = self._sample_interior(z0.double(), z1.double(), times, n_paths, generator,
                                                              callback)
        return out, diagnostics

    def _sample_interior(self, z0, z1, times, n_paths, generator, callback):  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


# ---------------------------------------------------------------------------------------------
# Deterministic baselines


class _Deterministic(Sampler):
    """A path that ignores T and the generator: every path is the same curve, at frame times
    u in [0, 1] (``times``), so it takes no parameters."""

    stochastic = False

    def __init__(self):
        super().__init__(1.0)

    def params(self) -> dict[str, Any]:
        return {}


@register(
    "linear",
    "Straight line z(u) = (1 - u) z0 + u z1 (deterministic; its midpoint lies inside the sphere "
    "where a high-dimensional standard normal puts its mass).",
)
class Linear(_Deterministic):
    """Linear interpolation, z(u) = (1 - u) z0 + u z1."""

    def _sample_interior(self, z0, z1, times, n_paths, generator, callback):
        u = times[1:-1, None]
        return ((1.0 - u) * z0 + u * z1).expand(n_paths, -1, -1), {}


# Below this sine of the angle between z0 and z1 the great circle is numerically undefined.
_SLERP_MIN_SIN = 1e-7


@register(
    "slerp",
    "Great-circle interpolation (White 2016): keeps the norm when |z0| = |z1| (deterministic).",
)
class Slerp(_Deterministic):
    """Spherical interpolation z(u) = sin((1-u)W)/sin W z0 + sin(uW)/sin W z1, with W the angle
    between z0 and z1. When sin W is near 0 the great circle is not defined (W near 0: the
    points coincide in direction; W near pi: antipodal, every great circle through them
    qualifies) and the straight line is returned instead (``diagnostics["fallback"]``, with a
    warning)."""

    def _sample_interior(self, z0, z1, times, n_paths, generator, callback):
        u = times[1:-1, None]
        a, b = z0 / z0.norm(), z1 / z1.norm()
        # Kahan's angle formula: accurate near 0 and pi, where acos of the cosine is not.
        angle = 2.0 * torch.atan2((a - b).norm(), (a + b).norm())
        sin_angle = torch.sin(angle)
        if not torch.isfinite(sin_angle) or sin_angle < _SLERP_MIN_SIN:
            path = (1.0 - u) * z0 + u * z1
            diagnostics = {"fallback": "linear", "angle": float(angle), "warnings": [
                "the two latents point in the same or opposite directions, where the great circle "
                "is not defined: slerp returned the straight line"]}
        else:
            path = (torch.sin((1.0 - u) * angle) * z0 + torch.sin(u * angle) * z1) / sin_angle
            diagnostics = {"angle": float(angle)}
        return path.expand(n_paths, -1, -1), diagnostics


# ---------------------------------------------------------------------------------------------
# Gaussian bridges: a stationary GP with correlation kernel k, pinned at Z(0) = z0, Z(T) = z1


# 1 - k(T) (the kernel's accurate complement) below this: Z(T) = Z(0) almost surely (a loop),
# condition on Z(0) alone. A periodic kernel at a multiple of its period gives ~1e-32 (the
# rounding of sin(pi k)); a smooth kernel at the smallest T gives beta T^alpha >= 1e-12 for
# any reasonable beta, a well-posed bridge (its mean weights stay in [0, 1]).
_LOOP_TOLERANCE = 1e-20
# Mean weights of a well-posed bridge stay near [0, 1] (at most 1.3 for a periodic kernel at
# T = 1.1 periods); near a loop they grow without bound and paths between different latents
# leave the data entirely (T = 4.00004, period 4: weights of 8540, |z| / sqrt(n) up to 3661).
MAX_MEAN_WEIGHT = 10.0


# The stationary law of a Gaussian bridge: the standard normal, or a Gaussian fitted to the
# model's encoded data ("fitted": the pipeline fits it, ``lb.pipeline.resolve_prior``).
GAUSSIAN_PRIORS = ("standard-normal", "fitted")


def prior_param() -> Param:
    return Param("prior", "choice", "standard-normal", "stationary law of the process: the standard normal, or "
                 "a Gaussian with the mean and covariance of the model's encoded data (fitted)",
                 choices=GAUSSIAN_PRIORS)


class GaussianBridge(Sampler):
    """A GP with kernel ``k`` (k(0) = 1), independent across coordinates, conditioned on its
    endpoints (eq. 7). ``mean`` and ``covariance`` are the closed forms; ``sample`` draws all
    interior frames jointly from one float64 factorisation of the interior covariance, shared
    by every coordinate and path (cost O(M^3 + M^2 n K)). Subclasses may sample differently.

    prior: ``"standard-normal"`` (the paper's), a ``lb.priors.Gaussian`` N(mu, Sigma), or
    ``"fitted"``, the Gaussian of a model's encoded data, which the pipeline fits. Under
    N(mu, Sigma) the process is mu + Sigma^(1/2) times the standard one: the bridge's mean is
    mu + w0(t) (z0 - mu) + w1(t) (z1 - mu) and its covariance c(t, s) Sigma, with w and c
    those of the standard bridge; it is sampled as that mean plus L times a standard bridge
    pinned at 0 at both ends (L L^T = Sigma).
    """

    def __init__(self, kernel: Kernel, T: float = 1.0, prior: Any = "standard-normal"):
        super().__init__(T)
        if not isinstance(prior, Gaussian):
            prior = prior_param().check(prior)
        self.prior = prior
        self.kernel = kernel
        k_T = float(kernel(torch.tensor(self.T, dtype=torch.float64)))
        # k(T) = 1: the process is back at its start at T (periodic kernel, T a multiple of
        # the period), so the pair (Z(0), Z(T)) is singular and only z0 = z1 is possible.
        self.is_loop = float(kernel.complement(torch.tensor(self.T, dtype=torch.float64))) < _LOOP_TOLERANCE
        self._k_T = k_T
        self._maps: dict[int, tuple[torch.Tensor, dict]] = {}
        self._through_maps: dict[tuple, tuple] = {}
        # max |weight| of z0 or z1 in the mean over [0, T] (257 times): 1 or a little more for
        # a well-posed bridge; it grows as 1 / (1 - k(T)^2) near a loop.
        self.largest_mean_weight = float(self._weights(self.times(257)).abs().max())

    def params(self) -> dict[str, Any]:
        return {"T": self.T, "kernel": self.kernel, "prior": self.prior}

    def fitted_prior(self) -> dict[str, Any] | None:
        """``{"kind": "gaussian"}`` when the prior is ``"fitted"`` (the arguments of
        ``lb.priors.for_model``), else None."""
        return {"kind": "gaussian"} if self.prior == "fitted" else None

    def with_prior(self, prior: Gaussian) -> "GaussianBridge":
        """The same bridge under ``prior`` (a ``lb.priors.Gaussian``)."""
        twin = copy.copy(self)
        twin.prior = prior
        return twin

    def _gaussian_prior(self, n: int) -> Gaussian | None:
        """The prior as an object (None for the standard normal), checked against n values."""
        if isinstance(self.prior, Gaussian):
            if self.prior.dim != n:
                raise ValueError(f"the prior is {self.prior.dim}-dimensional but the latents have {n} values")
            return self.prior
        if self.prior == "fitted":
            raise ValueError("prior 'fitted' is the Gaussian of a model's encoded data: pass a prior object, "
                             "e.g. prior=lb.priors.for_model(vae, kind='gaussian'), or sample through "
                             "lb.interpolate, which fits it for its model")
        return None

    def run(self, z0, z1, frames, n_paths=1, generator=None, callback=None) -> Paths:
        prior = self._gaussian_prior(z0.numel()) if isinstance(z0, torch.Tensor) else None
        if prior is None:
            return super().run(z0, z1, frames, n_paths, generator, callback)
        check_sample_args(z0, z1, frames, n_paths)
        self._check_loop(z0.reshape(-1), z1.reshape(-1))
        # mean + L * (a standard bridge pinned at 0): one standard run in the prior's coordinates.
        zero = torch.zeros(prior.dim, dtype=torch.float32)
        noise = super().run(zero, zero, frames, n_paths, generator, callback)
        mean = self.mean(noise.times, z0, z1).reshape(int(frames), -1)
        coloured = noise.latents.double() @ prior.factor.T + mean
        coloured[:, 0], coloured[:, -1] = z0.reshape(-1).double().cpu(), z1.reshape(-1).double().cpu()
        latents = coloured.to(torch.float32)
        latents[:, 0], latents[:, -1] = z0.reshape(-1).float().cpu(), z1.reshape(-1).float().cpu()
        return Paths(latents.reshape(int(n_paths), int(frames), *z0.shape).to(z0.device), noise.times,
                     {**noise.diagnostics, "prior": "gaussian"})

    def run_through(self, keys, frames_per_segment, n_paths=1, generator=None, loop=False, callback=None,
                    easing="linear") -> Paths:
        prior = self._gaussian_prior(keys[0].numel()) if isinstance(keys, torch.Tensor) and keys.dim() > 1 else None
        if prior is None:
            return super().run_through(keys, frames_per_segment, n_paths, generator, loop, callback, easing)
        # Under N(mu, L L^T) the process is mu + L times the standard one: whiten the keys, go
        # through them under the standard prior, colour back, and put the keys back exactly.
        flat = keys.detach().reshape(keys.shape[0], -1).to("cpu", torch.float64)
        white = torch.linalg.solve_triangular(prior.factor, (flat - prior.mean).T, upper=False).T
        standard = copy.copy(self)
        standard.prior = "standard-normal"
        run = standard.run_through(white.to(torch.float32), frames_per_segment, n_paths, generator, loop, callback,
                                   easing)
        latents = (run.latents.double() @ prior.factor.T + prior.mean).to(torch.float32)
        chain = torch.cat([flat, flat[:1]]) if loop else flat
        latents[:, run.diagnostics["key_frames"]] = chain.to(torch.float32)
        return Paths(latents.reshape(n_paths, -1, *keys.shape[1:]).to(keys.device), run.times,
                     {**run.diagnostics, "prior": "gaussian"})

    def _weights(self, times: torch.Tensor) -> torch.Tensor:
        """B(t) A^-1: the weights of (z0, z1) in the bridge mean, float64 ``(M, 2)``."""
        k_t = self.kernel(times)
        if self.is_loop:
            return torch.stack([k_t, torch.zeros_like(k_t)], dim=1)
        # In complements c = 1 - k, each accurate on its own: at tiny T every k is 1 to rounding,
        # and k(t) - k(T - t) k(T) would be rounding noise over rounding noise.
        c_t, c_rest = self.kernel.complement(times), self.kernel.complement(self.T - times)
        c_T = self.kernel.complement(torch.tensor(self.T, dtype=torch.float64))
        scale = c_T * (2.0 - c_T)  # 1 - k(T)^2
        return torch.stack([c_rest + c_T - c_rest * c_T - c_t, c_t + c_T - c_t * c_T - c_rest], dim=1) / scale

    def mean(self, times: torch.Tensor, z0: torch.Tensor, z1: torch.Tensor) -> torch.Tensor:
        """Bridge mean at ``times`` (float ``(M,)`` in [0, T]) for endpoints ``(*shape)``:
        float64 ``(M, *shape)``. eq. (7): (z0 (k(t) - k(T-t) k(T)) + z1 (k(T-t) - k(t) k(T)))
        / (1 - k(T)^2); in the loop case (k(T) = 1), k(t) z0. Under a Gaussian prior
        N(mu, Sigma) the same weights act on z - mu, and mu is added back."""
        times = torch.as_tensor(times, dtype=torch.float64)
        ends = torch.stack([z0.detach().reshape(-1), z1.detach().reshape(-1)]).to("cpu", torch.float64)
        prior = self._gaussian_prior(ends.shape[1])
        centre = prior.mean if prior is not None else torch.zeros(ends.shape[1], dtype=torch.float64)
        return (self._weights(times) @ (ends - centre) + centre).reshape(times.numel(), *z0.shape)

    def covariance(self, times: torch.Tensor) -> torch.Tensor:
        """Bridge covariance between ``times`` (float ``(M,)`` in [0, T]), the same for every
        coordinate: float64 ``(M, M)``, c(t, s) = k(t - s) - B(t) A^-1 B(s)^T (eq. 7). Under a
        Gaussian prior N(mu, Sigma) the covariance of the latents is c(t, s) Sigma."""
        times = torch.as_tensor(times, dtype=torch.float64)
        # Written in complements c = 1 - k (see _weights): every term stays accurate at tiny T,
        # where the covariance is far below the rounding of k itself.
        c = self.kernel.complement
        c_lag, c_t = c(times[:, None] - times[None, :]), c(times)
        if self.is_loop:  # k(t - s) - k(t) k(s)
            return c_t[:, None] + c_t[None, :] - c_t[:, None] * c_t[None, :] - c_lag
        c_rest, c_T = c(self.T - times), c(torch.tensor(self.T, dtype=torch.float64))
        weights = self._weights(times)
        # k(t - s) - w0(t) k(s) - w1(t) k(T - s), with 1 - w0 - w1 = (c(t) + c(T - t) - c(T)) / (2 - c(T))
        level = (c_t + c_rest - c_T) / (2.0 - c_T)
        return (level[:, None] - c_lag + weights[:, :1] * c_t[None, :] + weights[:, 1:] * c_rest[None, :])

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

    def _sample_paths(self, z0, z1, times, n_paths, generator, callback):
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
            return buffer, {}
        frame_map, info = self._frame_map(frames)
        return torch.matmul(frame_map, buffer), dict(info)

    # -- keyframes: the GP conditioned on every key at once (eq. 7 with K conditioning points)

    def _key_conditioning(self, key_times: torch.Tensor, values: torch.Tensor | None = None) -> list[int]:
        """The keys the process is conditioned on, by index into ``key_times`` (float64 ``(m,)``).

        A key at a lag from an earlier kept key where k = 1 (a multiple of a periodic
        kernel's period) is implied by it, since the process takes the same value at both
        times: it is left out, so the conditioning stays non-singular. With ``values`` (the
        keys, ``(m, n)``), an implied key that differs from its twin is an error."""
        kept: list[int] = []
        for j in range(key_times.numel()):
            lags = key_times[j] - key_times[kept]
            twins = [i for i, k in zip(kept, self.kernel(lags).tolist()) if 1.0 - k < _LOOP_TOLERANCE]
            if not twins:
                kept.append(j)
                continue
            if values is not None and not torch.equal(values[j], values[twins[0]]):
                raise ValueError(
                    f"with this kernel k = 1 between times {float(key_times[twins[0]]):g} and "
                    f"{float(key_times[j]):g} (their lag is a multiple of the period, or tiny against the "
                    f"length scale), so the path takes the same value at both: keys {twins[0] + 1} and "
                    f"{j + 1} (counting a loop's return to the first key) must be equal; change T, the "
                    "period or the length scale (a period of K T closes a loop through K keys)")
        return kept

    def _conditioned(self, times: torch.Tensor, key_times: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The GP at ``times`` (float64 ``(M,)``) given its values at ``key_times`` (``(m,)``,
        none of them implied by another): the mean weights B C^-1, float64 ``(M, m)``, and
        the covariance k(t - t') - B C^-1 B^T, ``(M, M)``, with C = [k(s_i - s_j)] and
        B = [k(t - s_j)]."""
        gram = self.kernel(key_times[:, None] - key_times[None, :])
        cross = self.kernel(times[:, None] - key_times[None, :])
        weights = torch.linalg.solve(gram, cross.T).T
        return weights, self.kernel(times[:, None] - times[None, :]) - weights @ cross.T

    def mean_through(self, times: torch.Tensor, keys: torch.Tensor, loop: bool = False) -> torch.Tensor:
        """Mean of the GP conditioned on every key (key j at time j T; with ``loop``,
        ``keys[0]`` again at K T) at ``times`` (float ``(M,)`` in [0, S T]): float64
        ``(M, *latent_shape)`` for keys ``(K, *latent_shape)``. B(t) C^-1 keys."""
        check_keys(keys)
        flat = keys.detach().reshape(keys.shape[0], -1).to("cpu", torch.float64)
        chain = torch.cat([flat, flat[:1]]) if loop else flat
        times = torch.as_tensor(times, dtype=torch.float64)
        key_times = self.T * torch.arange(chain.shape[0], dtype=torch.float64)
        kept = self._key_conditioning(key_times, chain)
        weights, _ = self._conditioned(times, key_times[kept])
        return (weights @ chain[kept]).reshape(times.numel(), *keys.shape[1:])

    def covariance_through(self, times: torch.Tensor, n_keys: int, loop: bool = False) -> torch.Tensor:
        """Covariance of the GP conditioned on ``n_keys`` keys (key j at time j T; with
        ``loop``, one more at K T) between ``times`` (float ``(M,)``), the same for every
        coordinate: float64 ``(M, M)``, k(t - t') - B(t) C^-1 B(t')^T."""
        n_keys = check_whole("n_keys", n_keys, 2)
        times = torch.as_tensor(times, dtype=torch.float64)
        key_times = self.T * torch.arange(n_keys + int(bool(loop)), dtype=torch.float64)
        return self._conditioned(times, key_times[self._key_conditioning(key_times)])[1]

    def _through_map(self, local: torch.Tensor, times: torch.Tensor, key_frames: torch.Tensor,
                     kept: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        """For the frames at ``times`` that are not keys (``free``, a boolean mask): the mean
        weights of the kept keys, float64 ``(M, len(kept))``, and the float32 factor ``(M, M)``
        of their covariance given the keys, with the factorisation's diagnostics. Cached per
        timeline (the last few), as ``_frame_map`` is per frame count."""
        key = (local.numpy().tobytes(), times.numel(), tuple(kept))
        if key not in self._through_maps:
            free = torch.ones(times.numel(), dtype=torch.bool)
            free[key_frames] = False
            weights, cov = self._conditioned(times[free], times[key_frames][kept])
            factor, info = _factorise(cov)
            if len(self._through_maps) >= _THROUGH_MAPS_KEPT:
                self._through_maps.pop(next(iter(self._through_maps)))
            self._through_maps[key] = (free, weights, factor.to(torch.float32), info)
        return self._through_maps[key]

    def _sample_through(self, chain, local, times, n_paths, generator, callback):
        frames = times.numel()
        if frames > MAX_JOINT_FRAMES:
            raise ValueError(
                f"{self.name} draws all frames through the keys jointly from a frames x frames "
                f"covariance, so a path may have at most {MAX_JOINT_FRAMES} frames; got {frames} (lower "
                "frames_per_segment or the number of keys, or use ou for longer paths)")
        key_frames = torch.arange(chain.shape[0]) * (local.numel() - 1)
        kept = self._key_conditioning(times[key_frames], chain)
        free, weights, factor, info = self._through_map(local, times, key_frames, kept)
        largest = float(weights.abs().max()) if weights.numel() else 0.0
        if largest > MAX_MEAN_WEIGHT and not bool((chain == chain[:1]).all()):
            raise ValueError(
                "the keys are nearly redundant for this kernel (two of them sit close to a lag where it "
                "returns to 1, a multiple of the period, or all are close in time against its time "
                f"scale), so the path through them swings far outside them (its mean weights reach "
                f"{largest:.3g}, more than {MAX_MEAN_WEIGHT:g}): change T (key j sits at j T = "
                f"{self.T:g} j) or the period; a period of K T suits a loop through K keys")
        # One float64 factorisation for every coordinate and path; the big tensors in float32.
        mean = (weights @ chain[kept].double()).to(torch.float32)
        noise = torch.randn((n_paths, int(free.sum()), chain.shape[1]), generator=generator, dtype=torch.float32)
        out = torch.empty((n_paths, frames, chain.shape[1]), dtype=torch.float32)
        out[:, free] = torch.matmul(factor, noise).add_(mean)
        diagnostics = dict(info)
        implied = sorted(set(range(chain.shape[0])) - set(kept))
        if implied:  # e.g. a loop's return to the first key under a periodic kernel of period K T
            diagnostics["implied_keys"] = implied
        return out, diagnostics


# Timelines whose keyframe factorisation a GP bridge keeps (a few MB each at hundreds of frames,
# 256 MB at the largest, MAX_JOINT_FRAMES).
_THROUGH_MAPS_KEPT = 4


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
    (time_param(0.5), prior_param()),
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

    def __init__(self, T: float = 0.5, prior: Any = "standard-normal"):
        super().__init__(Exponential(alpha=1.0, beta=1.0), T, prior)

    def params(self) -> dict[str, Any]:
        return {"T": self.T, "prior": self.prior}

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

    # Markov: given the keys, the segments are independent bridges, so the chain of exact
    # bridges is the joint conditioning (a test checks it against mean_through and
    # covariance_through), at O(M n K) instead of a factorisation of all frames.
    _sample_through = Sampler._sample_through

    def _sample_paths(self, z0, z1, times, n_paths, generator, callback):
        frames = times.numel()
        out = _noise_frames(z0, n_paths, frames, generator)
        end = z1.to(torch.float32)
        for i, (keep, pull, std) in enumerate(self._transitions(times).tolist(), start=1):
            out[:, i].mul_(std).add_(out[:, i - 1], alpha=keep).add_(end, alpha=pull)
        return out, {}


def _gp_params() -> tuple[Param, ...]:
    """The ``gp`` sampler's flat parameters, generated from the kernel table
    (``kernels.KERNELS``): T, the kernel's name, then each kernel parameter once (the first
    kernel's description of it), used (``Param.when``) only with the kernels that read it."""
    kernel = Param("kernel", "choice", "exponential", "covariance kernel: " + "; ".join(
        f"{k.name}: {k.formula}" for k in KERNELS.values()), choices=KERNEL_NAMES)
    flat: dict[str, Param] = {}
    users: dict[str, list[str]] = {}
    for named in KERNELS.values():
        for param in named.params:
            flat.setdefault(param.name, param)
            users.setdefault(param.name, []).append(named.name)
    return (time_param(2.0), kernel) + tuple(
        dataclasses.replace(param, when=("kernel", tuple(users[name]))) for name, param in flat.items()) + (
        prior_param(),)


GP_PARAMS = _gp_params()


@register(
    "gp",
    "Gaussian-process bridge with a chosen kernel (eq. 7): smooth, rough or periodic paths; "
    "with the periodic kernel and T = period a random walk loops back exactly.",
    GP_PARAMS,
)
class GPBridge(GaussianBridge):
    """GP bridge with any kernel: ``GPBridge(kernel=Periodic(1.0, 10.0), T=10.0)`` or from
    flat parameters ``GPBridge(kernel="periodic", length_scale=1.0, period=10.0, T=10.0)``.
    A flat parameter the chosen kernel does not use is an error (``kernels.kernel_from_params``)."""

    def __init__(self, T: float = 2.0, kernel: str | Kernel = "exponential", prior: Any = "standard-normal",
                 **kernel_params):
        if isinstance(kernel, Kernel):
            if kernel_params:
                raise ValueError(
                    "give the kernel either as a Kernel object or as flat parameters, not both; "
                    f"got a Kernel and {', '.join(sorted(kernel_params))}"
                )
            built = kernel
        else:
            built = kernel_from_params(GP_PARAMS[1].check(kernel), **kernel_params)
        super().__init__(built, T, prior)


def adjacent_correlation(sampler: Sampler, frames: int) -> float:
    """How alike consecutive frames' random parts are: the correlation of the bridge noise
    between interior frames i and i+1, pooled over all consecutive interior pairs,

        sum_i C[i, i+1] / sqrt(sum_i C[i, i] * sum_i C[i+1, i+1])

    from the closed-form covariance C. Pooling weights each pair by its variance, so the nearly
    pinned frames next to the endpoints (whose pairwise correlation is about 0.7 for any
    Brownian-like bridge) count little. 1.0 for deterministic samplers; close to 1 means a
    smooth video. Needs frames >= 4 (two interior frames) and a sampler with ``covariance``.
    """
    frames = check_whole("frames", frames, 4, why=" (two interior frames)")
    if not sampler.stochastic:
        return 1.0
    if not hasattr(sampler, "covariance"):
        raise ValueError(f"{sampler.name} has no closed-form covariance to correlate frames with")
    cov = sampler.covariance(sampler.times(frames)[1:-1])
    var = cov.diagonal()
    return float(cov.diagonal(1).sum() / (var[:-1].sum() * var[1:].sum()).sqrt())


# Adjacent frames whose random parts correlate at least this much (``adjacent_correlation``)
# look like motion rather than a slideshow.
SMOOTH_CORRELATION = 0.95


def frames_for_smooth_motion(sampler: Sampler, frames: int = 4, most: int = 2048) -> int | None:
    """The fewest frames, at least ``frames``, whose adjacent frames correlate at least
    ``SMOOTH_CORRELATION``; None if not even ``most`` frames do (a kernel too rough at any
    count). The correlation grows with the frame count, so a doubling search then a bisection
    find it in about 2 log2(answer / frames) closed-form evaluations, each of cost frames^2."""
    low = high = check_whole("frames", frames, 4, why=" (two interior frames)")
    while adjacent_correlation(sampler, high) < SMOOTH_CORRELATION:
        if high >= most:
            return None
        low, high = high, min(2 * high, most)
    while high - low > 1:  # invariant: low is too rough (or the start), high is smooth
        middle = (low + high) // 2
        low, high = (low, middle) if adjacent_correlation(sampler, middle) >= SMOOTH_CORRELATION else (middle, high)
    return high


# ---------------------------------------------------------------------------------------------
# Keyframes: shared checks and the timeline

EASINGS = ("linear", "smooth")


def check_easing(easing) -> str:
    """``easing`` if it is one of ``EASINGS``, else a ValueError listing them."""
    if not isinstance(easing, str) or easing not in EASINGS:
        raise ValueError(f"easing must be one of {', '.join(EASINGS)}; got {shown(easing)!r}")
    return easing


def check_keys(keys) -> None:
    """Raise a clear ValueError unless ``keys`` is a finite float tensor ``(K >= 2, *latent_shape)``."""
    if not isinstance(keys, torch.Tensor):
        raise ValueError(f"keys must be a torch tensor (K, *latent_shape), e.g. torch.stack of the "
                         f"latents; got {type(keys).__name__}")
    if keys.ndim < 2 or keys.shape[0] < 2:
        raise ValueError(f"keys must hold at least two latents, shape (K >= 2, *latent_shape); got shape "
                         f"{tuple(keys.shape)}")
    if keys[0].numel() == 0:
        raise ValueError("keys must not be empty")
    if not torch.isfinite(keys).all():
        raise ValueError("keys must be finite (no NaN or inf)")


def timeline(segment_times: torch.Tensor, segments: int, T: float) -> torch.Tensor:
    """The frame times of ``segments`` segments each at ``segment_times`` (float64 ``(f,)``
    from 0 to T): float64 ``(segments (f - 1) + 1,)``, key j exactly at j T."""
    starts = T * torch.arange(segments, dtype=torch.float64)
    inner = (starts[:, None] + segment_times[None, :-1]).reshape(-1)
    return torch.cat([inner, torch.tensor([segments * T], dtype=torch.float64)])


def _segment_callback(callback: Callback | None, segment: int, segments: int) -> Callback | None:
    """A segment's callback as one count over all segments (each reports the same total)."""
    if callback is None:
        return None
    return lambda done, total, message: callback(segment * total + done, segments * total,
                                                 f"segment {segment + 1} of {segments}: {message}")


def _segment_diagnostics(found: list[dict]) -> dict:
    """Per-segment diagnostics of a chain as one dict: ``segments`` (each segment's own,
    without its warnings) when any says something, and every warning, naming its segment."""
    warnings = [f"segment {j + 1}: {text}" for j, info in enumerate(found) for text in info.get("warnings", [])]
    own = [{key: value for key, value in info.items() if key != "warnings"} for info in found]
    diagnostics: dict = {"segments": own} if any(own) else {}
    if warnings:
        diagnostics["warnings"] = warnings
    return diagnostics
