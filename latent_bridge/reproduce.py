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
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

os.environ.setdefault("MPLBACKEND", "Agg")
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from . import bridges, kernels  # noqa: E402

DPI = 90
METHOD_COLORS = {
    "linear": "#d62728", "slerp": "#1f77b4", "ou": "#2ca02c", "gp": "#9467bd", "langevin": "#ff7f0e",
}


class FigureUnavailable(RuntimeError):
    """A figure needs a part of the library that is missing (said in the message)."""


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _save(fig, path: Path) -> None:
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)


# ---------------------------------------------------------------------------------------------
# 1. The sphere and the line


def figure_sphere(out: Path, quick: bool) -> dict:
    """|z(t)| / sqrt(n) along OU-bridge paths for several T, against linear and slerp, at
    n = 4096 and n = 64 (the poses latent size). Claim: small T is the line (whose midpoint
    dips to ~0.71 sqrt(n)), large T stays on the sphere of radius sqrt(n)."""
    dims = (4096, 64)
    horizons = (0.01, 0.1, 1.0, 5.0, 20.0)
    frames, n_paths = (41, 16) if quick else (101, 256)
    cmap = plt.get_cmap("viridis")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    numbers: dict = {"frames": frames, "n_paths": n_paths}
    for ax, n in zip(axes, dims):
        gen = _seeded(1)
        z0, z1 = torch.randn(n, generator=gen), torch.randn(n, generator=gen)
        u = np.linspace(0.0, 1.0, frames)
        entry: dict = {}
        for name in ("linear", "slerp"):
            path = bridges.get(name).sample(z0, z1, frames)[0]
            ratio = (path.norm(dim=-1) / math.sqrt(n)).numpy()
            entry[name] = {"midpoint": float(ratio[frames // 2]), "min": float(ratio.min())}
            ax.plot(u, ratio, color=METHOD_COLORS[name], lw=2.2, ls="--", label=name, zorder=3)
        for i, T in enumerate(horizons):
            paths = bridges.get("ou", T=T).sample(z0, z1, frames, n_paths=n_paths, generator=gen)
            ratio = (paths.norm(dim=-1) / math.sqrt(n)).numpy()  # (n_paths, frames)
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
    """Empirical mean and variance of many 1-D OU-bridge paths (and of ``ou-sde`` when it is
    available) against the closed forms, for three horizons T."""
    horizons = (0.5, 2.0, 8.0)
    z0, z1 = -1.5, 2.0
    frames, n_paths = (21, 4000) if quick else (41, 40000)
    samplers = {"ou": {}}
    try:
        bridges.get("ou-sde", T=1.0)
        samplers["ou-sde"] = {}
    except ValueError as err:  # not registered (yet): say so in the numbers
        samplers["ou-sde"] = None
        missing_sde = str(err)
    fig, (ax_m, ax_v) = plt.subplots(1, 2, figsize=(11, 4.2))
    numbers: dict = {"z0": z0, "z1": z1, "frames": frames, "n_paths": n_paths}
    colors = plt.get_cmap("tab10")
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
            if store is None:
                continue
            gen = _seeded(2 + i)
            paths = bridges.get(name, T=T).sample(
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
    for name, store in samplers.items():
        numbers[name] = store if store is not None else {"skipped": missing_sde}
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
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.4))
    numbers: dict = {"T": T, "frames": frames}
    a, b = torch.tensor([z0]), torch.tensor([z1])
    colors = plt.get_cmap("tab10")
    for ax, alpha in zip(axes.flat, alphas):
        sampler = bridges.get("gp", kernel=kernels.Exponential(alpha=alpha, beta=1.0), T=T)
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
        ax.set_title(f"exp(-|h|^{alpha:g}): alpha = {alpha:g}")
        ax.set_xlabel("t")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8, loc="upper left")

    sampler = bridges.get("gp", kernel=periodic, T=T)
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

FIGURES = {
    "sphere": figure_sphere,
    "ou": figure_ou_moments,
    "kernels": figure_kernels,
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
    """Run the figures; write ``numbers.json``; return 1 if a figure could not be made."""
    args = _parse(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "numbers.json"
    numbers: dict = {"quick": args.quick}
    if args.only and path.is_file():
        # Re-running some figures keeps the others' numbers (from a run of the same size).
        previous = json.loads(path.read_text())
        if previous.get("quick") == args.quick:
            numbers = previous
    skipped = []
    for name in args.only or FIGURES:
        start = time.perf_counter()
        try:
            numbers[name] = FIGURES[name](args.out, args.quick)
        except FigureUnavailable as err:
            numbers[name] = {"skipped": str(err)}
            skipped.append(name)
            print(f"[{name}] SKIPPED: {err}", file=sys.stderr)
            continue
        numbers[name]["seconds"] = round(time.perf_counter() - start, 2)
        print(f"[{name}] {json.dumps(numbers[name])}")
    path.write_text(json.dumps(numbers, indent=2, sort_keys=False) + "\n")
    print(f"wrote {path}")
    return 1 if skipped else 0


if __name__ == "__main__":
    raise SystemExit(main())
