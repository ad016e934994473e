"""Plots of sampled paths: norm profile, log prior, path metrics, the 2-D latent map.

Every function takes a pipeline ``Result`` or ``{method name: Result}`` (reading ``latents``,
``times``, ``method``, ``model``, ``params``, ``metrics``, ``data_latents``, ``vae``) and
returns a matplotlib ``Figure``, drawn with the object API and never pyplot's global state, so
threads of the app can draw at once; ``save_figure`` writes one as PNG. Times are shown as
t / T in [0, 1]; latents of shape ``(n_paths, frames, *latent_shape)`` have ``n`` values each.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from .data.images import to_uint8

__all__ = ["latent_map_plot", "log_prior_plot", "metrics_plot", "norm_profile_plot", "save_figure"]


def _as_dict(result_or_dict) -> dict:
    """``{method name: Result}`` from one Result, or the given such dict once checked: not
    empty, and every result with the same number of frames."""
    if not isinstance(result_or_dict, dict):
        return {result_or_dict.method: result_or_dict}
    if not result_or_dict:
        raise ValueError("results must be a non-empty dict {method name: Result}")
    counts = {name: result.n_frames for name, result in result_or_dict.items()}
    if len(set(counts.values())) != 1:
        raise ValueError(f"every result must have the same number of frames; got {counts}")
    return result_or_dict


def _unit_times(result) -> np.ndarray:
    """float64 ``(frames,)``: the result's frame times as t / T in [0, 1]."""
    times = np.asarray(result.times, dtype=np.float64)
    span = times[-1] - times[0]
    return (times - times[0]) / span if span > 0 else np.linspace(0, 1, len(times))


def _per_method_plot(results: dict, key: str, ax, ylabel: str, title: str, legend: bool = True) -> None:
    """``metrics[key]`` against t / T, each method in its own colour: every path thin, the mean
    over paths thick; then the axes' labels, title and (with ``legend``) legend."""
    colours = [f"C{i % 10}" for i in range(len(results))]
    for (name, result), colour in zip(results.items(), colours):
        values = np.asarray(result.metrics[key], dtype=np.float64)
        u = _unit_times(result)
        if values.shape[1] == len(u) - 1:  # a value per step (frame pair): at the step's middle
            u = 0.5 * (u[1:] + u[:-1])
        # Deterministic methods give identical paths: one line says it.
        several = values.shape[0] > 1 and not np.allclose(values, values[:1])
        if several:
            for row in values:
                ax.plot(u, row, color=colour, linewidth=0.7, alpha=0.35)
        ax.plot(u, values.mean(axis=0), color=colour, linewidth=2.0,
                label=f"{name} (mean of {values.shape[0]} paths)" if several else name)
    ax.set_xlabel("t / T")
    ax.set_ylabel(ylabel)
    ax.set_xlim(0, 1)
    ax.set_title(title)
    if legend:  # beside the axes, never over a curve (the constrained layout makes room)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    ax.grid(alpha=0.3)


def _data_norm_band(results: dict) -> tuple[float, float] | None:
    """The 5th and 95th percentiles of |z| / sqrt(n) over the encoded data of the first result
    that has any; None when none has."""
    for result in results.values():
        data = getattr(result, "data_latents", None)
        if data is not None and len(data):
            flat = torch.as_tensor(data).reshape(len(data), -1).double()
            ratio = (flat.norm(dim=1) / math.sqrt(flat.shape[1])).numpy()
            low, high = np.percentile(ratio, [5, 95])
            return float(low), float(high)
    return None


def _latent_size(result) -> int:
    """n, the number of values in one latent."""
    return int(np.prod(tuple(result.latents.shape[2:])))


def norm_profile_plot(result_or_dict) -> Figure:
    """|z(t)| / sqrt(n) against t / T for one Result or {method: Result}: the sphere of radius
    sqrt(n), where a standard normal keeps its mass, dashed at 1; the 5-95 % band of the encoded
    data's norms shaded when the model has encoded data; for a path through keyframes, the key
    images as dotted lines."""
    results = _as_dict(result_or_dict)
    first = next(iter(results.values()))
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.add_subplot()
    band = _data_norm_band(results)
    if band is not None:
        ax.axhspan(*band, color="0.85", label="encoded data, 5-95 %")
    ax.axhline(1.0, color="black", linestyle="--", linewidth=1.2, label="sphere |z| = √n")
    _mark_keys(ax, first)
    _per_method_plot(results, "norm_ratio", ax, "|z(t)| / √n",
                     f"Norm profile along the path ({first.model}, n = {_latent_size(first)})")
    return fig


def _mark_keys(ax, result) -> None:
    """Dotted vertical lines at the key images of a path through keyframes (``key_frames``)."""
    keys = getattr(result, "key_frames", None)
    if keys is None:
        return
    for index, u in enumerate(_unit_times(result)[list(keys)]):
        ax.axvline(u, color="0.4", linestyle=":", linewidth=1.0, label="key image" if index == 0 else None)


def log_prior_plot(result_or_dict) -> Figure:
    """Log prior density of each frame against t / T, per method (paths thin, mean thick);
    for the standard normal prior, its value on the sphere |z| = sqrt(n) is drawn dashed."""
    results = _as_dict(result_or_dict)
    first = next(iter(results.values()))
    n = _latent_size(first)
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.add_subplot()
    standard = all(r.params.get("prior") in (None, "standard-normal") for r in results.values())
    if standard:
        sphere = -0.5 * n - 0.5 * n * math.log(2 * math.pi)
        ax.axhline(sphere, color="black", linestyle="--", linewidth=1.2,
                   label="N(0, I) on the sphere |z| = √n")
    _per_method_plot(results, "log_prior", ax, "log p(z(t))",
                     f"Log prior density along the path ({first.model}, n = {n})")
    return fig


# The path metrics drawn by metrics_plot: (key in Result.metrics, y label, panel title).
_METRIC_PANELS = (
    ("step_length", "|z(t_i+1) - z(t_i)|", "latent step length"),
    ("ssim", "SSIM", "adjacent-frame similarity (SSIM, 1 = identical)"),
    ("nearest_data_distance", "distance", "distance to the nearest encoded data point"),
    ("log_prior", "log p(z(t))", "log prior density"),
)


def metrics_plot(result_or_dict) -> Figure:
    """The path metrics other than the norm, one panel each, against t / T, per method (paths
    thin, mean thick): latent step length, SSIM of adjacent frames, distance of each frame's
    latent to the nearest encoded data point, log prior density. Panels whose metric no result
    has (SSIM of a streamed run, data distance for a model without encoded data) are left out."""
    results = _as_dict(result_or_dict)
    first = next(iter(results.values()))
    panels = [panel for panel in _METRIC_PANELS if all(panel[0] in r.metrics for r in results.values())]
    if not panels:
        raise ValueError("the results carry none of the path metrics " + ", ".join(p[0] for p in _METRIC_PANELS))
    rows = math.ceil(len(panels) / 2)
    # Fixed margins rather than a constrained layout, and one legend (the colours are the same
    # in every panel): together they halve the drawing time, which a busy app pays per request.
    # The legend sits below the panels, clear of every curve.
    fig = Figure(figsize=(11, 3.4 * rows + 0.5))
    fig.subplots_adjust(left=0.07, right=0.98, top=1 - 0.2 / rows, bottom=0.12 + 0.1 / rows, hspace=0.5,
                        wspace=0.22)
    axes = [fig.add_subplot(rows, 2, index + 1) for index in range(len(panels))]
    for ax, (key, ylabel, title) in zip(axes, panels):
        _per_method_plot(results, key, ax, ylabel, title, legend=False)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 4), fontsize=9, frameon=False)
    fig.suptitle(f"Path metrics ({first.model}, n = {_latent_size(first)})")
    return fig


def _decoded_manifold(vae, limit: float, tiles: int) -> np.ndarray:
    """uint8 mosaic ``(tiles*H, tiles*W, 3)`` of images decoded at tile centres over
    [-limit, limit]^2, top row at the largest z2 (as imshow with origin='upper' wants)."""
    centres = -limit + (np.arange(tiles) + 0.5) * 2 * limit / tiles
    z1, z2 = np.meshgrid(centres, centres[::-1])
    codes = torch.tensor(np.stack([z1.ravel(), z2.ravel()], axis=1), dtype=torch.float32)
    with torch.inference_mode():
        images = to_uint8(vae.decode(codes))
    height, width = images.shape[1:3]
    return images.reshape(tiles, tiles, height, width, 3).swapaxes(1, 2).reshape(
        tiles * height, tiles * width, 3)


def latent_map_plot(result, resolution: int = 200, manifold: bool = False, tiles: int = 15) -> Figure:
    """The paths drawn on a map of a 2-D latent space.

    Background: the standard normal log density on a ``resolution`` x ``resolution`` grid, or
    with ``manifold=True`` a ``tiles`` x ``tiles`` mosaic of images decoded by ``result.vae``.
    The encoded data (``result.data_latents``) are small dots; each path is a line with a
    circle at its start and a square at its end. Raises ValueError unless n = 2.
    """
    shape = tuple(result.latents.shape[2:])
    if int(np.prod(shape)) != 2:
        raise ValueError(f"latent_map_plot needs a 2-D latent space; this result's latents have "
                         f"shape {shape} (n = {int(np.prod(shape))}); use norm_profile_plot")
    for name, value, low in (("resolution", resolution, 10), ("tiles", tiles, 2)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be a whole number >= {low}; got {value!r}")
    paths = result.latents.detach().to("cpu", torch.float64).reshape(*result.latents.shape[:2], 2).numpy()
    data = getattr(result, "data_latents", None)
    data = None if data is None else torch.as_tensor(data).detach().double().reshape(-1, 2).numpy()
    limit = max(3.0, 1.05 * float(np.abs(paths).max()))
    fig = Figure(figsize=(6.4, 5.6), layout="constrained")
    ax = fig.add_subplot()
    extent = (-limit, limit, -limit, limit)
    if manifold:
        if getattr(result, "vae", None) is None:
            raise ValueError("manifold=True needs the result's VAE to decode the map; it has none")
        ax.imshow(_decoded_manifold(result.vae, limit, tiles), extent=extent, origin="upper",
                  interpolation="nearest")
        background = "decoded manifold"
    else:
        grid = np.linspace(-limit, limit, resolution)
        x, y = np.meshgrid(grid, grid)
        density = -0.5 * (x**2 + y**2) - math.log(2 * math.pi)
        image = ax.imshow(density, extent=extent, origin="lower", cmap="Blues",
                          interpolation="bilinear")
        fig.colorbar(image, ax=ax, shrink=0.8, label="log N(z; 0, I)")
        background = "prior log density"
    if data is not None:
        ax.scatter(data[:, 0], data[:, 1], s=3, color="tab:orange" if manifold else "0.25",
                   alpha=0.5, linewidths=0, label="encoded data")
    for k, path in enumerate(paths):
        colour = f"C{(k + 3) % 10}"
        ax.plot(path[:, 0], path[:, 1], color=colour, linewidth=1.4, alpha=0.9,
                label=f"path {k + 1}" if len(paths) <= 6 else None)
    ax.scatter(paths[:, 0, 0], paths[:, 0, 1], marker="o", s=70, color="white", edgecolors="black",
               zorder=5, label="start")
    ax.scatter(paths[:, -1, 0], paths[:, -1, 1], marker="s", s=70, color="black",
               edgecolors="white", zorder=5, label="end")
    ax.set_xlim(-limit, limit)
    ax.set_ylim(-limit, limit)
    ax.set_aspect("equal")
    ax.set_xlabel("z₁")
    ax.set_ylabel("z₂")
    ax.set_title(f"{result.method} paths on the latent map ({result.model}; {background})")
    ax.legend(fontsize=8, loc="upper right", framealpha=0.85)
    return fig


def save_figure(fig: Figure, path, dpi: int = 110) -> Path:
    """Save a matplotlib figure as PNG at ``dpi`` pixels per inch; returns the path."""
    path = Path(path)
    fig.savefig(path, format="png", dpi=dpi)
    return path
