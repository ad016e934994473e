"""Diagnostics along sampled latent paths: plain functions, numpy out.

Every function takes the paths as ``latents``: float ``(n_paths, frames, *latent_shape)`` (torch
or numpy) on the prior's scale, and returns float64 numpy arrays with one row per path.
``path_metrics`` assembles them; ``summarize`` turns them into a few JSON-able numbers.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = [
    "log_prior", "nearest_data_distance", "norm_ratio", "path_metrics", "ssim_adjacent",
    "step_length", "summarize",
]

# Bytes of pairwise distances computed at once by nearest_data_distance.
_DISTANCE_CHUNK_BYTES = 32 * 2**20
# skimage's default Gaussian-free SSIM window; smaller images get the largest odd side that fits.
_SSIM_WINDOW = 7


def _flat_paths(latents) -> torch.Tensor:
    """float64 ``(n_paths, frames, n)`` from ``(n_paths, frames, *latent_shape)``."""
    z = torch.as_tensor(latents).detach().to("cpu", torch.float64)
    if z.ndim < 3:
        raise ValueError(
            f"latents must have shape (n_paths, frames, *latent_shape); got {tuple(z.shape)}"
        )
    return z.reshape(z.shape[0], z.shape[1], -1)


def norm_ratio(latents) -> np.ndarray:
    """|z| / sqrt(n) per frame: float64 ``(n_paths, frames)``.

    Close to 1 on the sphere where an n-dimensional standard normal puts its mass; a linear
    path between two typical codes dips to about 1/sqrt(2) at its midpoint.
    """
    z = _flat_paths(latents)
    return (z.norm(dim=-1) / math.sqrt(z.shape[-1])).numpy()


def log_prior(latents, prior=None) -> np.ndarray:
    """Log prior density of each frame: float64 ``(n_paths, frames)``.

    prior: None for the standard normal, -|z|^2 / 2 - n log(2 pi) / 2; otherwise an object with
        ``log_prob(z)`` taking float ``(B, *latent_shape)`` and returning ``(B,)``.
    """
    if prior is None:
        z = _flat_paths(latents)
        n = z.shape[-1]
        return (-0.5 * (z * z).sum(-1) - 0.5 * n * math.log(2 * math.pi)).numpy()
    z = torch.as_tensor(latents).detach().to("cpu", torch.float32)
    n_paths, frames = z.shape[:2]
    values = prior.log_prob(z.reshape(n_paths * frames, *z.shape[2:]))
    return np.asarray(torch.as_tensor(values).detach().cpu(), dtype=np.float64).reshape(n_paths, frames)


def step_length(latents) -> np.ndarray:
    """Euclidean distance between consecutive frames' latents: float64 ``(n_paths, frames - 1)``."""
    z = _flat_paths(latents)
    return (z[:, 1:] - z[:, :-1]).norm(dim=-1).numpy()


def ssim_adjacent(frames: np.ndarray) -> np.ndarray:
    """SSIM between consecutive frames (1 = identical): float64 ``(n_paths, frames - 1)``.

    frames: uint8 ``(n_paths, frames, H, W, 3)``. scikit-image's SSIM with a 7-pixel window
    (the largest odd window that fits for smaller images), averaged over colour channels.
    """
    from skimage.metrics import structural_similarity

    frames = np.asarray(frames)
    if frames.ndim != 5 or frames.dtype != np.uint8:
        raise ValueError(
            f"frames must be uint8 (n_paths, frames, H, W, C); got {frames.dtype} {frames.shape}"
        )
    side = min(frames.shape[2:4])
    window = min(_SSIM_WINDOW, side if side % 2 else side - 1)
    if window < 3:
        raise ValueError(f"frames must be at least 3 x 3 pixels for SSIM; got {frames.shape[2:4]}")
    out = np.empty((frames.shape[0], frames.shape[1] - 1))
    for p, path in enumerate(frames):
        for i in range(len(path) - 1):
            out[p, i] = structural_similarity(path[i], path[i + 1], channel_axis=-1,
                                              data_range=255, win_size=window)
    return out


def nearest_data_distance(latents, data_latents) -> np.ndarray:
    """Distance from each frame's latent to the nearest encoded data point:
    float64 ``(n_paths, frames)``.

    data_latents: float ``(N, *latent_shape)``, e.g. ``vae.training_latents()``. Computed in
    chunks of frames so memory stays bounded for large N.
    """
    z = _flat_paths(latents)
    data = torch.as_tensor(data_latents).detach().to("cpu", torch.float64).reshape(len(data_latents), -1)
    if data.shape[0] == 0 or data.shape[1] != z.shape[-1]:
        raise ValueError(
            f"data_latents must have shape (N >= 1, {z.shape[-1]} values per code); "
            f"got {tuple(torch.as_tensor(data_latents).shape)}"
        )
    queries = z.reshape(-1, z.shape[-1])
    chunk = max(1, _DISTANCE_CHUNK_BYTES // (8 * data.shape[0]))
    # No matrix-multiply shortcut: |a|^2 + |b|^2 - 2ab cancels badly for nearby points.
    nearest = torch.cat([
        torch.cdist(queries[i:i + chunk], data, compute_mode="donot_use_mm_for_euclid_dist").amin(dim=1)
        for i in range(0, queries.shape[0], chunk)
    ])
    return nearest.reshape(z.shape[:2]).numpy()


def path_metrics(latents, frames: np.ndarray | None = None, data_latents=None, prior=None) -> dict[str, np.ndarray]:
    """All diagnostics for one set of paths, float64 arrays by name.

    Always ``norm_ratio``, ``log_prior`` (n_paths, frames) and ``step_length``
    (n_paths, frames - 1); ``ssim`` (n_paths, frames - 1) when decoded ``frames`` are given;
    ``nearest_data_distance`` (n_paths, frames) when ``data_latents`` are given.
    """
    metrics = {
        "norm_ratio": norm_ratio(latents),
        "log_prior": log_prior(latents, prior),
        "step_length": step_length(latents),
    }
    if frames is not None:
        metrics["ssim"] = ssim_adjacent(frames)
    if data_latents is not None:
        metrics["nearest_data_distance"] = nearest_data_distance(latents, data_latents)
    return metrics


def summarize(metrics: dict[str, np.ndarray]) -> dict[str, float]:
    """A few plain floats per metric for diagnostics: ``<name>_mean``, ``_min`` and ``_max``
    over all paths and frames."""
    summary = {}
    for name, values in metrics.items():
        values = np.asarray(values)
        if values.size:
            summary[f"{name}_mean"] = float(values.mean())
            summary[f"{name}_min"] = float(values.min())
            summary[f"{name}_max"] = float(values.max())
    return summary
