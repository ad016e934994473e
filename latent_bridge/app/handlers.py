"""The tabs' bodies: a request's values -> ``jobs.read_job`` -> ``render`` -> what the page
shows. ``endpoint`` adapts each body to Gradio; it is the one place where a ValueError from the
library or the checks becomes a message on the page (``gr.Error``).
"""

from __future__ import annotations

import dataclasses
import inspect
import shutil
import threading
import uuid
from pathlib import Path

import gradio as gr
from gradio.context import LocalContext

import latent_bridge as lb

from .. import registry
from .controls import INTERNAL_NAMES, api_words
from . import jobs
from .jobs import Job, read_job
from .limits import LIMITS, check_choice, check_keyframe_request, check_methods, check_whole
from .models import MAP_MODELS, MODELS, has_latent_map, load_model, usable_photo_models
from . import cache
from .cache import Refused
from .guards import FINISHED, GONE
from .storage import inside, session_folder
from .visitors import ACTIVITY, visitor_of_request
from .zerogpu import gpu

REGISTRY = registry.available()
# A random walk loops from one image: only random methods move.
WALK_METHODS = [name for name in REGISTRY if registry.get(name).stochastic]
# What the embedded models know, for the notice when an image is not of that kind.
KNOWS = {"poses": "stick figures", "digits": "handwritten digits", "fashion": "grey pictures of clothes"}


class Server:
    """The running page, for the handlers: its cache folder and queue (set by ``ui.build_demo``)."""

    demo = None


def endpoint(body, names: list[str], methods: list[str]):
    """A Gradio handler for ``body(values, request, progress)`` whose signature lists
    ``names`` (so the API page and gradio_client show ``frames``, ``kernel``... rather than
    positional slots; the names come from the registry, hence a signature built at run time).

    The events using it run with ``preprocess=False``: values arrive as sent and are checked by
    ``jobs.read_job``, and an uploaded image arrives as its file, undecoded (gr.Image would open
    it with Pillow first and answer a bad file with a generic "Could not preprocess input")."""

    def handler(*args):
        *values, request, progress = args
        try:
            return body({INTERNAL_NAMES.get(n, n): v for n, v in zip(names, values)}, request, progress)
        except ValueError as error:
            raise gr.Error(str(error), print_exception=False) from None
        except Abandoned:
            raise gr.Error("stopped: the page that asked for this was closed", print_exception=False) from None

    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    handler.__signature__ = inspect.Signature(
        [inspect.Parameter(name, kind) for name in names]
        + [inspect.Parameter("request", kind, annotation=gr.Request),
           inspect.Parameter("progress", kind, default=gr.Progress(track_tqdm=True))])
    handler.__annotations__ = {"request": gr.Request}  # Gradio finds the request by type hint
    handler.__name__ = body.__name__
    handler.__doc__ = api_doc(body, names, methods)
    return handler


def api_doc(body, names: list[str], methods: list[str]) -> str:
    """``body``'s docstring (what it does, "Returns:") with an "Args:" line for each of ``names``
    in plain words with its range: what the API page and an MCP client (the tool's description)
    show an agent."""
    doc = inspect.cleandoc(body.__doc__ or "")
    description, _, returns = doc.partition("Returns:")
    args = "\n".join(f"{name}: {api_words(name, list(MODELS), methods)}" for name in names)
    return f"{description.strip()}\n\nArgs:\n{args}\n\nReturns:\n{returns.strip()}"


# ------------------------------------------------------------------------------------------
# Where results go, and work nobody waits for


def outputs_root() -> Path:
    """The app's own folder in Gradio's cache: every file the app writes or deletes is in it."""
    root = Path(Server.demo.GRADIO_CACHE) / "latent-bridge"
    root.mkdir(parents=True, exist_ok=True)
    return root


def kept_files() -> set[str]:
    """Files Gradio keeps in its cache for the page itself (the examples): never evicted."""
    return {str(p) for block in Server.demo.blocks.values() for p in getattr(block, "keep_in_cache", ())}


def output_dir(request) -> Path:
    """A fresh folder for one request's files inside this session's folder (named by the
    server, see ``storage.session_folder``): served as they are, removed when the visitor
    leaves, by ``delete_cache`` after an hour, or sooner to make room (``cache.CacheIndex``).
    Room for the results is reserved in the cache's index first (the visitor's share, then the
    cache's budget); the files are measured when the event ends. Work nobody waits for stops
    here, before any is done."""
    if not still_wanted():
        raise Abandoned()
    session = session_folder(outputs_root(), getattr(request, "session_hash", None))
    folder = inside(outputs_root(), session / uuid.uuid4().hex[:12])
    if cache.CURRENT is not None:
        try:
            cache.CURRENT.reserve(visitor_of_request(request), LIMITS.result_bytes, LIMITS.result_files,
                                 folder=folder, done=finished(request))
        except Refused as refusal:
            raise ValueError(refusal.text if refusal.status == 429 else
                             "the server's disk space for results is full: try again in a few minutes") from None
    folder.mkdir(parents=True)
    return folder


def finished(request):
    """A function telling whether the event behind ``request`` has ended: a queued event leaves
    Gradio's queue when its results are sent; a direct call ends with its HTTP request."""
    event_id = LocalContext.event_id.get(None)
    if event_id is not None:
        return lambda: event_id not in getattr(getattr(Server.demo, "_queue", None), "event_ids_to_events", {})
    scope = getattr(getattr(request, "request", None), "scope", None)
    return scope.setdefault(FINISHED, threading.Event()).is_set if isinstance(scope, dict) else (lambda: True)


def remove_session_files(request: gr.Request):
    """On leaving the page: that session's folder, and no other (whatever the client sent)."""
    shutil.rmtree(session_folder(outputs_root(), getattr(request, "session_hash", None)), ignore_errors=True)


class Abandoned(Exception):
    """The visitor who asked for this render has gone: stop instead of rendering for nobody."""


def still_wanted() -> bool:
    """False once nobody can receive the running event's results: Gradio marked it dead (its
    client disconnected: the queue sets ``alive = False`` on the session's jobs), no stream has
    been open for its session or event since it joined (``POST /call/...`` never read), or, for
    a direct call (``/run/...``), the client hung up (``guards.EventBodies`` marks it). True
    outside an event."""
    request = LocalContext.request.get(None)
    scope = getattr(getattr(request, "request", None), "scope", None)
    gone = scope.get(GONE) if isinstance(scope, dict) else None
    if gone is not None and gone.is_set():
        return False
    event_id = LocalContext.event_id.get(None)
    if event_id is None:
        return True
    for job in getattr(getattr(Server.demo, "_queue", None), "active_jobs", None) or ():
        for event in job or ():
            if getattr(event, "_id", None) == event_id:
                return bool(getattr(event, "alive", True)) and ACTIVITY.listened(
                    event.session_hash, event_id, getattr(event, "enqueue_time", 0.0))
    return True


def reporter(progress):
    """The pipeline's ``callback(done, total, message)`` feeding a gr.Progress bar; called at
    each decoded chunk, it also stops work whose visitor has left."""

    def report(done, total, message=""):
        if not still_wanted():
            raise Abandoned()
        progress((done, total), desc=message or None)

    return report


def job_seconds(job: Job, progress=None) -> int:
    """The GPU time to ask ZeroGPU for, from the request (``costs.gpu_seconds``)."""
    return job.gpu_seconds


@gpu(duration=job_seconds)
def render(job: Job, progress=gr.Progress()):
    """Encode, sample, decode: the heavy part. On ZeroGPU this runs in a GPU worker, which
    receives ``job`` pickled (names, numbers, image tensors) and sends back the results
    pickled (arrays and numbers: ``Result.detached``); progress goes through gr.Progress."""
    return jobs.render(job, load_model(job.model), reporter(progress))


# ------------------------------------------------------------------------------------------
# What the page shows


def notice(model: str, unfamiliar: list[tuple[str, str]]) -> str:
    """Plain words for images the model cannot represent, naming what to do; "" when none."""
    if not unfamiliar:
        return ""
    knows = KNOWS.get(model, f"the kind of images it was trained on ({MODELS.get(model, ('',))[0]})")
    usable = usable_photo_models()
    fix = (f"pick {' or '.join(f'`{n}`' for n in usable)} in the model list" if usable else
           "pick `sd-vae` or `taesd` in the model list (downloaded on first use)")
    which = ", ".join(label for label, _ in unfamiliar)
    reasons = list(dict.fromkeys(part for _, reason in unfamiliar for part in reason.split("; ")))
    verb = "does" if len(unfamiliar) == 1 else "do"
    return (f"⚠️ **{which} {verb} not look like what `{model}` knows** ({knows}): the video shows {knows}, "
            f"not your picture; {fix}. Why: {'; '.join(reasons)}.")


def summary(results: dict, unfamiliar_notice: str = "") -> str:
    """A sentence or two of plain words on the results' diagnostics (the full numbers stay in
    the details), after the notice when there is one."""
    lines = [unfamiliar_notice] if unfamiliar_notice else []
    first = next(iter(results.values())).diagnostics
    head = f"{first.get('n_paths', 1)} path(s) of {first.get('frames', '?')} frames"
    if len(results) == 1:
        d = first
        parts = [head]
        if "ssim_mean" in d:
            parts.append(f"adjacent frames alike at {d['ssim_mean']:.2f} (SSIM, 1 = identical), "
                         f"{d['ssim_min']:.2f} at the biggest jump")
        if "norm_ratio_min" in d:
            parts.append(f"latent length {d['norm_ratio_min']:.2f}-{d['norm_ratio_max']:.2f} x sqrt(n) "
                         "(near 1 where the prior keeps its mass)")
        lines.append("; ".join(parts) + ".")
    else:
        each = [f"{name} {r.diagnostics['ssim_mean']:.2f} / {r.diagnostics['norm_ratio_min']:.2f}-"
                f"{r.diagnostics['norm_ratio_max']:.2f}" for name, r in results.items()
                if "ssim_mean" in r.diagnostics and "norm_ratio_min" in r.diagnostics]
        lines.append(f"{head} each. Adjacent frames alike (SSIM, 1 = identical) / latent length x sqrt(n): "
                     + "; ".join(each) + ".")
    for name, result in results.items():
        lines.extend(f"⚠️ {name}: {text}" for text in result.diagnostics.get("warnings", []))
    return "\n\n".join(lines)


def warn(results: dict) -> None:
    """A sampler's warnings as toasts on the page, beside the result; they stay in the summary
    and the diagnostics for API clients. (The notice on the images heads the summary, in view.)"""
    for name, result in results.items():
        for text in result.diagnostics.get("warnings", []):
            gr.Warning(f"{name}: {text}", duration=None)


def run(job: Job, progress, model: str, unfamiliar) -> tuple[dict, str]:
    """``render`` the job; its notice and warnings shown; returns (results, summary)."""
    results = render(job, progress)
    text = notice(model, unfamiliar)
    warn(results)
    return results, summary(results, text)


def diagnostics(result) -> dict:
    return lb.metrics.rounded(result.diagnostics)


def path_outputs(result, folder: Path, stem: str, fps: int) -> tuple:
    """Video, [GIF, the native frames as PNGs (zip)], frame grid (through keyframes: with the
    images framed), norm profile. Small models' frames are enlarged smoothly for display."""
    files = [str(lb.media.write_gif(result, folder / f"{stem}.gif", fps=fps, smooth=True)),
             str(lb.media.write_png_sequence(result, folder / f"{stem}-frames.zip"))]
    grid = lb.media.frame_grid(result, smooth=True) if result.key_frames is None else \
        lb.media.keyframe_grid(result, smooth=True)
    return (str(lb.media.write_video(result, folder / f"{stem}.mp4", fps=fps, smooth=True)), files, grid,
            lb.plots.norm_profile_plot(result))


def interpolate(values, request, progress):
    """Interpolate between two images: a video of random paths through a VAE's latent space from
    image A to image B (or the straight blend, with method linear).

    Returns:
    video: an mp4 of the paths side by side (a file)
    files: [a looping GIF, a zip of every frame as a PNG at the model's size]
    grid: a PNG of sampled frames, one row per path
    norm_plot: the latent's length along each path against sqrt(n) (a plot)
    latent_map: for a model with a 2-D latent, the paths drawn on it, else nothing
    summary: plain words on smoothness and length; it starts with a notice when an image is not of the kind the model knows
    diagnostics: every number (SSIM between adjacent frames, norms, the sampler's own figures)"""
    method = check_choice("method", values["method"], REGISTRY)
    job, fps, vae, odd = read_job("interpolate", values, [method], [values["image_a"], values["image_b"]],
                                  ["image A", "image B"])
    folder = output_dir(request)
    results, text = run(job, progress, job.model, odd)
    result = results[method]
    latent_map = lb.plots.latent_map_plot(attach_data(result, vae)) if has_latent_map(vae) else None
    return (*path_outputs(result, folder, "interpolation", fps), latent_map, text, diagnostics(result))


def attach_data(result, vae):
    """A detached result with its model's encoded training set again (for the latent map)."""
    return dataclasses.replace(result, data_latents=vae.training_latents())


def random_walk(values, request, progress):
    """Random walks from one image: a looping video of random paths through a VAE's latent space
    that leave the image and come back to it.

    Returns:
    video: an mp4 of the walks side by side, its last frame its first (a file)
    files: [a looping GIF, a zip of every frame as a PNG at the model's size]
    grid: a PNG of sampled frames, one row per walk
    norm_plot: the latent's length along each walk against sqrt(n) (a plot)
    summary: plain words on smoothness and length; it starts with a notice when the image is not of the kind the model knows
    diagnostics: every number"""
    method = check_choice("method", values["method"], WALK_METHODS)
    job, fps, _, odd = read_job("random_walk", values, [method], [values["image"]], ["image"])
    folder = output_dir(request)
    results, text = run(job, progress, job.model, odd)
    return (*path_outputs(results[method], folder, "walk", fps), text, diagnostics(results[method]))


def compare(values, request, progress):
    """Compare methods: the same two images, seed and settings through several methods, side by
    side in one video.

    Returns:
    video: an mp4 of each method's first path side by side, labelled (a file)
    grid: a PNG of sampled frames, one row per method
    norm_plot: each method's latent length along the path against sqrt(n) (a plot)
    metrics_plot: step length, adjacent-frame SSIM, distance to the data, log prior density per method (a plot)
    summary: plain words per method; it starts with a notice when an image is not of the kind the model knows
    diagnostics: every number, per method"""
    methods = check_methods(values["methods"], REGISTRY)
    job, fps, _, odd = read_job("compare", values, methods, [values["image_a"], values["image_b"]],
                                ["image A", "image B"])
    folder = output_dir(request)
    results, text = run(job, progress, job.model, odd)
    return (
        str(lb.media.comparison_video(results, folder / "comparison.mp4", fps=fps, smooth=True)),
        lb.media.comparison_grid(results, smooth=True),
        lb.plots.norm_profile_plot(results),
        lb.plots.metrics_plot(results),
        text,
        {name: diagnostics(result) for name, result in results.items()},
    )


def keyframe_uploads(gallery) -> list:
    """The uploaded files of the images gallery, in order (Gradio's file data, undecoded). 2 to
    ``LIMITS.keys`` images, else a ValueError saying so."""
    items = [] if gallery is None else gallery
    if not isinstance(items, list):
        raise ValueError(f"images must be a list of 2 to {LIMITS.keys} images; got {type(items).__name__}")
    if not 2 <= len(items) <= LIMITS.keys:
        raise ValueError(f"upload or pick 2 to {LIMITS.keys} images, in order; got {len(items)}")
    return [item.get("image") if isinstance(item, dict) else None for item in items]


def keyframes(values, request, progress):
    """Keyframes: random paths through 2 to 8 images in order, smooth through each, optionally
    looping back to the first.

    Returns:
    video: an mp4 of the paths side by side (a file)
    files: [a looping GIF, a zip of every frame as a PNG at the model's size]
    grid: a PNG with the images framed and frames on the way between them
    norm_plot: the latent's length along the path, the images dotted (a plot)
    summary: plain words on smoothness and length; it starts with a notice when an image is not of the kind the model knows
    diagnostics: every number, with key_frames (where each image sits)"""
    method = check_choice("method", values["method"], REGISTRY)
    uploads = keyframe_uploads(values["images"])
    easing = check_choice("easing", values["easing"], lb.bridges.EASINGS)
    fps = check_whole("fps", values["fps"], 1, LIMITS.fps)
    loop = values["loop"]
    frames_per_segment, hold, frames = check_keyframe_request(
        n_keys=len(uploads), frames_per_segment=values["frames_per_segment"], loop=loop, hold=values["hold"],
        seconds=values["seconds"], fps=fps)
    # Each segment of a chained sampler is its own run: the particle work counts them all.
    job, fps, _, odd = read_job("keyframes", values, [method], uploads, [f"image {i + 1}" for i in range(len(uploads))],
                                frames=frames, runs=len(uploads) - 1 + loop,
                                task_options=dict(frames_per_segment=frames_per_segment, loop=loop, hold=hold,
                                                  easing=easing))
    folder = output_dir(request)
    results, text = run(job, progress, job.model, odd)
    return (*path_outputs(results[method], folder, "keyframes", fps), text, diagnostics(results[method]))


def show_latent_map(model_name):
    """After a run: the latent map shows for 2-D models only. Decided from a set made at start
    (this event is unqueued: it must never load a model)."""
    return gr.update(visible=isinstance(model_name, str) and model_name in MAP_MODELS)
