"""What a request costs before it runs: decode time per frame (measured), a particle sampler's
work and memory, and the GPU time asked of ZeroGPU. Each check refuses, naming what to lower,
a request that would hold the server's only worker too long.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import torch

from .. import registry
from ..sde import STEP_WORK, prior_factor
from .limits import LIMITS

_DECODE_SECONDS: dict[tuple, float] = {}
_DECODE_LOCK = threading.Lock()


def decode_seconds_per_frame(vae, fast: bool = False) -> float:
    """Seconds ``vae.decode`` takes per frame on this machine, for the model as loaded (device,
    dtype, memory format) at its current ``image_shape``: measured once (a warm-up frame, then
    a batch of two) and remembered for the process. fast: time the fast decoder (TAESD)
    where the model has one. vae: any model with ``decode(latents (B, *latent_shape), fast)``."""
    fast = bool(fast and getattr(vae, "has_fast_decoder", False))
    precision = str(getattr(vae, "precision", ""))
    key = (getattr(vae, "name", type(vae).__name__), precision, tuple(vae.latent_shape), fast)
    with _DECODE_LOCK:
        if key not in _DECODE_SECONDS:
            latents = torch.zeros((2, *vae.latent_shape))
            with torch.inference_mode():
                vae.decode(latents[:1], fast=fast)
                _synchronize(vae)
                start = time.perf_counter()
                vae.decode(latents, fast=fast)
                _synchronize(vae)
            _DECODE_SECONDS[key] = (time.perf_counter() - start) / 2
        return _DECODE_SECONDS[key]


def _synchronize(vae) -> None:
    device = getattr(vae, "device", None)
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)


# Decoding above diffusers' tiling threshold (``models.hub.TILING_ABOVE``) runs tile by tile with
# overlaps: its cost per pixel grows. The estimate for such shapes takes this margin on top.
TILED_MARGIN = 1.5


def scale_decode_seconds(seconds: float, measured_shape: tuple[int, int], shape: tuple[int, int],
                         tiled_above: int = 512) -> float:
    """A decode time per frame measured at ``measured_shape`` (height, width), estimated at
    ``shape``: a convolutional decoder costs in proportion to its pixels; ``TILED_MARGIN`` more
    when ``shape``'s longer side is above ``tiled_above`` (decoded in overlapping tiles)."""
    ratio = (shape[0] * shape[1]) / (measured_shape[0] * measured_shape[1])
    return seconds * ratio * (TILED_MARGIN if max(shape) > tiled_above >= max(measured_shape) else 1.0)


def check_decode_time(decoded_frames: int, seconds_per_frame: float, model: str = "this model") -> None:
    """Refuse a request whose decoding alone would take more than ``LIMITS.decode_seconds``.

    decoded_frames: frames x paths, summed over the methods (a deterministic method's paths are
    decoded once: ``pipeline.decoded_paths``); seconds_per_frame: from ``decode_seconds_per_frame``
    (at the request's resolution, on the device the model runs on).
    Raises ValueError naming the frames that fit and what else to change."""
    seconds = decoded_frames * seconds_per_frame
    if seconds > LIMITS.decode_seconds:
        most = int(LIMITS.decode_seconds // seconds_per_frame)
        raise ValueError(
            f"{model} decodes a frame in about {seconds_per_frame:.2g} s on this server, so these "
            f"{decoded_frames} frames (frames x paths x methods; linear and slerp decode one path) "
            f"would take {seconds / 60:.1f} min, above "
            f"its limit of {LIMITS.decode_seconds / 60:g} min: decode at most {most} frames in all "
            "(lower frames, paths or methods), lower the resolution, tick fast preview, or pick a "
            "faster model (taesd decodes about 10x faster than sd-vae)")


def gpu_seconds(decoded_frames: int, seconds_per_frame: float, particle_work: int = 0) -> int:
    """Seconds of GPU to ask ZeroGPU for (its ``duration``): the measured decoding time of the
    request twice over (encoding, endpoints and a busy GPU), the particle sampler's work at
    35 ns a unit (the slowest measured on a CPU core; see ``LIMITS.particle_work``), and 10 s
    for loading the inputs onto the device. At least 15 s."""
    return int(max(15, math.ceil(10 + 2 * decoded_frames * seconds_per_frame + particle_work * 35e-9)))


def particle_work(kwargs: dict[str, Any], latent_size: int, runs: int = 1, paths: int = 1, frames: int = 2) -> int:
    """What a Langevin request with these parameters costs at most, in units of
    ``LIMITS.particle_work``: the sampler's own ``work_units`` (``LangevinBridge.work_units``,
    whose time grid follows the frames), each keyframes segment a run; 0 for other samplers."""
    if "algorithm" not in kwargs:
        return 0
    sampler = registry.get("langevin", **kwargs)
    return sampler.work_units(frames, latent_size, paths, runs)


def check_particle_work(kwargs: dict[str, Any], latent_size: int, runs: int = 1, paths: int = 1,
                        frames: int = 2) -> None:
    """Refuse a Langevin request whose ``particle_work`` exceeds ``LIMITS.particle_work``, naming
    what to lower and the exact Gaussian-prior bridge instead (for a mixture prior under algorithm
    auto, why path-smc runs and what the cheaper choices give)."""
    work = particle_work(kwargs, latent_size, runs, paths, frames)
    if work <= LIMITS.particle_work:
        return
    config = registry.get("langevin", **kwargs).config
    over = f"{work:.2g}{f' over {runs} segments' if runs > 1 else ''}"
    if config.algorithm == "path-smc" and kwargs.get("algorithm") == "auto":
        # What auto runs for a mixture is the one sampler here right between its modes: say so,
        # and what the cheaper choices give instead.
        raise ValueError(
            "langevin with a mixture prior runs path-smc (algorithm auto: the sampler whose paths are draws of the "
            "bridge between the mixture's modes), whose work (islands x population x temperatures x moves x "
            f"coordinate blocks x time steps x latent size) = {over} is about {work / LIMITS.particle_work:.0f} "
            f"times this server's limit of {LIMITS.particle_work:.2g}: use ou with the fitted prior (the exact "
            "bridge of the preconditioned diffusion under the fitted Gaussian), or set algorithm path-mcmc (within "
            "the limit, but its chains keep the route between the modes they start on, and its R-hat warning says "
            "when the paths are not yet draws of the bridge), or run langevin through the latent_bridge library or "
            "its CLI on a machine of your own")
    if config.algorithm != "smc":
        terms, lower = "chains x rungs x sweeps", "sweeps, steps, blocks, rungs or paths"
        if config.algorithm == "path-smc":  # the work is linear in the population (at least paths / islands)
            terms = "islands x population x temperatures x moves"
            most = int(max(-(-paths // config.islands), config.population) * LIMITS.particle_work // work)
            lower = (f"population (at most {most} here), islands, moves, temperatures, steps, blocks or paths"
                     if most >= 2 else "islands, moves, temperatures, steps or blocks (at these, even a population "
                     "of 2 is too much)")
        raise ValueError(
            f"Langevin work ({terms} x coordinate blocks x time steps x latent size, "
            f"LangevinBridge.work_units) = {over}, above this server's limit of {LIMITS.particle_work:.2g}: lower "
            f"{lower}, or use ou with the fitted prior (the exact bridge of the preconditioned diffusion), or pick a "
            "model with a smaller latent")
    sweeps = 1 + kwargs.get("pcn_moves", 0)
    steps = kwargs.get("steps", 1)
    particles = 2 * max(kwargs["particles"], kwargs.get("max_particles", 0))
    factor = prior_factor(kwargs, latent_size)
    per_step = LIMITS.particle_work / (steps * sweeps * paths * runs * factor)
    most = int((per_step - STEP_WORK) // (2 * latent_size))
    lower = (f"lower max_particles (at most {most} here), paths, steps or pcn_moves" if most >= 1 else
             "lower paths, steps or pcn_moves (at these, even one particle is too much)")
    segments = f" x {runs} segments" if runs > 1 else ""
    prior = f" x {factor:g} (the prior)" if factor != 1 else ""
    raise ValueError(
        f"Langevin work: steps x (1 + pcn_moves) x paths{' x segments' if runs > 1 else ''}"
        f"{' x prior factor' if prior else ''} x (2 x max_particles x latent size + {STEP_WORK} a step) = "
        f"{steps} x {sweeps} x {paths}{segments}{prior} x ({particles} x {latent_size} + {STEP_WORK}) = "
        f"{work:.2g}, above this server's limit of {LIMITS.particle_work:.2g}: {lower}, or pick a model "
        "with a smaller latent")


def check_sampler_memory(sampler, frames: int, latent_shape: tuple[int, ...], paths: int = 1) -> None:
    """Refuse a sampler run of ``paths`` paths that would hold more than ``LIMITS.particle_memory``
    bytes (``sampler.memory_bytes``: the particle sampler's particle paths, the default
    Langevin's chain paths); samplers without it hold a few frames per path."""
    estimate = getattr(sampler, "memory_bytes", None)
    if estimate is None:
        return
    needed = estimate(frames, math.prod(latent_shape), paths)
    if needed > LIMITS.particle_memory:
        config = getattr(sampler, "config", None)
        smc = config is not None and config.algorithm == "smc"
        name, count = ("max_particles", config.max_particles) if smc else ("paths", paths)
        most = int(count * LIMITS.particle_memory / needed)
        what = "particle paths (paths x particles x frames x latent size)" if smc else \
            "chain paths (chains x time steps x latent size)"
        raise ValueError(
            f"{sampler.name} with these settings would hold about {needed / 2**30:.1f} GiB of {what}, above this "
            f"server's limit of {LIMITS.particle_memory / 2**30:g} GiB: lower {name} (at most {most} here), "
            f"{'paths, ' if smc else ''}frames, {'pcn_moves' if smc else 'steps'}, or pick a model with a smaller "
            "latent")
