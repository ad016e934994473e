"""Priors over latents: an energy E(z) = -log p(z) + const, its gradient, and log p(z).

The Langevin bridge (``latent_bridge.sde``) needs only ``grad_energy``; path metrics use
``log_prob``. Every method takes a batch ``z: float (B, *latent_shape)`` (float32 or float64;
the trailing dimensions flatten to the prior's dimension n) and computes in z's dtype::

    prior = GaussianMixture.fit(latents, components=8)   # latents: (N, *latent_shape)
    prior.energy(z)        # (B,)
    prior.grad_energy(z)   # (B, *latent_shape), same dtype as z
    prior.log_prob(z)      # (B,)
    prior = for_model("poses", kind="mixture")          # fitted to poses' latents.safetensors

Priors sit below the models in the data flow: ``for_model`` reads the encoded training data
straight from the checkpoint folder (``latent_bridge.checkpoints``) and never imports
``latent_bridge.models``.
"""

from __future__ import annotations

import functools
import math

import torch

from .checkpoints import CHECKPOINTS_DIR

__all__ = [
    "Prior", "StandardNormal", "DiagonalGaussian", "GaussianMixture", "PRIOR_KINDS", "for_model",
    "models_with_latents",
]

LATENTS_FILE = "latents.safetensors"

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

    def _log_normaliser(self, n):
        return 0.5 * n * _LOG_2PI + float(self.std.log().sum())

    def __repr__(self):
        return f"DiagonalGaussian(dim={self.dim})"


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

        if isinstance(components, bool) or not isinstance(components, int) or components < 1:
            raise ValueError(f"components must be a whole number >= 1; got {components!r}")
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
        responsibilities /= responsibilities.sum(1, keepdim=True)                  # (B, K)
        return z * (responsibilities @ self._precision.to(dtype)) - responsibilities @ self._scaled_means.to(dtype)

    def _log_normaliser(self, n):
        return 0.5 * n * _LOG_2PI

    def __repr__(self):
        return f"GaussianMixture(components={self.weights.numel()}, dim={self.dim})"


PRIOR_KINDS = ("diagonal", "mixture")


def models_with_latents() -> list[str]:
    """Names of the embedded checkpoints that ship encoded training data (``NAME/latents.safetensors``)."""
    if not CHECKPOINTS_DIR.is_dir():
        return []
    return sorted(p.parent.name for p in CHECKPOINTS_DIR.glob(f"*/{LATENTS_FILE}"))


def for_model(name: str, kind: str = "mixture", components: int = 8) -> Prior:
    """A prior fitted to a shipped model's encoded training data (its aggregate posterior).

    name: an embedded model (``digits``, ``fashion``, ``poses``: a folder of
    ``latent_bridge/checkpoints/`` holding ``latents.safetensors``); kind: ``"mixture"``
    (``components`` diagonal Gaussians) or ``"diagonal"``. The fit is deterministic and cached
    per (name, kind, components).
    """
    if kind not in PRIOR_KINDS:
        raise ValueError(f"kind must be one of {', '.join(PRIOR_KINDS)}; got {kind!r}")
    if isinstance(components, bool) or not isinstance(components, int) or components < 1:
        raise ValueError(f"components must be a whole number >= 1; got {components!r}")
    if not isinstance(name, str) or not name or "/" in name or "\\" in name or name.startswith("."):
        available = ", ".join(models_with_latents()) or "none"
        raise ValueError(f"no encoded training data for model {name!r}: fitted priors exist only for the "
                         f"embedded models that ship {LATENTS_FILE} ({available}); "
                         "use the standard-normal prior for other models")
    return _fitted(name, kind, components if kind == "mixture" else 0)


@functools.lru_cache(maxsize=16)
def _fitted(name: str, kind: str, components: int) -> Prior:
    from safetensors.torch import load_file

    path = CHECKPOINTS_DIR / name / LATENTS_FILE
    if not path.is_file():
        available = ", ".join(models_with_latents()) or "none"
        raise ValueError(f"no encoded training data for model {name!r} (its checkpoint has no "
                         f"{LATENTS_FILE}); models that have it: {available}. Retrain the checkpoint with "
                         "`python -m latent_bridge.train NAME`, or use the standard-normal prior")
    tensors = load_file(str(path))
    if "latents" not in tensors:
        raise ValueError(f"{name}/{LATENTS_FILE} has no 'latents' tensor; it holds {sorted(tensors)}")
    latents = tensors["latents"]
    if kind == "diagonal":
        return DiagonalGaussian.fit(latents)
    return GaussianMixture.fit(latents, components=components)
