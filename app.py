"""latent-bridge in the browser: interpolate, loop and compare in a VAE's latent space.

Run it with ``python app.py`` (honours GRADIO_SERVER_NAME / GRADIO_SERVER_PORT; ``--share``
asks Gradio for a public link). On a Hugging Face Space the same file is the entry point.

This file only builds the page and formats results: images are read by ``lb.data``, paths
sampled by the registered samplers (``lb.registry``) through ``lb.interpolate`` / ``lb.random_walk`` /
``lb.compare`` / ``lb.keyframes``,
files written by ``lb.media``; request limits live in ``latent_bridge.app_support``. Each
method's controls are generated from the sampler registry, so a newly registered sampler
appears here by itself.

Public endpoints (``gradio_client``): ``/interpolate``, ``/random_walk``, ``/compare``, ``/keyframes``.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import inspect
import math
import os
import shutil
import uuid
from pathlib import Path

import gradio as gr
from gradio.context import LocalContext

import latent_bridge as lb
from latent_bridge import app_support as support

try:  # ZeroGPU on a Space: a decorated call holds a GPU for its duration, in another process.
    import spaces

    gpu = spaces.GPU
except ImportError:
    def gpu(fn=None, duration=None):
        return fn if fn is not None else (lambda f: f)

ROOT = Path(__file__).resolve().parent
REGISTRY = lb.registry.available()
# One control per distinct parameter name over all methods; T sits in the main panel, the
# others in "Advanced". Visibility and defaults follow the chosen method's own Param.
PARAMS = lb.registry.all_params()
ADVANCED = [name for name in PARAMS if name != "T"]
MAIN = ["T", "frames", "paths", "seed", "fps"]
# The API's name for a parameter where it differs: gradio_client prints every parameter name in
# lower case (view_api), so the time horizon T is ``t`` there, the name it can be passed by.
API_NAMES = {"T": "t"}
INTERNAL_NAMES = {api: name for name, api in API_NAMES.items()}

MODELS = {name: (text, kind) for name, text, kind in lb.models.available()}
# Checkpoint folders the operator lists in LATENT_BRIDGE_MODEL_FOLDERS (``latent-bridge train``
# writes them), after the embedded models: {name: folder}. Only the operator names a folder.
_FOLDERS = support.model_folders(taken=MODELS)
LOCAL_FOLDERS = {name: folder for name, (folder, _) in _FOLDERS.items()}
MODELS = {**{n: m for n, m in MODELS.items() if m[1] == "embedded"},
          **{name: (text, "embedded") for name, (_, text) in _FOLDERS.items()},
          **{n: m for n, m in MODELS.items() if m[1] != "embedded"}}
DEFAULT_MODEL = "poses" if "poses" in MODELS else next(iter(MODELS))
HUB_MODELS = [name for name, (_, kind) in MODELS.items() if kind == "hub"]
# How the app loads each model: Hub VAEs with the device and precision policy's defaults
# ("auto": CUDA when there is one, the fastest safe precision), the KL-VAEs with their tiny
# decoder for fast previews; the embedded models on the CPU (they decode in microseconds).
MODEL_OPTIONS = {name: {"fast_decoder": True} for name in HUB_MODELS
                 if lb.models.hub.HUB_ALIASES[name][0] in lb.models.hub.FAST_DECODER_FOR}
# A Hub repo id typed by a visitor (checked before any download): on unless
# LATENT_BRIDGE_ALLOW_ANY_REPO=0 (a Space that wants a fixed list).
ANY_REPO = support.allow_any_repo()
# Repos never trimmed from the Hugging Face cache: the listed models' (and their tiny decoders').
LISTED_REPOS = frozenset(repo for repo, _, _ in lb.models.hub.HUB_ALIASES.values())
# Typed repos this process downloaded (not in the cache before): the only ones it may trim.
DOWNLOADED: set[str] = set()
ZERO_GPU = support.on_zero_gpu()
# The queue's one slot for heavy work (renders, Hub downloads), whichever tab asks.
RENDER_SLOT = "render"
# Where the Hub models decode on the CPU, fast preview starts ticked so that every tab's
# defaults fit the decode-time bound: SD's decoder takes 1.8 s a 256 px frame on 2 cores with
# native bfloat16 (6 s without), so 64 frames x 2 paths would be refused; TAESD's takes 0.1 to 0.4 s.
FAST_PREVIEW_DEFAULT = not ZERO_GPU and lb.models.pick_device("auto").type == "cpu"
if ZERO_GPU:  # ZeroGPU wants every model on CUDA at import; its workers inherit them.
    lb.models.CACHE_SIZE = len(MODELS) + 1
# Embedded models load in milliseconds; those with a 2-D latent get a latent map (typed repos
# join when loaded, at most MAP_MODELS_MOST in all).
MAP_MODELS = {name for name, (_, kind) in MODELS.items()
              if kind == "embedded"
              and tuple(lb.models.load_cached(LOCAL_FOLDERS.get(name, name)).latent_shape) == (2,)}
MAP_MODELS_MOST = 256
PHOTOS = sorted((ROOT / "assets" / "photos").glob("*.jpg"))

# A random walk loops from one image: only random methods move.
WALK_METHODS = [name for name in REGISTRY if lb.registry.get(name).stochastic]
COMPARE_METHODS = [name for name in ("linear", "slerp", "ou", "gp") if name in REGISTRY]


# ------------------------------------------------------------------------------------------
# Endpoints: plain functions of a dict of named values. `endpoint` adapts them to Gradio.


def endpoint(body, names: list[str]):
    """A Gradio handler for ``body(values, request, progress)`` whose signature lists
    ``names`` (so the API page and gradio_client show ``frames``, ``kernel``... rather than
    positional slots; the names come from the registry, hence a signature built at run time).

    This is the one place where a ValueError from the library (bad input, limits, a model
    that cannot be loaded) becomes a gr.Error: a toast on the page, AppError in gradio_client.

    The events using it run with ``preprocess=False``: values arrive as sent and are checked
    here, and an uploaded image arrives as its file, undecoded. (gr.Image opens every upload
    with Pillow before the handler runs, even with type="filepath", and answers an unreadable
    file with a generic "Could not preprocess input"; ``lb.data`` says what is wrong.)
    """

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
    handler.__doc__ = body.__doc__
    return handler


def check_model(value) -> str:
    """A listed model's name, or (where ``ANY_REPO``) a Hub repo id that passed the checks on the
    Hub's file list; a ValueError for anything else. Never a path: a typed value is only a repo id."""
    if (isinstance(value, str) and value in MODELS) or not ANY_REPO:
        return support.check_choice("model", value, MODELS)
    listed = f"model must be one of {', '.join(MODELS)}, or a Hub repo id"
    if not isinstance(value, str) or "/" not in value:
        raise ValueError(f"{listed} ('org/name'); got {lb.checks.shown(value, 80)!r}")
    try:
        support.typed_repo_id(value)
    except ValueError as error:
        raise ValueError(f"{listed}: {error}") from None
    return support.check_typed_repo(value).repo_id


def load_model(name):
    """A VAE from the per-process bounded cache: a listed model, or a typed Hub repo id loaded at
    the commit whose file list was checked (``support.check_typed_repo``), never from a folder."""
    name = check_model(name)
    if name in LOCAL_FOLDERS:
        return lb.models.load_cached(LOCAL_FOLDERS[name])
    if name in MODELS:
        return lb.models.load_cached(name, **MODEL_OPTIONS.get(name, {}))
    remote = support.check_typed_repo(name)
    options = {**remote.load_options(), "allow_local_folder": False}
    if remote.repo_id in lb.models.hub.FAST_DECODER_FOR:
        options["fast_decoder"] = True
    if not support.cached_before(remote):
        DOWNLOADED.add(remote.repo_id)
    vae = lb.models.load_cached(remote.repo_id, **options)
    if has_latent_map(vae) and len(MAP_MODELS) < MAP_MODELS_MOST:
        MAP_MODELS.add(remote.repo_id)  # a typed repo with a 2-D latent: its map shows too
    support.trim_typed_repos(support.LIMITS.typed_repos_bytes, DOWNLOADED,
                             keep=LISTED_REPOS | set(lb.models.cached_sources()))
    return vae


def fetch_repo(text, progress=gr.Progress(track_tqdm=True)):
    """The repo id field's Load: check the repo on the Hub, download it (huggingface_hub's
    progress shows), keep it in the model cache, and make it the tab's chosen model."""
    try:
        remote = support.check_typed_repo(text)
        vae = load_model(remote.repo_id)
    except ValueError as error:
        raise gr.Error(str(error), print_exception=False) from None
    choices = model_choices() + [(f"{remote.repo_id} (Hub repo)", remote.repo_id)]
    shape = "x".join(map(str, vae.latent_shape))
    kind = f"diffusers {vae.kind}" if remote.kind == "diffusers" else "latent-bridge VAE"
    status = f"**{remote.repo_id}** loaded: {kind}, {shape} latents, {remote.download_bytes / 1e6:,.1f} MB"
    return gr.update(choices=choices, value=remote.repo_id), status


def read_images(uploads: list, vae, labels: list[str]):
    """Uploaded files (Gradio's file data, undecoded: the events run with preprocess=False)
    -> (the model at the run's shape, [float32 (1, C, H, W) in [0, 1]]), checked by ``lb.data``
    and ``lb.pipeline.prepare_images`` (a Hub VAE keeps the first photo's aspect ratio)."""
    paths = []
    for upload, label in zip(uploads, labels):
        path = upload.get("path") if isinstance(upload, dict) else None
        if not path or not isinstance(path, str):
            raise ValueError(f"{label}: upload an image or click an example")
        paths.append(path)
    return lb.pipeline.prepare_images(vae, paths, labels, max_pixels=support.LIMITS.image_pixels)


# Decode times measured per (model, fast decoder), at the model's loaded shape: by the GPU
# worker itself on ZeroGPU (``measure_decoding``), in this process elsewhere.
_MEASURED: dict[tuple[str, bool], float] = {}


@gpu(duration=60)
def measure_decoding(model: str, fast: bool) -> float:
    """Seconds a frame of ``model`` takes to decode where renders run (inside the GPU context
    on ZeroGPU), at the model's loaded shape."""
    return support.decode_seconds_per_frame(load_model(model), fast)


def seconds_per_frame(model: str, vae, shape: tuple[int, int], fast: bool) -> float:
    """The decode time per frame of ``model`` at ``shape`` on the device it runs on."""
    if (model, fast) not in _MEASURED:
        if len(_MEASURED) >= 64:  # typed repo ids: keep the table bounded
            _MEASURED.pop(next(iter(_MEASURED)))
        _MEASURED[(model, fast)] = measure_decoding(model, fast)
    measured = _MEASURED[(model, fast)]
    return support.scale_decode_seconds(measured, vae.image_shape, shape, lb.models.hub.TILING_ABOVE)


def prepare(values: dict, methods: list[str], uploads: list, labels: list[str], frames=None, runs: int = 1,
            task_options: dict | None = None) -> tuple:
    """Everything a user can get wrong is refused here, before the render: model, sizes,
    resolution, images, decode time, samplers. Returns (the Job for ``render``, fps, the model
    at the run's shape)."""
    model = check_model(values["model"])
    seed = support.check_seed(values["seed"])
    fps = support.check_whole("fps", values["fps"], 1, support.LIMITS.fps)
    frames = support.check_whole("frames", values["frames"] if frames is None else frames, 4, support.LIMITS.frames)
    support.check_whole("paths", values["paths"], 1, support.LIMITS.paths)  # before any model loads
    fast = values.get("fast_preview", FAST_PREVIEW_DEFAULT)
    if not isinstance(fast, bool):
        raise ValueError(f"fast_preview must be true or false; got {type(fast).__name__}")
    side = support.check_resolution(values.get("resolution", support.DEFAULTS.resolution))
    vae = load_model(model)
    fast = fast and vae.has_fast_decoder
    shaped = vae  # our small VAEs have one shape; a Hub VAE takes the resolution
    if vae.resizable:
        side = side // vae.downsampling * vae.downsampling
        shaped = vae.with_image_shape(side, side)
    shaped, images = read_images(uploads, shaped, labels)
    frames, paths = support.check_request(frames=frames, paths=values["paths"], image_side=shaped.image_shape,
                                          methods=len(methods))
    kwargs = {m: support.method_kwargs(m, values, shaped.latent_shape, runs, paths) for m in methods}
    samplers = {m: lb.registry.get(m, **kwargs[m]) for m in methods}
    decoded = frames * sum(lb.pipeline.decoded_paths(sampler, paths) for sampler in samplers.values())
    seconds = seconds_per_frame(model, vae, shaped.image_shape, fast)
    support.check_decode_time(decoded, seconds, model)
    for sampler in samplers.values():
        support.check_sampler_memory(sampler, frames, shaped.latent_shape, paths)
    work = sum(support.particle_work(kwargs[m], math.prod(shaped.latent_shape), runs, paths) for m in methods)
    options = {"n_paths": paths, "seed": seed, "fast_preview": fast, **(task_options or {"frames": frames})}
    job = support.Job(task="", model=model, images=tuple(images),
                      samplers=tuple((m, m, tuple(kwargs[m].items())) for m in methods),
                      options=tuple(options.items()), decoded_frames=decoded,
                      seconds_per_frame=seconds, particle_work=work)
    return job, fps, shaped


def outputs_root() -> Path:
    """The app's own folder in Gradio's cache: every file the app writes or deletes is in it."""
    root = Path(demo.GRADIO_CACHE) / "latent-bridge"
    root.mkdir(parents=True, exist_ok=True)
    return root


def output_dir(request) -> Path:
    """A fresh folder for one request's files inside this session's folder (named by the
    server, see ``support.session_folder``): served as they are, removed when the visitor
    leaves, by ``delete_cache`` after an hour, or sooner when the disk budget is reached."""
    if support.tidy_cache(demo.GRADIO_CACHE, support.LIMITS.cache_bytes, keep=kept_files()) > support.LIMITS.cache_bytes:
        raise ValueError("the server's disk space for results is full: try again in a few minutes")
    session = support.session_folder(outputs_root(), getattr(request, "session_hash", None))
    folder = support.inside(outputs_root(), session / uuid.uuid4().hex[:12])
    folder.mkdir(parents=True)
    return folder


def remove_session_files(request: gr.Request):
    """On leaving the page: that session's folder, and no other (whatever the client sent)."""
    shutil.rmtree(support.session_folder(outputs_root(), getattr(request, "session_hash", None)),
                  ignore_errors=True)


class Abandoned(Exception):
    """The visitor who asked for this render has gone: stop instead of rendering for nobody."""


def still_wanted() -> bool:
    """False once Gradio has marked the running event dead (its client disconnected: Gradio's
    queue sets ``alive = False`` on the session's jobs). True outside a queued event."""
    event_id = LocalContext.event_id.get(None)
    if event_id is None:
        return True
    for job in getattr(getattr(demo, "_queue", None), "active_jobs", None) or ():
        for event in job or ():
            if getattr(event, "_id", None) == event_id:
                return bool(getattr(event, "alive", True))
    return True


def reporter(progress):
    """The pipeline's ``callback(done, total, message)`` feeding a gr.Progress bar; called at
    each decoded chunk, it also stops work whose visitor has left."""

    def report(done, total, message=""):
        if not still_wanted():
            raise Abandoned()
        progress((done, total), desc=message or None)

    return report


def job_seconds(job, progress=None) -> int:
    """The GPU time to ask ZeroGPU for: from the request (frames x paths x methods x the
    measured time per frame, with margin; see ``support.gpu_seconds``)."""
    return job.gpu_seconds


@gpu(duration=job_seconds)
def render(job, progress=gr.Progress()):
    """Encode, sample, decode: the heavy part. On ZeroGPU this runs in a GPU worker, which
    receives ``job`` pickled (names, numbers, image tensors) and sends back the results
    pickled (arrays and numbers: ``Result.detached``); progress goes through gr.Progress."""
    return support.render(job, load_model(job.model), reporter(progress))


def run(job, task: str, progress):
    """``render`` the job as ``task``, with its warnings shown on the page."""
    results = render(dataclasses.replace(job, task=task), progress)
    warn(results)
    return results


def has_latent_map(vae) -> bool:
    """Latents in the plane can be drawn as they are (the digits model)."""
    return tuple(vae.latent_shape) == (2,)


def show_latent_map(model_name):
    """After a run: the latent map shows for 2-D models only. Decided from a set made at start
    (this event is unqueued: it must never load a model)."""
    return gr.update(visible=isinstance(model_name, str) and model_name in MAP_MODELS)


def warn(results: dict) -> None:
    """A sampler's warnings (``diagnostics["warnings"]``: e.g. too few particles) as notices on
    the page, beside the result; they stay in the diagnostics for API clients."""
    for name, result in results.items():
        for text in result.diagnostics.get("warnings", []):
            gr.Warning(f"{name}: {text}", duration=None)


def path_outputs(result, folder: Path, stem: str, fps: int) -> tuple:
    """What the Interpolate, Random walk and Keyframes tabs show of one result: video, GIF,
    frame grid (through keyframes: with the images framed), norm profile."""
    return (
        str(lb.media.write_video(result, folder / f"{stem}.mp4", fps=fps)),
        str(lb.media.write_gif(result, folder / f"{stem}.gif", fps=fps)),
        lb.media.frame_grid(result) if result.key_frames is None else lb.media.keyframe_grid(result),
        lb.plots.norm_profile_plot(result),
    )


def interpolate(values, request, progress):
    """Two images -> video, GIF, frame grid, norm profile, latent map (2-D models), diagnostics."""
    method = support.check_choice("method", values["method"], REGISTRY)
    job, fps, vae = prepare(values, [method], [values["image_a"], values["image_b"]], ["image A", "image B"])
    folder = output_dir(request)
    result = run(job, "interpolate", progress)[method]
    latent_map = lb.plots.latent_map_plot(attach_data(result, vae)) if has_latent_map(vae) else None
    return (*path_outputs(result, folder, "interpolation", fps), latent_map, lb.metrics.rounded(result.diagnostics))


def attach_data(result, vae):
    """A detached result with its model's encoded training set again (for the latent map)."""
    return dataclasses.replace(result, data_latents=vae.training_latents())


def random_walk(values, request, progress):
    """One image -> a looping video of random walks that leave it and come back."""
    method = support.check_choice("method", values["method"], WALK_METHODS)
    job, fps, _ = prepare(values, [method], [values["image"]], ["image"])
    folder = output_dir(request)
    result = run(job, "random_walk", progress)[method]
    return (*path_outputs(result, folder, "walk", fps), lb.metrics.rounded(result.diagnostics))


def compare(values, request, progress):
    """Two images, several methods, same seed -> labelled video and grid, norm profiles, the
    other path metrics, diagnostics."""
    methods = support.check_methods(values["methods"], REGISTRY)
    job, fps, _ = prepare(values, methods, [values["image_a"], values["image_b"]], ["image A", "image B"])
    folder = output_dir(request)
    results = run(job, "compare", progress)
    return (
        str(lb.media.comparison_video(results, folder / "comparison.mp4", fps=fps)),
        lb.media.comparison_grid(results),
        lb.plots.norm_profile_plot(results),
        lb.plots.metrics_plot(results),
        {name: lb.metrics.rounded(result.diagnostics) for name, result in results.items()},
    )


def keyframe_uploads(gallery) -> list:
    """The uploaded files of the images gallery, in order (Gradio's file data, undecoded: each
    is read by ``read_image``). 2 to ``LIMITS.keys`` images, else a ValueError saying so."""
    items = [] if gallery is None else gallery
    if not isinstance(items, list):
        raise ValueError(f"images must be a list of 2 to {support.LIMITS.keys} images; got {type(items).__name__}")
    if not 2 <= len(items) <= support.LIMITS.keys:
        raise ValueError(f"upload or pick 2 to {support.LIMITS.keys} images, in order; got {len(items)}")
    return [item.get("image") if isinstance(item, dict) else None for item in items]


def keyframes(values, request, progress):
    """2 to 8 images -> random paths through them in order: video, GIF, the frames as PNGs (zip),
    the grid with the images framed, the norm profile, diagnostics."""
    method = support.check_choice("method", values["method"], REGISTRY)
    uploads = keyframe_uploads(values["images"])
    easing = support.check_choice("easing", values["easing"], lb.bridges.EASINGS)
    fps = support.check_whole("fps", values["fps"], 1, support.LIMITS.fps)
    loop = values["loop"]
    frames_per_segment, hold, frames = support.check_keyframe_request(
        n_keys=len(uploads), frames_per_segment=values["frames_per_segment"], loop=loop, hold=values["hold"],
        seconds=values["seconds"], fps=fps)
    # Each segment of a chained sampler is its own run: the particle work counts them all.
    job, fps, _ = prepare(values, [method], uploads, [f"image {i + 1}" for i in range(len(uploads))], frames=frames,
                          runs=len(uploads) - 1 + loop,
                          task_options=dict(frames_per_segment=frames_per_segment, loop=loop, hold=hold, easing=easing))
    folder = output_dir(request)
    result = run(job, "keyframes", progress)[method]
    frames_zip = lb.media.write_png_sequence(result, folder / "frames.zip")
    return (*path_outputs(result, folder, "keyframes", fps), str(frames_zip), lb.metrics.rounded(result.diagnostics))


# ------------------------------------------------------------------------------------------
# Method controls, generated from the registry; UI-only events are private and unqueued.


def ui_event(method):
    """A UI-only event handler that never fails the request: these run unqueued and anyone
    can call them with any values, so an unexpected error leaves the page as it is (and is
    logged) instead of answering HTTP 500. Each does only bounded work (checked inside)."""

    @functools.wraps(method)
    def guarded(self, *args):
        try:
            return method(self, *args)
        except Exception as error:  # noqa: BLE001 - the page stays as it was
            print(f"ui event {method.__name__} refused its values: {type(error).__name__}: {error}")
            return gr.skip()

    return guarded


def param_info(param) -> str:
    return f"{param.help}; {param.range_text()}"


def param_control(param, value, visible: bool):
    """One input for a sampler parameter. Its range is in the info line and enforced by the
    sampler on the server (component bounds would answer with Gradio's text, not ours)."""
    common = dict(label=param.name, info=param_info(param), visible=visible)
    if param.kind == "choice":
        return gr.Dropdown(list(param.choices), value=value, interactive=True, **common)
    if param.kind == "bool":
        return gr.Checkbox(value=value, **common)
    return gr.Number(value=value, precision=0 if param.kind == "int" else None, **common)


class MethodPanel:
    """Method picker, the main-panel numbers, the advanced parameters and the live line.

    ``multiselect``: a CheckboxGroup of methods (Compare) sharing one set of values;
    otherwise a Dropdown whose change resets the parameters to that method's defaults
    (with this tab's ``overrides``, {method: {param: value}}). ``frames``: (label, start,
    info) of the frame-count control where it counts something else (Keyframes: per segment)."""

    def __init__(self, methods: list[str], default, overrides: dict | None = None, multiselect: bool = False,
                 frames: tuple[str, int, str] | None = None):
        self.multiselect = multiselect
        self.overrides = overrides or {}
        chosen = list(default) if multiselect else [default]
        values = support.start_values(chosen, self.overrides if multiselect else self.overrides.get(default, {}))
        shown = support.shown_params(chosen, values)
        if multiselect:
            self.method = gr.CheckboxGroup(methods, value=chosen, label="methods",
                                           info="the same images, seed, T and frames for each")
        else:
            self.method = gr.Dropdown(methods, value=default, label="method",
                                      info=REGISTRY[default]["description"])
        with gr.Row():
            T = gr.Number(value=values["T"], label="T", min_width=100,
                          info=f"time horizon, at least {lb.bridges.MIN_T:g}: longer is more random")
            label, start, info = frames or ("frames", support.DEFAULTS.frames,
                                            f"per path, images included; 4 to {support.LIMITS.frames}")
            frames = gr.Number(value=start, precision=0, label=label, info=info, min_width=100)
            paths_info = "per method; video and grid show the first, the profile all" if multiselect else "side by side"
            paths = gr.Number(value=support.DEFAULTS.paths, precision=0, label="paths",
                              info=f"{paths_info}; 1 to {support.LIMITS.paths}", min_width=100)
        with gr.Row():
            seed = gr.Number(value=support.DEFAULTS.seed, precision=0, label="seed")
            fps = gr.Number(value=support.DEFAULTS.fps, precision=0, label="fps", info=f"1 to {support.LIMITS.fps}")
        self.main = [T, frames, paths, seed, fps]
        self.line = gr.Markdown(support.smoothness_line(chosen, values, support.DEFAULTS.frames))
        with gr.Accordion("Advanced: method parameters", open=False):
            self.advanced = [param_control(PARAMS[name], values[name], name in shown) for name in ADVANCED]
        self.params = [T] + self.advanced  # in the order ["T"] + ADVANCED
        self.inputs = [self.method] + self.main + self.advanced

    def _read(self, choice, frames, param_values):
        """The client's values, as sent: only known method names are kept (in order)."""
        chosen = choice if isinstance(choice, (list, tuple)) else [choice]
        methods = [m for m in chosen if isinstance(m, str) and m in REGISTRY][: support.LIMITS.methods]
        if not self.multiselect:
            methods = methods[:1]
        return methods, frames, dict(zip(["T"] + ADVANCED, param_values))

    def _visibility(self, methods, values, reset_to=None):
        shown = support.shown_params(methods, values)
        updates = []
        for name in ["T"] + ADVANCED:
            param = shown.get(name)
            if param is None:
                updates.append(gr.update(visible=False))
            elif reset_to is not None:
                info = {} if name == "T" else {"info": param_info(param)}  # T keeps its short line
                if param.kind == "choice":  # methods may offer different choices under one name (prior)
                    info["choices"] = list(param.choices)
                    reset_to = {**reset_to, name: reset_to[name] if reset_to[name] in param.choices else param.default}
                updates.append(gr.update(visible=True, value=reset_to[name], **info))
            else:
                updates.append(gr.update(visible=True))
        return updates

    @ui_event
    def on_method(self, choice, frames, *param_values):
        methods, frames, values = self._read(choice, frames, param_values)
        if not methods:
            return [gr.update()] * (1 + len(self.params)) + [support.smoothness_line(methods, values, frames)]
        if self.multiselect:
            return [gr.update()] + self._visibility(methods, values) + [
                support.smoothness_line(methods, values, frames)]
        choice = methods[0]
        values = support.start_values(methods, self.overrides.get(choice, {}))
        return ([gr.update(info=REGISTRY[choice]["description"])]
                + self._visibility(methods, values, reset_to=values)
                + [support.smoothness_line(methods, values, frames)])

    @ui_event
    def on_choice(self, choice, frames, *param_values):
        methods, _, values = self._read(choice, frames, param_values)
        return self._visibility(methods, values)

    @ui_event
    def on_value(self, choice, frames, *param_values):
        methods, frames, values = self._read(choice, frames, param_values)
        return support.smoothness_line(methods, values, frames)

    def wire(self):
        """UI-only events (private, unqueued so they never wait behind a render)."""
        # preprocess=False: values arrive as sent and are checked here (Gradio's own checks
        # answer a bad value with HTTP 500)
        ui = dict(api_visibility="private", queue=False, show_progress="hidden", preprocess=False)
        watched = [self.method, self.main[1]] + self.params
        self.method.change(self.on_method, watched, [self.method] + self.params + [self.line], **ui)
        for control in self.advanced:
            if isinstance(control, gr.Dropdown):  # a choice (the kernel) decides which others apply
                control.change(self.on_choice, watched, self.params, **ui)
        for control in [self.main[1]] + self.params:
            control.change(self.on_value, watched, self.line, **ui)


# ------------------------------------------------------------------------------------------
# Examples: the embedded models' own example images, one click to a result


@functools.cache
def example_images(model_name: str) -> list[str]:
    """The model's shipped example images; none (with a note) when its checkpoint is missing."""
    try:
        return [str(p) for p in load_model(model_name).example_images()]
    except ValueError as error:  # a checkpoint not trained yet: the page still starts
        print(f"no examples for {model_name}: {error}")
        return []


def example_rows(pairs: bool) -> tuple[list, list]:
    """Rows ``[model, image]`` or ``[model, image_a, image_b]`` from each embedded model's
    ``example_images()`` and a label per row; the default model comes first."""
    rows, labels = [], []
    names = sorted((n for n, (_, kind) in MODELS.items() if kind == "embedded"), key=lambda n: n != DEFAULT_MODEL)
    for name in names:
        images = example_images(name)
        if pairs:
            for a, b in zip(images[0::2], images[1::2]):
                rows.append([name, a, b])
                labels.append(f"{name}: {Path(a).stem} → {Path(b).stem}")
        else:
            for a in images:
                rows.append([name, a])
                labels.append(f"{name}: {Path(a).stem}")
    return rows, labels


def keyframe_example_rows() -> tuple[list, list]:
    """Rows ``[model, [four images], loop]``: each embedded model's first four example images
    in a loop, the default model first."""
    rows, labels = [], []
    names = sorted((n for n, (_, kind) in MODELS.items() if kind == "embedded"), key=lambda n: n != DEFAULT_MODEL)
    for name in names:
        images = example_images(name)[:4]
        if len(images) == 4:
            rows.append([name, images, True])
            labels.append(f"{name}: four images in a loop ({' → '.join(Path(p).stem for p in images)} → "
                          f"{Path(images[0]).stem})")
    return rows, labels


def add_examples(prefix: str, fill: list, rows_and_labels: tuple[list, list] | None = None, label="Examples",
                 visible=True):
    """Examples that fill ``fill`` (model and images, by default from ``example_rows``) when
    clicked: (the Dataset, the click event, which ``connect`` follows with a run of the tab);
    (None, None) when there are no rows.

    A Dataset with a handler of our own rather than gr.Examples: that click is unqueued and
    anyone can send it any index, and gr.Examples answers a bad one with HTTP 500."""
    rows, labels = rows_and_labels or example_rows(pairs=len(fill) == 3)
    if not rows:
        return None, None
    dataset = gr.Dataset(components=fill, samples=rows, sample_labels=labels, samples_per_page=8,
                         type="index", elem_id=f"{prefix}-examples", label=label, visible=visible)

    def pick(index):
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(rows):
            return gr.skip()
        return rows[index]

    return dataset, dataset.click(pick, dataset, fill, api_visibility="private", queue=False, preprocess=False,
                                  show_progress="hidden")


def photo_rows(count: int) -> tuple[list, list]:
    """Rows of the example photographs (``assets/photos``) for the Hub models: pairs in turn
    (``count`` 2), or the first four for a loop (``count`` 4: ``[[photos], True]``)."""
    names = [str(p) for p in PHOTOS]
    if count == 4:
        return ([[names[:4], True]], [" → ".join(Path(p).stem for p in names[:4]) + " (loop)"]) if len(names) >= 4 \
            else ([], [])
    pairs = list(zip(names, names[1:] + names[:1]))
    rows = [[a, b] for a, b in pairs] if count == 2 else [[a] for a in names]
    labels = [f"{Path(a).stem} → {Path(b).stem}" for a, b in pairs] if count == 2 else [Path(a).stem for a in names]
    return rows, labels


class HubControls:
    """What a Hub VAE adds to a tab: the resolution (the photo's longer side), the fast preview
    (TAESD / TAESDXL decoding the same latents) and example photographs; shown while a Hub model
    is chosen."""

    def __init__(self, prefix: str, fill: list, count: int):
        shown = DEFAULT_MODEL in HUB_MODELS
        low, high = support.LIMITS.resolution
        with gr.Row(visible=shown, elem_id=f"{prefix}-hub") as self.row:
            self.resolution = gr.Slider(low, high, value=support.DEFAULTS.resolution, step=64, label="resolution",
                                        info="the photo's longer side in pixels; its aspect ratio is kept")
            self.fast = gr.Checkbox(value=FAST_PREVIEW_DEFAULT, label="fast preview",
                                    info="decode with the tiny decoder of the same latent space (TAESD): ~10x "
                                         "faster" + ("; untick for the full decoder (fewer frames fit here)"
                                                     if FAST_PREVIEW_DEFAULT else ""))
        rows = photo_rows(count) if fill else ([], [])
        self.photos, self.click = add_examples(f"{prefix}-photos", fill, rows, label="Example photos (Hub models)",
                                               visible=shown)

    def show(self, name):
        """Updates for (row, photos) when the model changes: shown for diffusers VAEs only (the
        listed Hub models, and typed repo ids checked to hold one)."""
        hub = isinstance(name, str) and (name in HUB_MODELS or support.typed_repo_kind(name) == "diffusers")
        updates = [gr.update(visible=hub)]
        if self.photos is not None:
            updates.append(gr.update(visible=hub))
        return updates

    @property
    def components(self) -> list:
        return [self.row] + ([self.photos] if self.photos is not None else [])


# ------------------------------------------------------------------------------------------
# The page


def model_choices() -> list[tuple[str, str]]:
    return [(name if kind == "embedded" else f"{name} (Hub, downloaded on first use)", name)
            for name, (_, kind) in MODELS.items()]


def model_dropdown(prefix: str):
    return gr.Dropdown(model_choices(), value=DEFAULT_MODEL, label="model", info=MODELS[DEFAULT_MODEL][0],
                       elem_id=f"{prefix}-model")


def describe_model(name):
    if isinstance(name, str) and name in MODELS:
        return gr.update(info=MODELS[name][0])
    kind = support.typed_repo_kind(name)
    return gr.update(info=f"{name}: a {kind} VAE from the Hub") if kind else gr.skip()


class RepoField:
    """Beside the model list: a Hub repo id typed by a visitor, checked and loaded by the field's
    Load button (or Enter), then chosen in ``model``. Absent where ``ANY_REPO`` is off."""

    def __init__(self, model):
        self.text = gr.Textbox(label="or a Hub repo id", max_length=support.LIMITS.repo_id_chars,
                               placeholder="org/name", max_lines=1, submit_btn="Load", visible=ANY_REPO,
                               info="a diffusers AutoencoderKL / AutoencoderTiny or a latent-bridge VAE; "
                                    "safetensors, at most 1 GB")
        self.status = gr.Markdown(visible=ANY_REPO)
        if ANY_REPO:
            self.text.submit(fetch_repo, self.text, [model, self.status], api_visibility="private", preprocess=False,
                             concurrency_id=RENDER_SLOT)


def image_input(label: str):
    # The file reaches lb.data.load_image as uploaded (see `endpoint`).
    return gr.Image(type="filepath", label=label, format="png", height=180, sources=["upload", "clipboard"])


def image_output(label: str):
    return gr.Image(label=label, format="png", interactive=False, buttons=["download", "fullscreen"])


ABOUT_API = """
## Calling the app from Python

Each tab is an endpoint: `/interpolate`, `/random_walk`, `/compare`, `/keyframes`. Parameters go by name
(the time horizon T is `t`); `client.view_api()` lists them all with their defaults.

```python
from gradio_client import Client, handle_file

client = Client("http://127.0.0.1:7860/")   # or the Space, "owner/latent-bridge"
video, gif, grid, profile, latent_map, diagnostics = client.predict(
    model="poses", image_a=handle_file("a.png"), image_b=handle_file("b.png"),
    method="ou", t=0.5, frames=64, paths=2, seed=0, fps=24, api_name="/interpolate")
print(video)                                 # a local copy of the H.264 mp4
```
"""


SPHERE_FIGURE = ROOT / "docs" / "figures" / "sphere.png"


def about_text() -> str:
    methods = ROOT / "docs" / "methods.md"
    return ABOUT_API + ("\n\n" + methods.read_text() if methods.is_file() else "")


def input_column(prefix: str, image_labels: list[str], panel: dict, button: str):
    """The left column of a tab: model, images, examples, Hub controls, method panel, run button."""
    model = model_dropdown(prefix)
    RepoField(model)
    with gr.Row():
        images = [image_input(label) for label in image_labels]
    _, examples = add_examples(prefix, [model] + images)
    hub = HubControls(prefix, images, len(images))
    method_panel = MethodPanel(**panel)
    run = gr.Button(button, variant="primary", elem_id=f"{prefix}-run")
    return model, images, [examples, hub.click], hub, method_panel, run


class KeyframeImages:
    """The Keyframes tab's images: a gallery in order (an upload adds at the end, a
    thumbnail's x removes it).

    There are no buttons to move an image: an event that takes the gallery as an input has its
    value validated by Gradio before any handler of ours runs, so a client sending any other
    value would get HTTP 500 from a private event; removing and adding again reorders."""

    def __init__(self):
        self.gallery = gr.Gallery(label=f"images, in order (2 to {support.LIMITS.keys}; x removes one, an upload "
                                        "adds at the end)",
                                  type="filepath", file_types=["image"], format="png", columns=4, height=230,
                                  interactive=True, elem_id="keyframes-images", object_fit="contain")


def keyframes_column():
    """The Keyframes tab's left column: model, images, examples, method panel, the timeline
    controls, run button; returns (the column as ``connect`` takes it, the images, {API name:
    timeline control})."""
    defaults = support.KEYFRAME_DEFAULTS
    model = model_dropdown("keyframes")
    RepoField(model)
    images = KeyframeImages()
    loop = gr.Checkbox(value=defaults.loop, label="loop", info="go on from the last image back to the first")
    _, examples = add_examples("keyframes", [model, images.gallery, loop], keyframe_example_rows())
    hub = HubControls("keyframes", [images.gallery, loop], 4)
    method_panel = MethodPanel(list(REGISTRY), "gp", frames=(
        "frames per segment", defaults.frames_per_segment,
        f"from one image to the next, both included; at least 4, the path at most {support.LIMITS.frames} in all"))
    with gr.Row():
        hold = gr.Number(value=defaults.hold, precision=0, label="hold", info="frames to rest on each image",
                         min_width=100)
        easing = gr.Radio(list(lb.bridges.EASINGS), value=defaults.easing, label="easing",
                          info="smooth: slow into and out of each image", min_width=100)
        seconds = gr.Number(value=0, label="length (s)", min_width=100,
                            info="the video's length instead of frames per segment; 0: unused")
    run = gr.Button("Run through the images", variant="primary", elem_id="keyframes-run")
    extra = {"loop": loop, "hold": hold, "easing": easing, "seconds": seconds}
    return (model, [images.gallery], [examples, hub.click], hub, method_panel, run), images, extra


def connect(body, image_names: list[str], column, outputs: list, latent_map=None, main=MAIN, extra=None):
    """The tab's public endpoint (api_name = the body's name), its UI events and examples;
    ``latent_map``: a plot shown after a successful run only when the model has one; ``main``:
    the API names of the method panel's main controls; ``extra``: {API name: control} of the
    tab's own controls, after the method's parameters, before the Hub model's resolution and
    fast preview."""
    model, images, examples, hub, method_panel, run = column
    extra = {**(extra or {}), "resolution": hub.resolution, "fast_preview": hub.fast}
    inputs = [model] + images + method_panel.inputs + list(extra.values())
    method_name = "methods" if method_panel.multiselect else "method"
    handler = endpoint(body, ["model"] + image_names + [method_name] + [API_NAMES.get(n, n) for n in main + ADVANCED]
                       + list(extra))
    # Every render of every tab (and the repo field's download) shares one queue slot: each
    # event function would otherwise get its own, and four tabs would render at once.
    runs = [run.click(handler, inputs, outputs, api_name=body.__name__, preprocess=False,
                      concurrency_id=RENDER_SLOT)]
    for example in examples:  # one click on an example: fill the images, then run
        if example is not None:
            runs.append(example.then(handler, inputs, outputs, api_visibility="private", preprocess=False,
                                     concurrency_id=RENDER_SLOT))
    if latent_map is not None:
        for event in runs:
            event.success(show_latent_map, model, latent_map, api_visibility="private", queue=False,
                          preprocess=False)
    method_panel.wire()
    model.change(describe_model, model, model, api_visibility="private", queue=False, preprocess=False)
    model.change(hub.show, model, hub.components, api_visibility="private", queue=False, preprocess=False,
                 show_progress="hidden")


with gr.Blocks(title="latent-bridge", delete_cache=(1800, 3600)) as demo:
    gr.Markdown("# latent-bridge\nRandom paths through a VAE's latent space: interpolations pinned "
                "at two images, and loops that leave an image and come back. Click an example.")

    with gr.Tab("Interpolate", elem_id="tab-interpolate"):
        with gr.Row():
            with gr.Column(scale=2):
                column = input_column("interpolate", ["image A", "image B"],
                                      dict(methods=list(REGISTRY), default="ou"), "Interpolate")
            with gr.Column(scale=3):
                video = gr.Video(label="video", autoplay=True, loop=True, interactive=False,
                                 elem_id="interpolate-video")
                grid = image_output("frames (one row per path)")
                with gr.Row():
                    profile = gr.Plot(format="png", label="norm along the path")
                    latent_map = gr.Plot(format="png", label="latent map", visible=False)
                gif = gr.File(label="GIF", height=80)
                diagnostics = gr.JSON(label="diagnostics", open=False)
        connect(interpolate, ["image_a", "image_b"], column,
                [video, gif, grid, profile, latent_map, diagnostics], latent_map=latent_map)

    with gr.Tab("Random walk", elem_id="tab-walk"):
        with gr.Row():
            with gr.Column(scale=2):
                column = input_column("walk", ["image"],
                                      dict(methods=WALK_METHODS, default="gp", overrides=support.WALK_OVERRIDES), "Walk")
            with gr.Column(scale=3):
                video = gr.Video(label="looping video", autoplay=True, loop=True, interactive=False,
                                 elem_id="walk-video")
                grid = image_output("frames (one row per walk)")
                profile = gr.Plot(format="png", label="norm along the walk")
                gif = gr.File(label="GIF", height=80)
                diagnostics = gr.JSON(label="diagnostics", open=False)
        connect(random_walk, ["image"], column, [video, gif, grid, profile, diagnostics])

    with gr.Tab("Compare", elem_id="tab-compare"):
        with gr.Row():
            with gr.Column(scale=2):
                column = input_column("compare", ["image A", "image B"],
                                      dict(methods=list(REGISTRY), default=COMPARE_METHODS,
                                           overrides=support.COMPARE_OVERRIDES, multiselect=True), "Compare")
            with gr.Column(scale=3):
                video = gr.Video(label="side by side", autoplay=True, loop=True, interactive=False,
                                 elem_id="compare-video")
                grid = image_output("frames (one block per method)")
                profile = gr.Plot(format="png", label="norm along the paths")
                path_metrics = gr.Plot(format="png", label="path metrics")
                diagnostics = gr.JSON(label="diagnostics per method", open=False)
        connect(compare, ["image_a", "image_b"], column, [video, grid, profile, path_metrics, diagnostics])

    with gr.Tab("Keyframes", elem_id="tab-keyframes"):
        with gr.Row():
            with gr.Column(scale=2):
                column, keyframe_images, timeline = keyframes_column()
            with gr.Column(scale=3):
                video = gr.Video(label="through the images", autoplay=True, loop=True, interactive=False,
                                 elem_id="keyframes-video")
                grid = image_output("frames (one row per path; the images framed)")
                profile = gr.Plot(format="png", label="norm along the path (the images dotted)")
                with gr.Row():
                    gif = gr.File(label="GIF", height=80)
                    frames_zip = gr.File(label="frames as PNGs (zip)", height=80)
                diagnostics = gr.JSON(label="diagnostics", open=False)
        connect(keyframes, ["images"], column, [video, gif, grid, profile, frames_zip, diagnostics],
                main=["T", "frames_per_segment", "paths", "seed", "fps"], extra=timeline)

    with gr.Tab("About"):
        if SPHERE_FIGURE.is_file():
            gr.Markdown("**The sphere and the line.** |z(t)| / sqrt(n) along OU bridges: for T = 20 "
                        "the paths stay on the sphere of radius sqrt(n) where a standard normal keeps "
                        "its mass; for T = 0.01 they are the straight line, whose middle dips to "
                        "0.71 sqrt(n), inside the sphere, where no data lives.")
            gr.Image(str(SPHERE_FIGURE), format="png", interactive=False, show_label=False)
        gr.Markdown(about_text())

    demo.unload(remove_session_files)

if ZERO_GPU:  # every model on CUDA at import, as ZeroGPU requires (the Hub ones preloaded at build)
    for name in MODELS:
        try:
            load_model(name)
        except ValueError as error:
            print(f"model {name} not loaded at start: {error}")

# A render on 2 shared CPU cores takes the machine: one at a time, a short bounded queue.
demo.queue(default_concurrency_limit=1, max_size=16)


def kept_files() -> set[str]:
    """Files Gradio keeps in its cache for the page itself (the examples): never evicted."""
    return {str(p) for block in demo.blocks.values() for p in getattr(block, "keep_in_cache", ())}


def launch(**options):
    """Start the server with the app's own limits: the upload size, and the disk budget of the
    cache guarded in front of Gradio's upload route (``support.UploadBudget``)."""
    from starlette.middleware import Middleware

    budget = Middleware(support.UploadBudget, root=lambda: demo.GRADIO_CACHE, budget=support.LIMITS.cache_bytes,
                        most_per_request=support.LIMITS.upload_request_bytes, keep=kept_files)
    bodies = Middleware(support.EventBodies, most=support.LIMITS.event_request_bytes)
    return demo.launch(max_file_size=support.LIMITS.upload, app_kwargs={"middleware": [budget, bodies]}, **options)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Run the latent-bridge app.")
    parser.add_argument("--share", action="store_true", help="also ask Gradio for a public share link")
    args = parser.parse_args(argv)
    port = os.environ.get("GRADIO_SERVER_PORT")
    launch(share=args.share, server_name=os.environ.get("GRADIO_SERVER_NAME"),
           server_port=int(port) if port else None)


if __name__ == "__main__":
    main()
