"""Priors over latents: an energy E(z) = -log p(z) + const, its gradient, and log p(z).

The Langevin bridge (``latent_bridge.sde``) needs only ``grad_energy``; path metrics use
``log_prob``. Every method takes a batch ``z: float (B, *latent_shape)`` (float32 or float64;
the trailing dimensions flatten to the prior's dimension n) and computes in z's dtype::

    prior = GaussianMixture.fit(latents, components=8)   # latents: (N, *latent_shape)
    prior.energy(z)        # (B,)
    prior.grad_energy(z)   # (B, *latent_shape), same dtype as z
    prior.log_prob(z)      # (B,)
    prior = for_model(vae, kind="mixture")              # fitted to vae.training_latents(), cached

Priors sit below the models in the data flow: ``for_model`` takes a model object and asks it
for its encoded training data; it never imports ``latent_bridge.models``.
"""

from __future__ import annotations

import math
import threading
import weakref
from typing import Any

import torch

from .checks import check_whole, shown

__all__ = ["Prior", "StandardNormal", "DiagonalGaussian", "Gaussian", "GaussianMixture", "Independent",
           "FITTED_KINDS", "fit", "for_model"]

# Smallest standard deviation a fitted prior may have: a coordinate the encoder (nearly) never
# varies would otherwise give an energy so steep that no integrator step is small enough.
_MIN_STD = 1e-3

_LOG_2PI = math.log(2.0 * math.pi)


def _flat(z: torch.Tensor, dim: int | None) -> torch.Tensor:
    """``z`` (B, *latent_shape) as (B, n), checking n against the prior's dimension."""
    if not isinstance(z, torch.Tensor) or not z.is_floating_point():
        raise ValueError("z must be a floating-point torch tensor of shape (batch, *latent_shape)")
    if z.dim() < 2:
        raise ValueError(f"z must have a batch dimension first, (batch, *latent_shape); got shape {tuple(z.shape)}")
    flat = z.reshape(z.shape[0], -1)
    if dim is not None and flat.shape[1] != dim:
        raise ValueError(f"this prior is {dim}-dimensional; got latents of {flat.shape[1]} values "
                         f"(shape {tuple(z.shape[1:])})")
    return flat


class Prior:
    """A density p(z) proportional to exp(-E(z)) on R^n. Subclasses implement ``_energy``,
    ``_grad`` and ``_log_normaliser`` on flat (B, n) tensors."""

    dim: int | None = None

    def energy(self, z: torch.Tensor) -> torch.Tensor:
        """E(z) = -log p(z) up to a constant: (B,) in z's dtype, for z (B, *latent_shape)."""
        return self._energy(_flat(z, self.dim))

    def grad_energy(self, z: torch.Tensor) -> torch.Tensor:
        """grad E(z) = -grad log p(z): the same shape and dtype as z (B, *latent_shape)."""
        return self._grad(_flat(z, self.dim)).reshape(z.shape)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z), normalised: (B,) in z's dtype, for z (B, *latent_shape)."""
        flat = _flat(z, self.dim)
        return -self._energy(flat) - self._log_normaliser(flat.shape[1])

    def _energy(self, z):  # pragma: no cover - abstract
        raise NotImplementedError

    def _grad(self, z):  # pragma: no cover - abstract
        raise NotImplementedError

    def _log_normaliser(self, n: int) -> float:  # pragma: no cover - abstract
        raise NotImplementedError


class StandardNormal(Prior):
    """N(0, I) in any dimension: E(z) = |z|^2 / 2, grad E(z) = z. Its Langevin diffusion is the
    OU process, so the Langevin bridge of this prior is the OU bridge (eq. 4)."""

    def _energy(self, z):
        return 0.5 * (z * z).sum(1)

    def _grad(self, z):
        return z.clone()

    # Its energy is a sum over coordinates (path samplers move each coordinate on its own).
    separable = True

    def linearised_drift(self, z):
        """-grad E(z) = -D (z - c) with D = 1, c = 0: ``(B, n)`` each."""
        return torch.ones_like(z), torch.zeros_like(z)

    def _log_normaliser(self, n):
        return 0.5 * n * _LOG_2PI

    def __repr__(self):
        return "StandardNormal()"


def _positive(values: torch.Tensor, name: str) -> torch.Tensor:
    if not torch.isfinite(values).all() or (values <= 0).any():
        raise ValueError(f"{name} must be finite and > 0; got minimum {float(values.min()):g}")
    return values


def _as_float64(value, name: str) -> torch.Tensor:
    tensor = torch.as_tensor(value, dtype=torch.float64).detach().cpu()
    if not torch.isfinite(tensor).all():
        raise ValueError(f"{name} must be finite")
    return tensor


def _training_matrix(latents) -> torch.Tensor:
    """Encoded data (N, *latent_shape) as float64 (N, n), with N >= 2 finite rows."""
    data = _as_float64(latents, "latents")
    if data.dim() < 2 or data.shape[0] < 2:
        raise ValueError(f"latents must be (N, *latent_shape) with N >= 2; got shape {tuple(data.shape)}")
    return data.reshape(data.shape[0], -1)


class DiagonalGaussian(Prior):
    """N(mean, diag(std^2)): E(z) = sum((z - mean)^2 / (2 std^2)).

    mean, std: float (n,) (or any shape with n values: they are flattened); std > 0."""

    def __init__(self, mean, std):
        mean, std = _as_float64(mean, "mean").reshape(-1), _as_float64(std, "std").reshape(-1)
        if mean.shape != std.shape:
            raise ValueError(f"mean and std must have the same number of values; got {mean.numel()} and {std.numel()}")
        self.mean, self.std = mean, _positive(std, "std")
        self.dim = mean.numel()

    @classmethod
    def fit(cls, latents) -> "DiagonalGaussian":
        """Per-coordinate mean and standard deviation of ``latents`` (N, *latent_shape), N >= 2."""
        data = _training_matrix(latents)
        return cls(data.mean(0), data.std(0).clamp(min=_MIN_STD))

    def _energy(self, z):
        u = (z - self.mean.to(z.dtype)) / self.std.to(z.dtype)
        return 0.5 * (u * u).sum(1)

    def _grad(self, z):
        return (z - self.mean.to(z.dtype)) / self.std.to(z.dtype) ** 2

    separable = True

    def linearised_drift(self, z):
        """-grad E(z) = -D (z - c) with D = 1 / std^2, c = mean: ``(B, n)`` each."""
        return (self.std.to(z.dtype) ** -2).expand_as(z), self.mean.to(z.dtype).expand_as(z)

    def _log_normaliser(self, n):
        return 0.5 * n * _LOG_2PI + float(self.std.log().sum())

    def __repr__(self):
        return f"DiagonalGaussian(dim={self.dim})"


class Gaussian(Prior):
    """N(mean, covariance) with a full covariance: the law of a VAE's encoded data when its
    codes are correlated and off-centre (the standard normal is N(0, I)).

    mean: float (n,); covariance: float (n, n), symmetric positive definite. ``factor`` is its
    lower Cholesky factor L (covariance = L L^T), which colours standard normal noise.
    E(z) = |L^-1 (z - mean)|^2 / 2."""

    def __init__(self, mean, covariance):
        mean = _as_float64(mean, "mean").reshape(-1)
        covariance = _as_float64(covariance, "covariance")
        n = mean.numel()
        if covariance.shape != (n, n):
            raise ValueError(f"covariance must be (n, n) for a mean of n = {n} values; got {tuple(covariance.shape)}")
        factor, status = torch.linalg.cholesky_ex(0.5 * (covariance + covariance.T))
        if int(status) != 0:
            raise ValueError("covariance must be symmetric positive definite")
        self.mean, self.covariance, self.factor, self.dim = mean, covariance, factor, n

    @classmethod
    def fit(cls, latents) -> "Gaussian":
        """The mean and covariance of ``latents`` (N, *latent_shape), N >= 2, with every
        variance at least ``_MIN_STD``^2 added on the diagonal (see there)."""
        data = _training_matrix(latents)
        centred = data - data.mean(0)
        covariance = centred.T @ centred / (data.shape[0] - 1)
        return cls(data.mean(0), covariance + _MIN_STD ** 2 * torch.eye(data.shape[1], dtype=torch.float64))

    def _whitened(self, z):
        return torch.linalg.solve_triangular(self.factor.to(z.dtype), (z - self.mean.to(z.dtype)).T, upper=False).T

    def _energy(self, z):
        u = self._whitened(z)
        return 0.5 * (u * u).sum(1)

    def _grad(self, z):
        # Sigma^-1 (z - mean) = L^-T L^-1 (z - mean)
        return torch.linalg.solve_triangular(self.factor.to(z.dtype).T, self._whitened(z).T, upper=True).T

    def _log_normaliser(self, n):
        return 0.5 * n * _LOG_2PI + float(self.factor.diagonal().log().sum())

    def __repr__(self):
        return f"Gaussian(dim={self.dim})"


class GaussianMixture(Prior):
    """sum_k weights_k N(means_k, diag(scales_k^2)): a mixture of K diagonal Gaussians.

    weights: (K,) > 0 summing to 1; means, scales: (K, n); scales > 0. Here E(z) = -log p(z)
    exactly, and grad E(z) = sum_k gamma_k(z) (z - means_k) / scales_k^2 with gamma_k the
    posterior responsibilities. Cost O(B K n) as two matrix products; no (B, K, n) tensor.
    """

    def __init__(self, weights, means, scales):
        weights = _as_float64(weights, "weights").reshape(-1)
        means, scales = _as_float64(means, "means"), _as_float64(scales, "scales")
        k = weights.numel()
        if k == 0 or means.dim() != 2 or means.shape[0] != k or scales.shape != means.shape:
            raise ValueError(f"weights must be (K,), means and scales (K, n) with the same K; got shapes "
                             f"{tuple(weights.shape)}, {tuple(means.shape)}, {tuple(scales.shape)}")
        if (weights <= 0).any() or abs(float(weights.sum()) - 1.0) > 1e-6:
            raise ValueError(f"weights must be > 0 and sum to 1; got {weights.tolist()}")
        self.weights, self.means, self.scales = weights, means, _positive(scales, "scales")
        self.dim = means.shape[1]
        precision = scales ** -2
        # Per component: log weight - sum log std - |mean / std|^2 / 2 (the z-free part).
        self._offset = weights.log() - scales.log().sum(1) - 0.5 * (means * means * precision).sum(1)
        self._precision = precision                    # (K, n)
        self._scaled_means = means * precision          # (K, n)

    @classmethod
    def fit(cls, latents, components: int = 8, seed: int = 0) -> "GaussianMixture":
        """Fit K = ``components`` diagonal Gaussians to ``latents`` (N, *latent_shape) by EM
        (scikit-learn, k-means initialisation, ``seed`` fixes it). Needs N >= components."""
        from sklearn.mixture import GaussianMixture as SkMixture
        from threadpoolctl import threadpool_limits

        check_whole("components", components, 1)
        data = _training_matrix(latents)
        if data.shape[0] < components:
            raise ValueError(f"components must be <= the number of latents ({data.shape[0]}); got {components}")
        # reg_covar keeps every variance >= _MIN_STD^2 (see there). One BLAS/OpenMP thread:
        # the matrices are small, and on a busy machine threads spinning for cores made the
        # fit 100x slower (10 s instead of 0.1 s for 5000 x 64).
        with threadpool_limits(1):
            model = SkMixture(components, covariance_type="diag", reg_covar=_MIN_STD ** 2, random_state=seed,
                              n_init=1, max_iter=200).fit(data.numpy())
        weights = torch.from_numpy(model.weights_)
        return cls(weights / weights.sum(), torch.from_numpy(model.means_), torch.from_numpy(model.covariances_).sqrt())

    def _component_logits(self, z):
        """log(weight_k N(z; mean_k, diag scales_k^2)) + n log(2 pi) / 2: (B, K)."""
        dtype = z.dtype
        return (self._offset.to(dtype) - 0.5 * (z * z) @ self._precision.to(dtype).T
                + z @ self._scaled_means.to(dtype).T)

    def _energy(self, z):
        return -torch.logsumexp(self._component_logits(z), dim=1)

    def _grad(self, z):
        dtype = z.dtype
        logits = self._component_logits(z)
        # Responsibilities by hand: torch.softmax over a short last axis is several times slower.
        responsibilities = (logits - logits.amax(1, keepdim=True)).exp()
        responsibilities = responsibilities / responsibilities.sum(1, keepdim=True)  # (B, K)
        return z * (responsibilities @ self._precision.to(dtype)) - responsibilities @ self._scaled_means.to(dtype)

    def linearised_drift(self, z):
        """-grad E(z) = -D (z - c) exactly, with D = sum_k gamma_k / scales_k^2 (the
        responsibility-weighted precision, > 0: the curvature of the component z is in) and
        c = sum_k gamma_k means_k / scales_k^2 / D. z: ``(B, n)``; returns (D, c) ``(B, n)``."""
        dtype = z.dtype
        logits = self._component_logits(z)
        responsibilities = (logits - logits.amax(1, keepdim=True)).exp()
        responsibilities = responsibilities / responsibilities.sum(1, keepdim=True)
        rate = responsibilities @ self._precision.to(dtype)
        return rate, (responsibilities @ self._scaled_means.to(dtype)) / rate

    def _log_normaliser(self, n):
        return 0.5 * n * _LOG_2PI

    def __repr__(self):
        return f"GaussianMixture(components={self.weights.numel()}, dim={self.dim})"


class Independent(Prior):
    """``dim`` independent coordinates, each with the 1-D prior ``factor`` (a ``Prior`` of
    dimension 1, e.g. a two-well mixture): E(z) = sum_i E_1(z_i). Its Langevin diffusion is a
    product of 1-D ones, and so is its bridge."""

    separable = True

    def __init__(self, factor: Prior, dim: int):
        if not isinstance(factor, Prior) or factor.dim != 1:
            raise ValueError(f"factor must be a 1-dimensional prior (lb.priors); got {factor!r}")
        self.factor, self.dim = factor, check_whole("dim", dim, 1)

    def _energy(self, z):
        return self.factor.energy(z.reshape(-1, 1)).reshape(z.shape).sum(1)

    def _grad(self, z):
        return self.factor.grad_energy(z.reshape(-1, 1)).reshape(z.shape)

    def _log_normaliser(self, n):
        return n * self.factor._log_normaliser(1)

    def linearised_drift(self, z):
        """The factor's (D, c) coordinate by coordinate (``GaussianMixture.linearised_drift``)."""
        rate, centre = self.factor.linearised_drift(z.reshape(-1, 1))
        return rate.reshape(z.shape), centre.reshape(z.shape)

    def __repr__(self):
        return f"Independent({self.factor!r}, dim={self.dim})"


FITTED_KINDS = ("diagonal", "mixture", "gaussian")


def fit(latents, kind: str = "mixture", components: int = 8) -> Prior:
    """A prior fitted to encoded data ``latents`` (N, *latent_shape): ``"mixture"``
    (``components`` diagonal Gaussians, ``GaussianMixture.fit``), ``"diagonal"`` or
    ``"gaussian"`` (full covariance, ``Gaussian.fit``)."""
    if kind not in FITTED_KINDS:
        raise ValueError(f"kind must be one of {', '.join(FITTED_KINDS)}; got {shown(kind)!r}")
    if kind == "diagonal":
        return DiagonalGaussian.fit(latents)
    if kind == "gaussian":
        return Gaussian.fit(latents)
    return GaussianMixture.fit(latents, components=components)


# Fits per model object, so a model's prior is fitted once however many runs use it (and goes
# with the model when the model cache lets it go).
_FITTED: "weakref.WeakKeyDictionary[Any, dict[tuple, Prior]]" = weakref.WeakKeyDictionary()
_FITTED_LOCK = threading.Lock()


def for_model(vae, kind: str = "mixture", components: int = 8) -> Prior:
    """A prior fitted to a model's encoded training data, ``vae.training_latents()`` (its
    aggregate posterior): ``fit(latents, kind, components)``, cached per model object.

    Only models that ship encoded data have one (the embedded ``digits``, ``fashion`` and
    ``poses``); for others a ValueError says to use the standard-normal prior."""
    check_whole("components", components, 1)
    if kind not in FITTED_KINDS:
        raise ValueError(f"kind must be one of {', '.join(FITTED_KINDS)}; got {shown(kind)!r}")
    if not callable(getattr(vae, "training_latents", None)):
        raise ValueError(f"for_model needs a VAE (lb.models.load); got {type(vae).__name__}")
    key = (kind, components if kind == "mixture" else 0)
    with _FITTED_LOCK:
        known = _FITTED.setdefault(vae, {})
        if key in known:
            return known[key]
    latents = vae.training_latents()
    if latents is None:
        raise ValueError(f"model {getattr(vae, 'name', type(vae).__name__)!r} ships no encoded training data, "
                         "which a fitted prior is fitted to (the embedded models digits, fashion and poses do): "
                         "use the standard-normal prior for this model")
    prior = fit(latents, kind, components)
    with _FITTED_LOCK:
        return _FITTED.setdefault(vae, {}).setdefault(key, prior)
