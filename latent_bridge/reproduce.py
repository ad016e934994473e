"""Reproduce the poster's claims as figures and measured numbers.

    python -m latent_bridge.reproduce --out docs/figures           # the full run (committed)
    python -m latent_bridge.reproduce --out /some/dir --quick      # smaller, under a minute
    python -m latent_bridge.reproduce --out figs --only sphere,ou  # some figures only

Each figure is one function ``figure_NAME(out, quick) -> dict`` that writes its files into
``out`` and returns the numbers it measured; ``main`` collects them into ``numbers.json`` and
prints them, so docs/reproduction.md quotes measured values. Every function fixes its own
seed, so a figure does not change when another is added or skipped.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from io import BytesIO
from pathlib import Path

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.figure import Figure
from PIL import Image

from . import bridges, kernels, media, metrics, models, pipeline, priors, registry, testing
from .data import load_image
from .data.datasets import load_digits

DPI = 90
METHOD_COLORS = {
    "linear": "#d62728", "slerp": "#1f77b4", "ou": "#2ca02c", "gp": "#9467bd", "langevin": "#ff7f0e",
}


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _subplots(nrows: int, ncols: int, figsize: tuple[float, float], **kwargs):
    """A Figure ``figsize`` inches large and its axes, as ``Figure.subplots(nrows, ncols, **kwargs)``."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def _save(fig, path: Path) -> None:
    """Write ``fig`` as a PNG with a 256-colour palette: a third of the size, same look for plots."""
    buffer = BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    image = Image.open(buffer).convert("RGB")
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


# ---------------------------------------------------------------------------------------------
# 1. The sphere and the line


def figure_sphere(out: Path, quick: bool) -> dict:
    """|z(t)| / sqrt(n) along OU-bridge paths for several T, against linear and slerp, at
    n = 4096 and n = 64 (the poses latent size). Claim: small T is the line (whose midpoint
    dips to ~0.71 sqrt(n)), large T stays on the sphere of radius sqrt(n)."""
    dims = (4096, 64)
    horizons = (0.01, 0.1, 1.0, 5.0, 20.0)
    frames, n_paths = (41, 16) if quick else (101, 256)
    cmap = colormaps["viridis"]
    fig, axes = _subplots(1, 2, figsize=(11, 4.2), sharey=True)
    numbers: dict = {"frames": frames, "n_paths": n_paths}
    for ax, n in zip(axes, dims):
        gen = _seeded(1)
        z0, z1 = torch.randn(n, generator=gen), torch.randn(n, generator=gen)
        u = np.linspace(0.0, 1.0, frames)
        entry: dict = {}
        for name in ("linear", "slerp"):
            ratio = metrics.norm_ratio(registry.get(name).sample(z0, z1, frames))[0]
            entry[name] = {"midpoint": float(ratio[frames // 2]), "min": float(ratio.min())}
            ax.plot(u, ratio, color=METHOD_COLORS[name], lw=2.2, ls="--", label=name, zorder=3)
        for i, T in enumerate(horizons):
            paths = registry.get("ou", T=T).sample(z0, z1, frames, n_paths=n_paths, generator=gen)
            ratio = metrics.norm_ratio(paths)  # (n_paths, frames)
            inner = ratio[:, 1:-1]
            entry[f"ou T={T:g}"] = {
                "midpoint_mean": float(ratio[:, frames // 2].mean()),
                "interior_min": float(inner.min()),
                "interior_max": float(inner.max()),
            }
            color = cmap(i / (len(horizons) - 1) * 0.9)
            lo, hi = np.quantile(ratio, [0.05, 0.95], axis=0)
            ax.fill_between(u, lo, hi, color=color, alpha=0.15, lw=0)
            ax.plot(u, lo, color=color, lw=0.6, alpha=0.8)
            ax.plot(u, hi, color=color, lw=0.6, alpha=0.8)
            ax.plot(u, ratio.mean(axis=0), color=color, lw=2, label=f"OU bridge, T = {T:g}")
        ax.axhline(1.0, color="0.4", lw=0.8, ls=":")
        ax.axhline(math.sqrt(0.5), color="0.4", lw=0.8, ls=":")
        ax.set_title(f"n = {n}" + (" (poses latent size)" if n == 64 else ""))
        ax.set_xlabel("t / T")
        ax.grid(alpha=0.3)
        numbers[f"n={n}"] = entry
    axes[0].set_ylabel("|z(t)| / sqrt(n)")
    axes[0].text(0.01, math.sqrt(0.5) - 0.04, "1/sqrt(2)", color="0.4", fontsize=8)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False)
    fig.suptitle(f"Norm along the path: OU bridges (mean and 5-95% band of {n_paths} paths) "
                 "against linear and slerp")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    _save(fig, out / "sphere.png")
    return numbers


# ---------------------------------------------------------------------------------------------
# 2. The OU bridge against its closed forms


def ou_closed_form(t: np.ndarray, T: float, z0: float, z1: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of the OU bridge at times ``t`` (float64, in [0, T]), eq. (4):
    (z0 sinh(T-t) + z1 sinh(t)) / sinh(T) and (1 - e^-2t)(1 - e^-2(T-t)) / (1 - e^-2T)."""
    mean = (z0 * np.sinh(T - t) + z1 * np.sinh(t)) / np.sinh(T)
    var = -np.expm1(-2 * t) * -np.expm1(-2 * (T - t)) / -np.expm1(-2 * T)
    return mean, var


def figure_ou_moments(out: Path, quick: bool) -> dict:
    """Empirical mean and variance of many 1-D paths of the OU bridge and of ``ou-sde`` (its
    SDE integrated numerically) against the closed forms, for three horizons T."""
    horizons = (0.5, 2.0, 8.0)
    z0, z1 = -1.5, 2.0
    frames, n_paths = (21, 4000) if quick else (41, 40000)
    samplers: dict = {"ou": {}, "ou-sde": {}}
    fig, (ax_m, ax_v) = _subplots(1, 2, figsize=(11, 4.2))
    numbers: dict = {"z0": z0, "z1": z1, "frames": frames, "n_paths": n_paths}
    colors = colormaps["tab10"]
    markers = {"ou": "o", "ou-sde": "x"}
    for i, T in enumerate(horizons):
        t = np.linspace(0.0, T, frames)
        u = t / T
        mean, var = ou_closed_form(t, T, z0, z1)
        fine = np.linspace(0.0, T, 400)
        m_fine, v_fine = ou_closed_form(fine, T, z0, z1)
        ax_m.plot(fine / T, m_fine, color=colors(i), lw=1.5, label=f"closed form, T = {T:g}")
        ax_v.plot(fine / T, v_fine, color=colors(i), lw=1.5, label=f"closed form, T = {T:g}")
        for name, store in samplers.items():
            gen = _seeded(2 + i)
            paths = registry.get(name, T=T).sample(
                torch.tensor([z0]), torch.tensor([z1]), frames, n_paths=n_paths, generator=gen
            )[:, :, 0].double().numpy()
            emp_mean, emp_var = paths.mean(axis=0), paths.var(axis=0, ddof=1)
            inner = slice(1, -1)
            # Standard errors of the sample mean and variance of a Gaussian: sqrt(var / N) and
            # var sqrt(2 / (N - 1)); the largest |error| / SE over the interior frames.
            se_mean = np.sqrt(var[inner] / n_paths)
            se_var = var[inner] * np.sqrt(2.0 / (n_paths - 1))
            store[f"T={T:g}"] = {
                "max_abs_mean_error": float(np.abs(emp_mean - mean)[inner].max()),
                "max_abs_var_error": float(np.abs(emp_var - var)[inner].max()),
                "max_mean_error_in_se": float((np.abs(emp_mean - mean)[inner] / se_mean).max()),
                "max_var_error_in_se": float((np.abs(emp_var - var)[inner] / se_var).max()),
            }
            label = f"{name}, {n_paths} paths" if i == 0 else None
            ax_m.plot(u, emp_mean, markers[name], color=colors(i), ms=4, mfc="none", label=label)
            ax_v.plot(u, emp_var, markers[name], color=colors(i), ms=4, mfc="none", label=label)
    numbers.update(samplers)
    ax_m.set_title(f"mean, from z0 = {z0:g} to z1 = {z1:g}")
    ax_v.set_title("variance")
    for ax in (ax_m, ax_v):
        ax.set_xlabel("t / T")
        ax.grid(alpha=0.3)
    ax_m.set_ylabel("E Z(t)")
    ax_v.set_ylabel("Var Z(t)")
    ax_v.legend(fontsize=8, loc="upper right")
    fig.suptitle("OU bridge: empirical moments (markers) against the closed forms (lines)")
    _save(fig, out / "ou_moments.png")
    return numbers


# ---------------------------------------------------------------------------------------------
# 3. The kernels


def figure_kernels(out: Path, quick: bool) -> dict:
    """1-D GP-bridge sample paths for exp(-|h|^alpha), alpha in {0.5, 1, 1.5, 2}, and the
    periodic kernel with T = period: a loop (drawn in time and as a closed curve in 2-D)."""
    T, z0, z1 = 4.0, -1.0, 1.0
    frames, n_paths = (80, 4) if quick else (240, 5)
    alphas = (0.5, 1.0, 1.5, 2.0)
    periodic = kernels.Periodic(length_scale=1.0, period=T)
    fig, axes = _subplots(2, 3, figsize=(12, 6.4))
    numbers: dict = {"T": T, "frames": frames}
    a, b = torch.tensor([z0]), torch.tensor([z1])
    colors = colormaps["tab10"]
    for ax, alpha in zip(axes.flat, alphas):
        sampler = registry.get("gp", kernel=kernels.Exponential(alpha=alpha, beta=1.0), T=T)
        paths = sampler.sample(a, b, frames, n_paths=n_paths, generator=_seeded(3))[:, :, 0]
        t = sampler.times(frames).numpy()
        std = sampler.covariance(sampler.times(frames)).diagonal().sqrt().numpy()
        mean = sampler.mean(sampler.times(frames), a, b)[:, 0].numpy()
        ax.fill_between(t, mean - 2 * std, mean + 2 * std, color="0.85", lw=0, label="mean ± 2 sd")
        ax.plot(t, mean, color="0.3", lw=1, ls="--", label="bridge mean")
        for k in range(n_paths):
            ax.plot(t, paths[k].numpy(), color=colors(k), lw=1)
        numbers[f"alpha={alpha:g}"] = {
            "adjacent_correlation": bridges.adjacent_correlation(sampler, frames),
            "midpoint_std": float(std[frames // 2]),
        }
        nickname = {1.0: " (OU)", 2.0: " (squared exp.)"}.get(alpha, "")
        ax.set_title(f"exp(-|h|^{alpha:g}): alpha = {alpha:g}{nickname}")
        ax.set_xlabel("t")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8, loc="upper left")

    sampler = registry.get("gp", kernel=periodic, T=T)
    start = torch.tensor([0.5, 0.0])
    loops = sampler.sample(start, start, frames, n_paths=n_paths, generator=_seeded(4))
    t = sampler.times(frames).numpy()
    ax = axes[1, 1]
    for k in range(n_paths):
        ax.plot(t, loops[k, :, 0].numpy(), color=colors(k), lw=1)
    ax.set_title(f"periodic, period = T = {T:g}: a loop")
    ax.set_xlabel("t")
    ax.grid(alpha=0.3)
    ax = axes[1, 2]
    for k in range(n_paths):
        ax.plot(loops[k, :, 0].numpy(), loops[k, :, 1].numpy(), color=colors(k), lw=1)
    ax.plot([0.5], [0.0], "ko", ms=5, label="start = end")
    ax.set_title("the same loops, two coordinates")
    ax.set_xlabel("z_1")
    ax.set_ylabel("z_2")
    ax.set_aspect("equal", "datalim")
    ax.legend(fontsize=8, loc="upper right")
    ax.grid(alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel("Z(t)")
    # The loop closes exactly (the last frame is the first, bit for bit) and smoothly: the
    # step across the seam, frame T -> frame dt of the next lap, is as small as any other step.
    steps = loops[:, 1:] - loops[:, :-1]
    numbers["periodic"] = {
        "length_scale": 1.0, "period": T,
        "adjacent_correlation": bridges.adjacent_correlation(sampler, frames),
        "closes_exactly": bool(torch.equal(loops[:, -1], loops[:, 0])),
        "seam_step_over_mean_step": float(
            steps[:, 0].norm(dim=-1).mean() / steps.norm(dim=-1).mean()
        ),
    }
    fig.suptitle(f"GP bridges, {n_paths} sample paths each (1-D, from {z0:g} to {z1:g}, T = {T:g})")
    fig.tight_layout()
    _save(fig, out / "kernels.png")
    return numbers


# ---------------------------------------------------------------------------------------------
# 4. The digits latent map


def _example_latent(vae, index: int) -> torch.Tensor:
    """Posterior mean of the checkpoint's example image ``index``: float32 ``latent_shape``."""
    image = load_image(vae.example_images()[index], size=vae.image_size, channels=vae.channels)
    return vae.encode(image[None])[0]


def figure_digits_map(out: Path, quick: bool) -> dict:
    """Paths of every method between two held-out digits on opposite sides of the 2-D latent
    map of ``digits``, over the prior density and the encoded training data, and the decoded
    frames. Claim (poster Figs. 2-3): in low dimension the prior's mass is at the centre, the
    line crosses the data, slerp swings around it; the bridges stay near the data."""
    vae = models.load("digits")
    data = vae.training_latents()
    held_out = vae.encode(load_digits("test"))
    z0 = _example_latent(vae, 0)  # the first shipped example, a 6
    # The held-out digit most nearly opposite: where line and great circle differ most.
    opposite = int((held_out + z0).norm(dim=1).argmin())
    z1 = held_out[opposite]
    frames = 12 if quick else 16
    map_frames = 60 if quick else 120
    samplers = {
        "linear": registry.get("linear"),
        "slerp": registry.get("slerp"),
        "ou": registry.get("ou", T=0.5),
        "gp": registry.get("gp", T=2.0),
        # The chains, named: what auto runs for a mixture (path-smc) carries 128 paths a run.
        "langevin": registry.get("langevin", prior=priors.for_model(vae, kind="mixture"), T=0.5,
                                 algorithm="path-mcmc"),
    }
    n_paths = {"linear": 1, "slerp": 1, "ou": 4, "gp": 4, "langevin": 4}
    paths = {}
    numbers: dict = {"z0": z0.tolist(), "z1": z1.tolist(), "z1_test_index": opposite,
                     "map_frames": map_frames, "frames": frames}
    for i, (name, sampler) in enumerate(samplers.items()):
        run = sampler.run(z0, z1, map_frames, n_paths=n_paths[name], generator=_seeded(40 + i))
        paths[name] = run.latents
        distance = metrics.nearest_data_distance(paths[name], data)
        numbers[name] = {
            "params": {k: (v if isinstance(v, (int, float)) else repr(v)) for k, v in sampler.params().items()},
            "nearest_data_distance_mean": float(distance.mean()),
            "nearest_data_distance_max": float(distance.max()),
        }
        if run.diagnostics:
            numbers[name]["diagnostics"] = {k: v for k, v in run.diagnostics.items()
                                           if isinstance(v, (int, float, str, bool))}
    # For scale: the median distance from a training code to its nearest other training code.
    spacing = torch.cdist(data.double(), data.double())
    spacing.fill_diagonal_(math.inf)
    numbers["data_nearest_neighbour_median"] = float(spacing.amin(dim=1).median())

    panels = (("linear", "slerp"), ("ou",), ("gp",), ("langevin",))
    titles = {"slerp": "linear and slerp", "ou": "OU bridge, T = 0.5",
              "gp": "GP bridge, exp(-h^2), T = 2", "langevin": "Langevin bridge, mixture prior, T = 0.5"}
    fig, axes = _subplots(1, len(panels), figsize=(15, 4.1), sharex=True, sharey=True)
    grid = np.linspace(-4, 4, 201)
    xx, yy = np.meshgrid(grid, grid)
    for ax, names in zip(axes, panels):
        ax.contour(xx, yy, np.hypot(xx, yy), levels=[1, 2, 3], colors="0.6", linewidths=0.8, linestyles=":")
        ax.scatter(data[:, 0], data[:, 1], s=2, color="0.45", alpha=0.5, lw=0)
        for name in names:
            p = paths[name]
            for k in range(p.shape[0]):
                ax.plot(p[k, :, 0], p[k, :, 1], color=METHOD_COLORS[name], lw=2 if p.shape[0] == 1 else 1,
                        label=name if k == 0 else None)
            mean_distance = numbers[name]["nearest_data_distance_mean"]
            ax.plot([], [], " ", label=f"  distance to data {mean_distance:.3f}")
        ax.plot(*z0.tolist(), "o", color="k", ms=6)
        ax.plot(*z1.tolist(), "s", color="k", ms=6)
        ax.set_title(titles[names[-1]], fontsize=10)
        ax.set_xlim(-4, 4)
        ax.set_ylim(-4, 4)
        ax.set_aspect("equal")
        ax.set_xlabel("z_1")
        ax.legend(fontsize=7, loc="lower left")
    axes[0].set_ylabel("z_2")
    axes[0].annotate("z0", z0.tolist(), xytext=(6, 4), textcoords="offset points")
    axes[0].annotate("z1", z1.tolist(), xytext=(6, -10), textcoords="offset points")
    fig.suptitle("digits latent map: encoded training digits (dots), prior's 1-2-3 sd circles (dotted); "
                 "distance to data = mean over frames of the distance to the nearest code", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    _save(fig, out / "digits_map.png")

    # Decoded frames, one row per method (one path each).
    rows = []
    for name, sampler in samplers.items():
        strip = sampler.sample(z0, z1, frames, n_paths=1, generator=_seeded(50))[0]
        rows.append(vae.decode(strip)[:, 0].numpy())
    fig, axes = _subplots(len(rows), 1, figsize=(frames * 0.55, len(rows) * 0.75))
    for ax, name, images in zip(axes, samplers, rows):
        ax.imshow(np.concatenate(list(images), axis=1), cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=10)
    fig.suptitle("digits: decoded frames from z0 to z1, one path per method", fontsize=10)
    _save(fig, out / "digits_strips.png")
    return numbers


# ---------------------------------------------------------------------------------------------
# 5. Random walks from one pose


def _film_strips(rows: np.ndarray, labels: list[str], title: str, path: Path, every: int = 1) -> None:
    """One row of frames per label: ``rows`` uint8 (n_rows, frames, H, W, 3)."""
    rows = rows[:, ::every]
    n_rows, frames, height = rows.shape[:3]
    width = min(frames * 0.62, 14)
    fig, axes = _subplots(n_rows, 1, figsize=(width, width / frames * height / rows.shape[3] * n_rows * 1.08 + 0.35),
                          squeeze=False)
    fig.subplots_adjust(hspace=0.06, top=1 - 0.3 / fig.get_figheight())
    for ax, row, label in zip(axes[:, 0], rows, labels):
        ax.imshow(np.concatenate(list(row), axis=1))
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    fig.suptitle(title, fontsize=10)
    _save(fig, path)


def figure_pose_walks(out: Path, quick: bool) -> dict:
    """Closed random walks from one pose (periodic-kernel GP bridge, T = period): film strips
    and a looping GIF. Claim (poster Fig. 5): from one image, many plausible walks that start
    and end at the same pose."""
    vae = models.load("poses")
    period = 8.0
    sampler = registry.get("gp", kernel="periodic", length_scale=1.0, period=period, T=period)
    frames, n_paths = (16, 2) if quick else (48, 4)
    result = pipeline.random_walk(vae, vae.example_images()[0], sampler, frames=frames, n_paths=n_paths, seed=5)
    every = 1 if quick else 3
    _film_strips(result.frames, [f"walk {k + 1}" for k in range(n_paths)],
                 f"poses: {n_paths} random walks from one pose (every {every} of {frames} frames; "
                 f"periodic kernel, T = period = {period:g})" if every > 1 else
                 f"poses: {n_paths} random walks from one pose (periodic kernel, T = period = {period:g})",
                 out / "pose_walks.png", every=every)
    # Side by side, looping; media drops the closed walk's last frame (a copy of the first).
    media.write_gif(result, out / "pose_walks.gif", fps=12)
    ssim = result.metrics["ssim"]
    latents = result.latents
    return {
        "latent_size": int(latents[0, 0].numel()),
        "frames": frames, "n_paths": n_paths, "period": period,
        "closes_exactly": bool(torch.equal(latents[:, -1], latents[:, 0])),
        "norm_ratio_mean": float(result.metrics["norm_ratio"].mean()),
        "ssim_adjacent_mean": float(ssim.mean()),
        "ssim_adjacent_min": float(ssim.min()),
        "gif_bytes": (out / "pose_walks.gif").stat().st_size,
    }


# ---------------------------------------------------------------------------------------------
# 6. The Langevin bridge on a two-well prior against a Fokker-Planck reference


def two_well_energy(x: np.ndarray) -> np.ndarray:
    """E(x) = -log(0.5 N(x; -2, 0.5^2) + 0.5 N(x; 2, 0.5^2)), float64 like x."""
    logs = np.stack([-0.5 * ((x - m) / 0.5) ** 2 for m in (-2.0, 2.0)])
    top = logs.max(axis=0)
    return -(top + np.log(0.5 * np.exp(logs - top).sum(axis=0))) + math.log(0.5 * math.sqrt(2 * math.pi))


def _two_well_prior():
    """The prior 0.5 N(-2, 0.5^2) + 0.5 N(2, 0.5^2) in 1-D, as a latent_bridge.priors object."""
    return priors.GaussianMixture(
        weights=torch.tensor([0.5, 0.5]), means=torch.tensor([[-2.0], [2.0]]), scales=torch.tensor([[0.5], [0.5]])
    )


def _histogram_distance(samples: np.ndarray, grid: np.ndarray, density: np.ndarray, edges: np.ndarray,
                        weights: np.ndarray | None = None) -> float:
    """Total-variation distance between the histogram of ``samples`` (with ``weights`` summing
    to 1, or equal) on ``edges`` and the reference ``density`` on ``grid`` integrated over the
    same bins."""
    if weights is None:
        weights = np.full(len(samples), 1 / max(len(samples), 1))
    masses, _ = np.histogram(samples, bins=edges, weights=weights)
    step = grid[1] - grid[0]
    cumulative = np.concatenate([[0.0], np.cumsum(density) * step])
    reference = np.diff(np.interp(edges, grid + step / 2, cumulative[1:], left=0.0, right=1.0))
    return 0.5 * float(np.abs(masses - reference).sum())


def figure_langevin(out: Path, quick: bool) -> dict:
    """The Langevin bridge of the 2-D two-well prior (0.5 N(-2, 0.5^2) + 0.5 N(2, 0.5^2) in each
    coordinate, given as one mixture of its four corners) from (-2, 2) to (2, -2) with T = 3:
    path-mcmc's paths crossing between the wells in the plane and against time, and the marginals
    of both coordinates (oriented from the -2 well; a product bridge's coordinates are
    independent 1-D bridges) against the 1-D Fokker-Planck reference. Claim (eqs. 2-3): the
    bridge of a non-Gaussian prior's Langevin diffusion can be sampled in more than one
    dimension, and it hops between the wells as the prior says."""
    T = 3.0
    start, end = torch.tensor([-2.0, 2.0]), torch.tensor([2.0, -2.0])
    frames, n_paths = (31, 100) if quick else (61, 1000)
    corners = torch.tensor([[-2.0, -2.0], [-2.0, 2.0], [2.0, -2.0], [2.0, 2.0]])
    prior = priors.GaussianMixture(torch.full((4,), 0.25), corners, torch.full((4, 2), 0.5))
    # path-mcmc, named (auto runs path-smc for a mixture; test_path_smc checks its law on this
    # case): each returned path is the last state of its own chain, n_paths independent paths.
    sampler = registry.get("langevin", prior=prior, T=T, algorithm="path-mcmc")
    run = sampler.run(start, end, frames, n_paths=n_paths, generator=_seeded(6))
    paths = run.latents.double().numpy()                     # (n_paths, frames, 2)
    oriented = paths * np.array([1.0, -1.0])                 # both coordinates from -2 to 2
    times = run.times.numpy()
    shown = [frames // 4, frames // 2, 3 * frames // 4]
    grid = np.linspace(-6.0, 6.0, 1201)  # step 0.01: holds -2 and 2
    reference = testing.fokker_planck_reference(two_well_energy, -2.0, 2.0, T, times[shown], grid)
    # Sanity check of the reference itself: for the quadratic energy it must be the OU bridge.
    ou_reference = testing.fokker_planck_reference(lambda x: x * x / 2, -2.0, 2.0, T, times[shown], grid)
    ou_error = 0.0
    for row, t in zip(ou_reference, times[shown]):
        mean, var = ou_closed_form(np.array([t]), T, -2.0, 2.0)
        exact = np.exp(-(grid - mean) ** 2 / (2 * var)) / np.sqrt(2 * np.pi * var)
        ou_error = max(ou_error, float(np.abs(row - exact).max()))
    diagnostics = {key: run.diagnostics[key] for key in ("acceptance", "sweeps", "steps", "chains")}
    numbers: dict = {"start": start.tolist(), "end": end.tolist(), "T": T, "frames": frames, "paths": n_paths,
                     "diagnostics": diagnostics, "reference_check_ou_max_density_error": ou_error}
    edges = np.linspace(-4.0, 4.0, 41)
    fig, axes = _subplots(1, 5, figsize=(19, 3.8))
    ax = axes[0]
    u = np.linspace(-4.5, 4.5, 181)
    xx, yy = np.meshgrid(u, u)
    density = np.exp(-two_well_energy(xx) - two_well_energy(yy))
    ax.contour(xx, yy, density, levels=6, colors="0.7", linewidths=0.7)
    for k in range(min(12, n_paths)):
        ax.plot(paths[k, :, 0], paths[k, :, 1], lw=0.8, color=colormaps["tab10"](k % 10), alpha=0.85)
    ax.plot(*start.numpy(), "ko", ms=5)
    ax.plot(*end.numpy(), "ks", ms=5)
    ax.set_aspect("equal")
    ax.set_xlim(-4.5, 4.5)
    ax.set_ylim(-4.5, 4.5)
    ax.set_xlabel("x_0")
    ax.set_ylabel("x_1")
    ax.set_title("12 paths (path-mcmc), (-2, 2) to (2, -2)", fontsize=10)
    ax = axes[1]
    for k in range(min(12, n_paths)):
        ax.plot(times, paths[k, :, 0], lw=0.7, color=colormaps["tab10"](k % 10), alpha=0.85)
    for i in shown:
        ax.axvline(times[i], color="0.3", lw=0.8, ls="--")
    ax.set_xlabel("t")
    ax.set_ylabel("x_0(t)")
    ax.set_title(f"coordinate 0 against time, T = {T:g}", fontsize=10)
    ax.grid(alpha=0.3)
    step = grid[1] - grid[0]
    for ax, i, row in zip(axes[2:], shown, reference):
        column = oriented[:, i].reshape(-1)                  # both coordinates: 2 n_paths independent draws
        left_reference = float(row[grid < 0].sum() * step)
        left = float((column < 0).mean())
        numbers[f"t={times[i]:g}"] = {
            "equivalent_draws": int(column.size), "mass_below_0": left, "mass_below_0_reference": left_reference,
            "mass_between_wells": float((np.abs(column) < 0.5).mean()),
            "mass_between_wells_reference": float(row[np.abs(grid) < 0.5].sum() * step),
            "tv_distance": _histogram_distance(column, grid, row, edges),
        }
        ax.hist(column, bins=edges, density=True, color="#ff7f0e", alpha=0.6,
                label="Langevin bridge (both coordinates)")
        ax.plot(grid, row, color="k", lw=1.4, label="1-D Fokker-Planck reference")
        ax.set_xlim(-4, 4)
        ax.set_xlabel("x (oriented from the -2 well)")
        ax.set_title(f"t = {times[i]:g}: below 0 {left:.3f} (reference {left_reference:.3f})", fontsize=9)
        ax.grid(alpha=0.3)
    axes[2].set_ylabel("density")
    axes[2].legend(fontsize=7, loc="upper right")
    fig.suptitle("Langevin bridge of the 2-D two-well prior (4-component mixture): the law of a path-mcmc path "
                 f"({n_paths} independent chains of {diagnostics['sweeps']} sweeps)", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    _save(fig, out / "langevin_two_well.png")
    return numbers


# ---------------------------------------------------------------------------------------------
# 7. Method comparison on fashion and poses


def figure_compare(out: Path, quick: bool) -> dict:
    """Every method between the same two images of ``fashion`` and of ``poses``, same seed:
    decoded rows side by side, with path diagnostics (norm, distance to the data, smoothness)."""
    frames = 8 if quick else 12
    numbers: dict = {"frames": frames}
    # Two example images of different kinds: an ankle boot and a T-shirt; two poses.
    pairs = {"fashion": (0, 2), "poses": (0, 1)}
    for model, (first, second) in pairs.items():
        vae = models.load(model)
        images = vae.example_images()
        samplers = {
            "linear": registry.get("linear"),
            "slerp": registry.get("slerp"),
            "ou T=0.5": registry.get("ou", T=0.5),
            "ou T=5": registry.get("ou", T=5.0),
            "gp exp(-h^2) T=2": registry.get("gp", T=2.0),
            "langevin (mixture prior)": registry.get("langevin", prior="mixture", T=0.5, algorithm="path-mcmc"),
        }
        results = pipeline.compare(vae, images[first], images[second], samplers, frames=frames, n_paths=1, seed=7)
        rows = np.stack([r.frames[0] for r in results.values()])
        _film_strips(rows, list(results), f"{model}: every method between the same two images "
                     f"(latent size {vae.latent_shape[0] if len(vae.latent_shape) == 1 else vae.latent_shape}, "
                     f"seed 7)", out / f"compare_{model}.png")
        numbers[model] = {
            name: {
                "norm_ratio_mean": float(r.metrics["norm_ratio"][:, 1:-1].mean()),
                "nearest_data_distance_mean": float(r.metrics["nearest_data_distance"][:, 1:-1].mean()),
                "ssim_adjacent_mean": float(r.metrics["ssim"].mean()),
            }
            for name, r in results.items()
        }
    return numbers


# ---------------------------------------------------------------------------------------------
# 8. Keyframes: a loop through four poses; smooth through the keys, against chained bridges


def _chained(sampler, keys: torch.Tensor, frames_per_segment: int, generator) -> torch.Tensor:
    """``keys`` through independent two-point bridges, one per segment, joined at the keys
    (what pairwise tools do): float32 ``(1, S (f - 1) + 1, n)``."""
    pieces = [sampler.sample(keys[j], keys[j + 1], frames_per_segment, generator=generator)
              for j in range(len(keys) - 1)]
    return torch.cat([pieces[0]] + [piece[:, 1:] for piece in pieces[1:]], dim=1)


def _jumps_at_keys(latents: torch.Tensor, times: torch.Tensor, key_frames: list[int]) -> dict:
    """Root mean square velocity jump (``metrics.velocity_jump``) at the interior keys and at
    every other interior frame."""
    jumps = metrics.velocity_jump(latents, times)  # (n_paths, frames - 2), entry i - 1 for frame i
    at_keys = np.zeros(jumps.shape[1], dtype=bool)
    at_keys[[k - 1 for k in key_frames[1:-1]]] = True
    return {"at_keys": float(np.sqrt((jumps[:, at_keys] ** 2).mean())),
            "elsewhere": float(np.sqrt((jumps[:, ~at_keys] ** 2).mean()))}


def _seam_jump(latents: torch.Tensor, times: torch.Tensor, span: float) -> float:
    """Root mean square velocity jump across a loop's seam: its last two steps then its first
    two, as one path through frame 0 (the loop spans ``span`` in time)."""
    across = torch.cat([latents[:, -3:-1], latents[:, :3]], dim=1)
    return float(np.sqrt((metrics.velocity_jump(across, torch.cat([times[-3:-1] - span, times[:3]]))[:, 1] ** 2)
                         .mean()))


def figure_keyframes(out: Path, quick: bool) -> dict:
    """(1) Random loops through four poses (a periodic-kernel GP of period 4 T conditioned on
    all four, so the loop closes by itself, smoothly): film strips with the keys framed. (2)
    One coordinate through four keys, jointly conditioned (squared exponential) against three
    independent bridges of the same kernel chained at the keys, and the jump of the
    finite-difference velocity per frame: flat for the joint GP, a spike at every key chained."""
    numbers: dict = {}
    vae = models.load("poses")
    T, frames_per_segment, n_paths = 2.0, (9 if quick else 17), (2 if quick else 3)
    loop = registry.get("gp", kernel="periodic", length_scale=0.7, period=4 * T, T=T)
    result = pipeline.keyframes(vae, vae.example_images()[:4], loop, frames_per_segment=frames_per_segment,
                                n_paths=n_paths, loop=True, seed=2)
    grid = np.asarray(media.keyframe_grid(result, between=2 if quick else 3))
    fig = Figure(figsize=(grid.shape[1] / 100, grid.shape[0] / 100 + 0.45))
    ax = fig.add_axes((0, 0, 1, grid.shape[0] / 100 / fig.get_figheight()))
    ax.imshow(grid, interpolation="nearest")
    ax.set_axis_off()
    fig.suptitle(f"poses: {n_paths} random loops through four poses (framed): a periodic-kernel GP, period = 4 T, "
                 "conditioned on all four", fontsize=10, y=0.98)
    _save(fig, out / "keyframes_loop.png")
    numbers["loop"] = {
        "T": T, "period": 4 * T, "length_scale": 0.7, "frames_per_segment": frames_per_segment,
        "closes_exactly": bool(torch.equal(result.latents[:, -1], result.latents[:, 0])),
        "implied_keys": result.diagnostics.get("implied_keys"),
        "seam_velocity_jump": _seam_jump(result.latents, torch.as_tensor(result.times), 4 * T),
        "velocity_jump_elsewhere": _jumps_at_keys(result.latents, torch.as_tensor(result.times),
                                                  list(result.key_frames))["elsewhere"],
    }

    # Velocity at the keys: many coordinates for the numbers, one drawn.
    n, f = (500 if quick else 4000), 33
    keys = torch.randn(4, n, generator=_seeded(11))
    cases = {"squared exponential": registry.get("gp", T=2.0), "Matern 5/2": registry.get("gp", kernel="matern"),
             "OU kernel": registry.get("gp", kernel="exponential", alpha=1.0, T=2.0)}
    fig, axes = _subplots(1, 3, figsize=(14, 3.9))
    for name, sampler in cases.items():
        run = sampler.run_through(keys, f, generator=_seeded(12))
        chain = _chained(sampler, keys, f, _seeded(13))
        numbers[name] = {"joint": _jumps_at_keys(run.latents, run.times, run.diagnostics["key_frames"]),
                         "chained": _jumps_at_keys(chain, run.times, run.diagnostics["key_frames"])}
        if name != "squared exponential":
            continue
        t, key_frames = run.times.numpy(), run.diagnostics["key_frames"]
        for label, paths, colour in (("three bridges chained", chain, METHOD_COLORS["linear"]),
                                     ("conditioned on all keys", run.latents, METHOD_COLORS["gp"])):
            z = paths[0, :, 0].double().numpy()
            axes[0].plot(t, z, color=colour, lw=1.4, label=label)
            axes[1].plot(0.5 * (t[1:] + t[:-1]), np.diff(z) / np.diff(t), color=colour, lw=1.4, label=label)
            jumps = metrics.velocity_jump(paths, run.times)[0]
            axes[2].semilogy(t[1:-1], jumps, color=colour, lw=1.4, label=label)
        axes[0].plot(t[key_frames], keys[:, 0].numpy(), "ko", ms=5, label="keys")
    slerp = registry.get("slerp")
    chain = slerp.run_through(keys, f)
    numbers["slerp (chained)"] = _jumps_at_keys(chain.latents, chain.times, chain.diagnostics["key_frames"])
    # The seam of a loop: closed by a periodic kernel of period 4 T, or pinned (squared exponential).
    for name, sampler in (("periodic", registry.get("gp", kernel="periodic", length_scale=0.7, period=8.0, T=2.0)),
                          ("squared exponential", registry.get("gp", T=2.0))):
        run = sampler.run_through(keys, f, generator=_seeded(14), loop=True)
        numbers[f"loop seam, {name}"] = {"seam": _seam_jump(run.latents, run.times, 8.0),
                                         **_jumps_at_keys(run.latents, run.times, run.diagnostics["key_frames"])}
    for ax in axes:
        for frame in (f - 1, 2 * (f - 1)):
            ax.axvline(2.0 * frame / (f - 1), color="0.6", ls=":", lw=1)
        ax.set_xlabel("t (keys at 0, T, 2T, 3T; T = 2)")
        ax.grid(alpha=0.3)
    axes[0].set_title("one coordinate of one path")
    axes[1].set_title("its velocity (finite differences)")
    axes[2].set_title(f"velocity jump per frame (rms over {n} coordinates)")
    axes[0].legend(fontsize=8, loc="best")
    fig.suptitle("Through four keys with the squared exponential kernel: jointly conditioned (smooth through the "
                 "keys) against chained bridges (a kink at each)", fontsize=10)
    fig.tight_layout()
    _save(fig, out / "keyframes_velocity.png")
    numbers["n"], numbers["frames_per_segment"] = n, f
    return numbers


# ---------------------------------------------------------------------------------------------

FIGURES = {
    "sphere": figure_sphere,
    "ou": figure_ou_moments,
    "kernels": figure_kernels,
    "digits": figure_digits_map,
    "walks": figure_pose_walks,
    "langevin": figure_langevin,
    "compare": figure_compare,
    "keyframes": figure_keyframes,
}


def _parse(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m latent_bridge.reproduce",
        description="Reproduce the poster's claims as figures and a numbers.json of measured values.",
    )
    parser.add_argument("--out", type=Path, required=True, help="folder for the figures and numbers.json")
    parser.add_argument("--quick", action="store_true", help="smaller runs (for CI): under a minute")
    parser.add_argument("--only", default=None,
                        help=f"comma-separated figure names, from: {', '.join(FIGURES)} (default: all)")
    args = parser.parse_args(argv)
    if args.only is not None:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in FIGURES]
        if unknown or not names:
            parser.error(f"--only: unknown figure(s) {unknown or args.only!r}; allowed: {', '.join(FIGURES)}")
        args.only = names
    return args


def main(argv=None) -> int:
    """Run the figures, write ``numbers.json`` and print each figure's numbers; returns 0."""
    args = _parse(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "numbers.json"
    numbers: dict = {"quick": args.quick}
    if args.only and path.is_file():
        # Re-running some figures keeps the others' numbers (from a run of the same size).
        previous = json.loads(path.read_text())
        if previous.get("quick") == args.quick:
            numbers = previous
    for name in args.only or FIGURES:
        start = time.perf_counter()
        numbers[name] = FIGURES[name](args.out, args.quick)
        numbers[name]["seconds"] = round(time.perf_counter() - start, 2)
        print(f"[{name}] {json.dumps(numbers[name])}")
    path.write_text(json.dumps(numbers, indent=2, sort_keys=False) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
