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
    "log_prior", "nearest_data_distance", "norm_ratio", "path_metrics", "rounded", "ssim_adjacent",
    "step_length", "summarize", "velocity_jump",
]

# Bytes of pairwise distances computed at once by nearest_data_distance.
_DISTANCE_CHUNK_BYTES = 32 * 2**20
# skimage's default Gaussian-free SSIM window; smaller images get the largest odd side that fits.
_SSIM_WINDOW = 7
# Bytes of float64 intermediates the batched SSIM holds at once.
_SSIM_CHUNK_BYTES = 64 * 2**20


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


def velocity_jump(latents, times) -> np.ndarray:
    """How sharply a path turns at each interior frame: the jump of the finite-difference
    velocity there, |(z_{i+1} - z_i) / dt_i - (z_i - z_{i-1}) / dt_{i-1}| / sqrt(n) (root mean
    square over the n coordinates): float64 ``(n_paths, frames - 2)``, entry i - 1 for frame i.

    times: float ``(frames,)``, strictly increasing (a held frame repeats its time: drop the
    holds first). A smooth path has jumps of order dt everywhere; a chain of bridges or of
    straight lines has a kink at every key, a jump of order 1.
    """
    z = _flat_paths(latents)
    times = torch.as_tensor(np.asarray(times), dtype=torch.float64)
    if times.ndim != 1 or times.numel() != z.shape[1] or not bool((torch.diff(times) > 0).all()):
        raise ValueError(f"times must be strictly increasing, one per frame ({z.shape[1]}); got "
                         f"{tuple(times.shape)}")
    velocity = torch.diff(z, dim=1) / torch.diff(times)[None, :, None]
    return (torch.diff(velocity, dim=1).norm(dim=-1) / math.sqrt(z.shape[-1])).numpy()


def _box_mean(images: torch.Tensor, window: int) -> torch.Tensor:
    """Mean over every ``window`` x ``window`` square lying inside the image (no padding):
    ``(B, C, H, W)`` -> ``(B, C, H - window + 1, W - window + 1)``. Running sums along each
    axis: about 3x faster than ``avg_pool2d`` on float64, equal to ~1e-15 relative."""
    rows = torch.nn.functional.pad(images.cumsum(2), (0, 0, 1, 0))
    rows = rows[:, :, window:] - rows[:, :, :-window]
    cols = torch.nn.functional.pad(rows.cumsum(3), (1, 0))
    return (cols[..., window:] - cols[..., :-window]) / window**2


def _ssim_pairs(x: torch.Tensor, y: torch.Tensor, window: int) -> torch.Tensor:
    """Mean SSIM of image pairs: float64 ``(B, C, H, W)`` in [0, 255] -> ``(B,)``.

    scikit-image's ``structural_similarity`` (uniform window, sample covariance, K1 = 0.01,
    K2 = 0.03, mean over the pixels at least ``window // 2`` from the border, then over
    channels) for a whole batch: a box filter without padding yields exactly the pixels
    scikit-image keeps after cropping.
    """
    cov_norm = window**2 / (window**2 - 1)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    ux, uy, uxx, uyy, uxy = _box_mean(torch.cat([x, y, x * x, y * y, x * y], dim=1), window).chunk(5, dim=1)
    vx = cov_norm * (uxx - ux * ux)
    vy = cov_norm * (uyy - uy * uy)
    vxy = cov_norm * (uxy - ux * uy)
    ssim = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return ssim.mean(dim=(2, 3)).mean(dim=1)


def ssim_adjacent(frames: np.ndarray) -> np.ndarray:
    """SSIM between consecutive frames (1 = identical): float64 ``(n_paths, frames - 1)``.

    frames: uint8 ``(n_paths, frames, H, W, C)``. The value of scikit-image's
    ``structural_similarity(a, b, channel_axis=-1, data_range=255, win_size=7)`` (the largest
    odd window that fits for smaller images), computed for many pairs at once in chunks. For
    gray frames repeated to RGB, pass one channel (``frames[..., :1]``): same value, 3x faster.
    """
    frames = np.asarray(frames)
    if frames.ndim != 5 or frames.dtype != np.uint8:
        raise ValueError(
            f"frames must be uint8 (n_paths, frames, H, W, C); got {frames.dtype} {frames.shape}"
        )
    side = min(frames.shape[2:4])
    window = min(_SSIM_WINDOW, side if side % 2 else side - 1)
    if window < 3:
        raise ValueError(f"frames must be at least 3 x 3 pixels for SSIM; got {frames.shape[2:4]}")
    n_paths, count, height, width, channels = frames.shape
    # ~12 float64 images alive per pair inside _ssim_pairs.
    chunk = max(1, _SSIM_CHUNK_BYTES // (12 * 8 * height * width * channels))
    out = np.empty((n_paths, max(count - 1, 0)))
    for p in range(n_paths):
        path = torch.from_numpy(frames[p]).permute(0, 3, 1, 2)
        for start in range(0, count - 1, chunk):
            stop = min(start + chunk, count - 1)
            x = path[start:stop].double()
            y = path[start + 1:stop + 1].double()
            out[p, start:stop] = _ssim_pairs(x, y, window).numpy()
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
    data32 = data.float()
    data_sq = (data32 * data32).sum(1)
    chunk = max(1, _DISTANCE_CHUNK_BYTES // (4 * data.shape[0]))
    nearest = torch.empty(queries.shape[0], dtype=torch.float64)
    for i in range(0, queries.shape[0], chunk):
        q = queries[i:i + chunk]
        # Choose the nearest point from |d|^2 - 2 q.d (|q - d|^2 less |q|^2) by one float32
        # matrix product; it can only confuse points whose distances agree to float32
        # rounding. That form cancels badly for nearby points, so the distance to the chosen
        # point is then computed directly in float64.
        index = (data_sq[None] - 2 * q.float() @ data32.T).argmin(dim=1)
        nearest[i:i + chunk] = (q - data[index]).norm(dim=1)
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


def rounded(value, digits: int = 4):
    """``value`` (diagnostics: nested dicts and lists of numbers and text) with every float
    rounded to ``digits`` significant digits, for display; other values as they are."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}")
    if isinstance(value, dict):
        return {key: rounded(item, digits) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(item, digits) for item in value]
    return value
