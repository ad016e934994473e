"""One request, read once: every value a visitor sends is checked into a ``Job`` (model, images,
samplers, sizes, cost) before any work, then rendered (in a GPU worker on ZeroGPU), then its
results go back to the page.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gradio.context import LocalContext

import latent_bridge as lb

from .. import pipeline, registry
from . import cache
from .costs import check_decode_time, check_sampler_memory, gpu_seconds, particle_work
from .controls import method_kwargs
from .limits import DEFAULTS, LIMITS, check_request, check_resolution, check_whole
from .models import FAST_PREVIEW_DEFAULT, check_model, load_model, seconds_per_frame
from .visitors import LOOPBACK, visitor_of_request

TASKS = ("interpolate", "random_walk", "compare", "keyframes")


@dataclass(frozen=True)
class Job:
    """One render, as small and plain as a GPU worker must receive it (ZeroGPU pickles it into
    another process): names, numbers and the prepared images, never a model or a function.

    task: one of ``TASKS``; model: the app's model name.
    images: float32 ``(1, C, H, W)`` tensors in [0, 1], already at the run's shape.
    samplers: ``(label, method, ((param, value), ...))`` for each method, checked.
    options: the pipeline function's keyword arguments (frames or frames_per_segment, n_paths,
        seed, fast_preview; loop, hold, easing through keyframes).
    decoded_frames, seconds_per_frame, particle_work: what the render costs, for its GPU
        duration (``gpu_seconds``).
    """

    task: str
    model: str
    images: tuple
    samplers: tuple
    options: tuple
    decoded_frames: int = 0
    seconds_per_frame: float = 0.0
    particle_work: int = 0

    @property
    def gpu_seconds(self) -> int:
        return gpu_seconds(self.decoded_frames, self.seconds_per_frame, self.particle_work)


def render(job: Job, vae, progress=None) -> dict[str, Any]:
    """Run ``job`` with ``vae`` (the model named ``job.model``, as the worker holds it): encode,
    sample, decode. Returns ``{label: Result}`` detached from the model (``Result.detached``:
    arrays, numbers and strings, small to pickle back); progress: ``callback(done, total,
    message)``."""
    if job.task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}; got {job.task!r}")
    samplers = {label: registry.get(method, **dict(params)) for label, method, params in job.samplers}
    options = {**dict(job.options), "progress": progress}
    images = list(job.images)
    if job.task == "compare":
        results = pipeline.compare(vae, *images, samplers, **options)
    else:
        ((label, sampler),) = samplers.items()
        if job.task == "keyframes":
            results = {label: pipeline.keyframes(vae, images, sampler, **options)}
        else:
            results = {label: getattr(pipeline, job.task)(vae, *images, sampler, **options)}
    return {label: result.detached() for label, result in results.items()}




def read_images(uploads: list, vae, labels: list[str]):
    """Uploaded files (Gradio's file data, undecoded: the events run with preprocess=False)
    -> (the model at the run's shape, [float32 (1, C, H, W) in [0, 1]]), checked by ``lb.data``
    and ``lb.pipeline.prepare_images`` (a Hub VAE keeps the first photo's aspect ratio)."""
    paths = []
    for upload, label in zip(uploads, labels):
        path = upload.get("path") if isinstance(upload, dict) else None
        if not path or not isinstance(path, str):
            raise ValueError(f"{label}: upload an image or click an example")
        if not readable(path):  # the words lb.data uses for a file that is not an image
            raise ValueError(f"{label}: could not read the image {Path(path).name or path!r}: not a valid image file")
        paths.append(path)
    shaped, images = pipeline.prepare_images(vae, paths, labels, max_pixels=LIMITS.image_pixels)
    return shaped, images, paths


def readable(path: str) -> bool:
    """Whether the visitor of the running event may have ``path`` read (``CacheIndex.readable_by``:
    in the cache, only their own uploads and the examples). The app's MCP server calls the
    events through a local client that uploads a call's images from the loopback without the
    caller's address, then joins with it (and ``x-gradio-user: mcp``): such an event may also
    read the loopback's uploads."""
    index = cache.CURRENT
    if index is None:
        return True
    request = LocalContext.request.get(None)
    if index.readable_by(visitor_of_request(request), path):
        return True
    headers = getattr(request, "headers", None) or {}
    return headers.get("x-gradio-user") == "mcp" and any(index.readable_by(address, path) for address in LOOPBACK)


def unfamiliar(vae, images: list, paths: list[str], labels: list[str]) -> list[tuple[str, str]]:
    """(label, why) for each image the model cannot represent (``lb.familiarity``); only models
    that record their held-out figures are asked (a round trip of a small model: milliseconds)."""
    if not getattr(vae, "heldout_metrics", lambda: {})():
        return []
    found = []
    for image, path, label in zip(images, paths, labels):
        rgb = lb.data.load_image(path, 64, channels=3, max_pixels=LIMITS.image_pixels)[None]
        fit = lb.familiarity.familiarity(vae, image, rgb)
        if not fit.familiar:
            found.append((label, fit.reason()))
    return found


def check_fast(values: dict) -> bool:
    fast = values.get("fast_preview", FAST_PREVIEW_DEFAULT)
    if not isinstance(fast, bool):
        raise ValueError(f"fast_preview must be true or false; got {type(fast).__name__}")
    return fast


def read_job(task: str, values: dict, methods: list[str], uploads: list, labels: list[str], frames=None,
             runs: int = 1, task_options: dict | None = None) -> tuple[Job, int, Any, list]:
    """Everything a user can get wrong is refused here, before the render: model, sizes,
    resolution, images, decode time, samplers. Returns (the Job for ``render``, fps, the model at
    the run's shape, [(image label, why the model cannot represent it)])."""
    model = check_model(values["model"])
    seed = pipeline.check_seed(values["seed"])
    fps = check_whole("fps", values["fps"], 1, LIMITS.fps)
    frames = check_whole("frames", values["frames"] if frames is None else frames, 4, LIMITS.frames)
    check_whole("paths", values["paths"], 1, LIMITS.paths)  # before any model loads
    fast = check_fast(values)
    side = check_resolution(values.get("resolution", DEFAULTS.resolution))
    vae = load_model(model)
    fast = fast and vae.has_fast_decoder
    shaped = vae  # our small VAEs have one shape; a Hub VAE takes the resolution
    if vae.resizable:
        side = side // vae.downsampling * vae.downsampling
        shaped = vae.with_image_shape(side, side)
    shaped, images, paths = read_images(uploads, shaped, labels)
    frames, n_paths = check_request(frames=frames, paths=values["paths"], image_side=shaped.image_shape,
                                    methods=len(methods))
    run_frames = (task_options or {}).get("frames_per_segment", frames)  # a keyframes segment is a run
    kwargs = {m: method_kwargs(m, values, shaped.latent_shape, runs, n_paths, run_frames) for m in methods}
    samplers = {m: registry.get(m, **kwargs[m]) for m in methods}
    decoded = frames * sum(pipeline.decoded_paths(sampler, n_paths) for sampler in samplers.values())
    seconds = seconds_per_frame(model, vae, shaped.image_shape, fast)
    check_decode_time(decoded, seconds, model)
    for sampler in samplers.values():
        check_sampler_memory(sampler, frames, shaped.latent_shape, n_paths)
    work = sum(particle_work(kwargs[m], math.prod(shaped.latent_shape), runs, n_paths, run_frames) for m in methods)
    options = {"n_paths": n_paths, "seed": seed, "fast_preview": fast, **(task_options or {"frames": frames})}
    job = Job(task=task, model=model, images=tuple(images),
              samplers=tuple((m, m, tuple(kwargs[m].items())) for m in methods),
              options=tuple(options.items()), decoded_frames=decoded,
              seconds_per_frame=seconds, particle_work=work)
    return job, fps, shaped, unfamiliar(shaped, images, paths, labels)
