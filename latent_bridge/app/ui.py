"""The page: four tabs (Interpolate, Random walk, Compare, Keyframes) and a short how-to, each
tab's images, examples and run button on the first screen, the result beside them.

``build_demo`` builds the Blocks; ``launch`` serves it with the server's guards.
"""

from __future__ import annotations

import os
from pathlib import Path

import gradio as gr

import latent_bridge as lb

from . import handlers, hub_repos
from .controls import ADVANCED, API_NAMES, MAIN, MethodPanel
from . import cache
from .cache import CacheIndex
from .connections import bound_connections
from .guards import EventBodies, UploadBudget, Visitors
from .mcp_guard import MCP_PATHS, McpCalls
from .handlers import REGISTRY, WALK_METHODS, endpoint
from .controls import COMPARE_OVERRIDES, WALK_OVERRIDES
from .limits import DEFAULTS, KEYFRAME_DEFAULTS, LIMITS
from .visitors import ACTIVITY
from .models import (ANY_REPO, DEFAULT_MODEL, FAST_PREVIEW_DEFAULT, MODELS, PHOTO_MODELS, ZERO_GPU,
                     example_images, in_local_cache, is_photo_model, load_all_on_zero_gpu, load_model,
                     usable_photo_models)

ROOT = Path(__file__).resolve().parents[2]
PHOTOS = sorted((ROOT / "assets" / "photos").glob("*.jpg"))
COMPARE_METHODS = [name for name in ("linear", "slerp", "ou", "gp") if name in REGISTRY]
# The queue's one slot for heavy work (renders, Hub downloads), whichever tab asks.
RENDER_SLOT = "render"
HOW_TO = ROOT / "docs" / "app.md"
FIGURES = [(ROOT / "docs" / "figures" / "pose_walks.gif", "four random walks from one pose, each back where it began"),
           (ROOT / "docs" / "figures" / "sphere.png", "the latent's length along rough bridges: long T keeps to the "
                                                      "sphere where the prior's mass is, short T sags like the line")]
CSS = """
.gradio-container {padding-top: 4px !important}
#header h1 {margin: 0; font-size: 1.5rem}
#header p {margin: 0}
"""


# ------------------------------------------------------------------------------------------
# Examples: photos (where a photo model runs without a download), then each small model's own


def photo_model() -> str | None:
    """The photo model the photo examples use: the opening one when it reads photos, else the
    first usable one; None when none runs here without a download."""
    if DEFAULT_MODEL in PHOTO_MODELS:
        return DEFAULT_MODEL
    return next(iter(usable_photo_models()), None)


def example_rows(count: int) -> tuple[list, list]:
    """Rows ``[model, image]`` (count 1), ``[model, a, b]`` (2) or ``[model, [4 images], True]``
    (4, a loop) and a label each: the photos first where a photo model is usable, then each
    embedded model's examples, the opening model's first."""
    sets = []
    photo = photo_model()
    if photo is not None and PHOTOS:
        sets.append((photo, [str(p) for p in PHOTOS]))
    embedded = sorted((n for n, (_, kind) in MODELS.items() if kind == "embedded"), key=lambda n: n != DEFAULT_MODEL)
    sets += [(name, example_images(name)) for name in embedded]
    rows, labels = [], []
    for model, images in sets:
        names = [Path(p).stem for p in images]
        if count == 4 and len(images) >= 4:
            rows.append([model, images[:4], True])
            labels.append(f"{model}: {' → '.join(names[:4])} → {names[0]}")
        elif count == 2:
            for i in range(0, len(images) - 1, 2):
                rows.append([model, images[i], images[i + 1]])
                labels.append(f"{model}: {names[i]} → {names[i + 1]}")
        elif count == 1:
            rows += [[model, image] for image in images[:4]]
            labels += [f"{model}: {name}" for name in names[:4]]
    return rows, labels


def add_examples(prefix: str, fill: list, count: int):
    """Examples that fill ``fill`` (model and images) when clicked: (the Dataset, its click event,
    which ``connect`` follows with a run of the tab); (None, None) when there are none.

    A Dataset with a handler of our own rather than gr.Examples: that click is unqueued and
    anyone can send it any index, and gr.Examples answers a bad one with HTTP 500."""
    rows, labels = example_rows(count)
    if not rows:
        return None, None
    dataset = gr.Dataset(components=fill, samples=rows, sample_labels=labels, samples_per_page=4, type="index",
                         elem_id=f"{prefix}-examples", label="Examples: one click runs one")

    def pick(index):
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(rows):
            return gr.skip()
        return rows[index]

    return dataset, dataset.click(pick, dataset, fill, api_visibility="private", queue=False, preprocess=False,
                                  show_progress="hidden")


# ------------------------------------------------------------------------------------------
# Model choice: the list, a typed Hub repo id, a photo model's resolution and fast preview


def model_choices() -> list[tuple[str, str]]:
    def label(name, kind):
        if kind == "embedded":
            return f"{name} (small, offline)"
        return f"{name} (photos)" if in_local_cache(name) else f"{name} (photos, downloaded on first use)"

    return [(label(name, kind), name) for name, (_, kind) in MODELS.items()]


def describe_model(name):
    if isinstance(name, str) and name in MODELS:
        return gr.update(info=MODELS[name][0])
    kind = hub_repos.typed_repo_kind(name)
    return gr.update(info=f"{name}: a {kind} VAE from the Hub") if kind else gr.skip()


def fetch_repo(text, progress=gr.Progress(track_tqdm=True)):
    """The repo id field's Load: check the repo on the Hub, download it (huggingface_hub's
    progress shows), keep it in the model cache, and make it the tab's chosen model."""
    try:
        remote = hub_repos.check_typed_repo(text)
        vae = load_model(remote.repo_id)
    except ValueError as error:
        raise gr.Error(str(error), print_exception=False) from None
    choices = model_choices() + [(f"{remote.repo_id} (Hub repo)", remote.repo_id)]
    shape = "x".join(map(str, vae.latent_shape))
    kind = f"diffusers {vae.kind}" if remote.kind == "diffusers" else "latent-bridge VAE"
    status = f"**{remote.repo_id}** loaded: {kind}, {shape} latents, {remote.download_bytes / 1e6:,.1f} MB"
    return gr.update(choices=choices, value=remote.repo_id), status


def repo_field(model) -> None:
    """A Hub repo id typed by a visitor, checked and loaded by the field's Load button (or
    Enter), then chosen in ``model``; absent where ``ANY_REPO`` is off."""
    if not ANY_REPO:
        return
    text = gr.Textbox(label="or a Hub repo id", max_length=LIMITS.repo_id_chars, placeholder="org/name",
                      max_lines=1, submit_btn="Load", elem_id="repo-id",
                      info="a diffusers AutoencoderKL / AutoencoderTiny or a latent-bridge VAE; safetensors, "
                           "at most 1 GB")
    status = gr.Markdown()
    text.submit(fetch_repo, text, [model, status], api_visibility="private", preprocess=False,
                concurrency_id=RENDER_SLOT)


def photo_controls(prefix: str):
    """A photo model's resolution (the photo's longer side) and fast preview (TAESD decoding the
    same latents); shown while a diffusers VAE is chosen. Returns (row, resolution, fast)."""
    low, high = LIMITS.resolution
    with gr.Row(visible=is_photo_model(DEFAULT_MODEL), elem_id=f"{prefix}-hub") as row:
        resolution = gr.Slider(low, high, value=DEFAULTS.resolution, step=64, label="resolution",
                               info="the photo's longer side in pixels; its aspect ratio is kept")
        fast = gr.Checkbox(value=FAST_PREVIEW_DEFAULT, label="fast preview",
                           info="decode with the tiny decoder of the same latent space (TAESD): ~10x faster"
                                + ("; untick for the full decoder (fewer frames fit here)" if FAST_PREVIEW_DEFAULT
                                   else ""))
    return row, resolution, fast


# ------------------------------------------------------------------------------------------
# A tab: inputs on the left (model, images, button, examples, settings), results on the right


class Tab:
    """The left column of a tab. images: ``{API name: label}``; count: images an example fills."""

    def __init__(self, prefix: str, images: dict[str, str], button: str, panel: dict, extra=None, keyframes=False):
        self.prefix = prefix
        with gr.Row():
            self.model = gr.Dropdown(model_choices(), value=DEFAULT_MODEL, label="model", scale=2,
                                     info=MODELS[DEFAULT_MODEL][0], elem_id=f"{prefix}-model")
        if keyframes:
            self.images = [gr.Gallery(label=f"images, in order (2 to {LIMITS.keys}; x removes one, an upload "
                                            "adds at the end)",
                                      type="filepath", file_types=["image"], format="png", columns=4, height=190,
                                      interactive=True, elem_id="keyframes-images", object_fit="contain",
                                      buttons=[])]
            self.loop = gr.Checkbox(value=KEYFRAME_DEFAULTS.loop, label="loop back to the first image")
            fill = [self.model, self.images[0], self.loop]
        else:
            with gr.Row():
                self.images = [gr.Image(type="filepath", label=label, format="png", height=170,
                                        sources=["upload", "clipboard"], elem_id=f"{prefix}-{name}")
                               for name, label in images.items()]
            fill = [self.model] + self.images
        self.run = gr.Button(button, variant="primary", size="lg", elem_id=f"{prefix}-run")
        self.examples, self.example_click = add_examples(prefix, fill, 4 if keyframes else len(images))
        self.panel = MethodPanel(prefix, extra=extra, **panel)
        with gr.Accordion("Photo settings and more models", open=False, elem_id=f"{prefix}-models"):
            self.hub_row, self.resolution, self.fast = photo_controls(prefix)
            repo_field(self.model)

    def connect(self, body, image_names: list[str], outputs: list, latent_map=None, main=MAIN):
        """The tab's public endpoint (api_name = the body's name), its UI events and examples."""
        extra = {**self.panel.extra, "resolution": self.resolution, "fast_preview": self.fast}
        if hasattr(self, "loop"):
            extra = {"loop": self.loop, **extra}
        inputs = [self.model] + self.images + self.panel.inputs + list(extra.values())
        method_name = "methods" if self.panel.multiselect else "method"
        handler = endpoint(body, ["model"] + image_names + [method_name]
                           + [API_NAMES.get(n, n) for n in main + ADVANCED] + list(extra), self.panel.methods)
        # Every render of every tab (and the repo field's download) shares one queue slot: each
        # event function would otherwise get its own, and four tabs would render at once.
        runs = [self.run.click(handler, inputs, outputs, api_name=body.__name__, preprocess=False,
                               concurrency_id=RENDER_SLOT)]
        if self.example_click is not None:  # one click on an example: fill the images, then run
            runs.append(self.example_click.then(handler, inputs, outputs, api_visibility="private",
                                                preprocess=False, concurrency_id=RENDER_SLOT))
        if latent_map is not None:
            for event in runs:
                event.success(handlers.show_latent_map, self.model, latent_map, api_visibility="private",
                              queue=False, preprocess=False)
        self.panel.wire()
        ui = dict(api_visibility="private", queue=False, preprocess=False, show_progress="hidden")
        self.model.change(describe_model, self.model, self.model, **ui)
        self.model.change(lambda name: gr.update(visible=is_photo_model(name)), self.model, self.hub_row, **ui)
        # New model or new images: the old results no longer belong to them.
        clear = [o for o in outputs if o is not latent_map]
        for control in [self.model] + self.images:
            control.change(lambda: [None] * len(clear), None, clear, **ui)


def results(prefix: str, video_label: str, files=True, plots=("norm along the path",)):
    """The right column: summary (a notice first when needed), video, grid, plots, files, details."""
    summary = gr.Markdown(elem_id=f"{prefix}-summary")
    video = gr.Video(label=video_label, autoplay=True, loop=True, interactive=False, height=330,
                     elem_id=f"{prefix}-video")
    grid = gr.Image(label="frames", show_label=False, format="png", interactive=False,
                    buttons=["download", "fullscreen"])
    with gr.Row():
        shown = [gr.Plot(format="png", show_label=False, elem_id=f"{prefix}-plot-{i}") for i in range(len(plots))]
    downloads = gr.File(label="downloads: GIF, frames as PNGs (native size)", file_count="multiple", height=90) \
        if files else None
    with gr.Accordion("Details (all the numbers)", open=False):
        details = gr.JSON(label="diagnostics", open=False)
    return summary, video, grid, shown, downloads, details


def keyframe_extra():
    """The Keyframes tab's own controls, in its Advanced accordion."""
    with gr.Row():
        hold = gr.Number(value=KEYFRAME_DEFAULTS.hold, precision=0, label="hold", info="frames to rest on each image")
        easing = gr.Radio(list(lb.bridges.EASINGS), value=KEYFRAME_DEFAULTS.easing, label="easing",
                          info="smooth: slow into and out of each image")
        seconds = gr.Number(value=0, label="length (s)", info="the video's length instead of frames per segment; "
                                                             "0: unused")
    return {"hold": hold, "easing": easing, "seconds": seconds}


def how_to() -> str:
    text = HOW_TO.read_text() if HOW_TO.is_file() else ""
    return text.split("<!-- how-to -->")[1] if text.count("<!-- how-to -->") == 2 else text


def build_demo() -> gr.Blocks:
    """The page. Public endpoints (``gradio_client``): ``/interpolate``, ``/random_walk``,
    ``/compare``, ``/keyframes``; every other event is private."""
    with gr.Blocks(title="latent-bridge", delete_cache=(1800, 3600)) as demo:
        gr.Markdown("# latent-bridge\nRandom paths through a VAE's latent space between your images: pick two, "
                    "press the button (or click an example), watch one blend into the other.", elem_id="header")
        with gr.Tab("Interpolate", elem_id="tab-interpolate"):
            with gr.Row():
                with gr.Column(scale=2):
                    tab = Tab("interpolate", {"image_a": "image A", "image_b": "image B"}, "Interpolate",
                              dict(methods=list(REGISTRY), default="ou"))
                with gr.Column(scale=3):
                    summary, video, grid, (profile,), files, details = results("interpolate", "video")
                    latent_map = gr.Plot(format="png", show_label=False, visible=False)
            tab.connect(handlers.interpolate, ["image_a", "image_b"],
                        [video, files, grid, profile, latent_map, summary, details], latent_map=latent_map)

        with gr.Tab("Random walk", elem_id="tab-walk"):
            with gr.Row():
                with gr.Column(scale=2):
                    tab = Tab("walk", {"image": "image"}, "Walk",
                              dict(methods=WALK_METHODS, default="gp", overrides=WALK_OVERRIDES))
                with gr.Column(scale=3):
                    summary, video, grid, (profile,), files, details = results("walk", "looping video")
            tab.connect(handlers.random_walk, ["image"], [video, files, grid, profile, summary, details])

        with gr.Tab("Compare", elem_id="tab-compare"):
            with gr.Row():
                with gr.Column(scale=2):
                    tab = Tab("compare", {"image_a": "image A", "image_b": "image B"}, "Compare",
                              dict(methods=list(REGISTRY), default=COMPARE_METHODS, overrides=COMPARE_OVERRIDES,
                                   multiselect=True))
                with gr.Column(scale=3):
                    summary, video, grid, (profile, metrics), _, details = results(
                        "compare", "side by side", files=False, plots=("norms", "metrics"))
            tab.connect(handlers.compare, ["image_a", "image_b"], [video, grid, profile, metrics, summary, details])

        with gr.Tab("Keyframes", elem_id="tab-keyframes"):
            with gr.Row():
                with gr.Column(scale=2):
                    tab = Tab("keyframes", {}, "Run through the images", extra=keyframe_extra, keyframes=True, panel=dict(
                        methods=list(REGISTRY), default="gp", frames=(
                            "frames per segment", KEYFRAME_DEFAULTS.frames_per_segment,
                            f"from one image to the next; at least 4, at most {LIMITS.frames} in all")))
                with gr.Column(scale=3):
                    summary, video, grid, (profile,), files, details = results("keyframes", "through the images")
            tab.connect(handlers.keyframes, ["images"], [video, files, grid, profile, summary, details],
                        main=["T", "frames_per_segment", "paths", "seed", "fps"])

        with gr.Tab("How it works", elem_id="tab-about"):
            with gr.Row():
                with gr.Column(scale=3):
                    gr.Markdown(how_to())
                with gr.Column(scale=2):
                    for picture, caption in FIGURES:
                        if picture.is_file():
                            gr.Image(str(picture), label=caption, format="png", interactive=False,
                                     buttons=["fullscreen"])

        demo.unload(handlers.remove_session_files)

    if ZERO_GPU:
        load_all_on_zero_gpu()
    # A render on 2 shared CPU cores takes the machine: one at a time, a short bounded queue.
    demo.queue(default_concurrency_limit=1, max_size=16)
    handlers.Server.demo = demo
    return demo


MCP_VARIABLE = "LATENT_BRIDGE_MCP"


def mcp_enabled(environ=os.environ) -> bool:
    """Whether ``python app.py`` serves MCP at /gradio_api/mcp: on unless ``LATENT_BRIDGE_MCP``
    is "0", "false", "no" or "off"."""
    return environ.get(MCP_VARIABLE, "1").strip().lower() not in ("0", "false", "no", "off")


def launch(demo: gr.Blocks, **options):
    """Serve ``demo`` with the app's own limits: the upload size; in front of Gradio's routes
    the visitors' shares (``guards.Visitors``), the upload route with the cache's index
    (``guards.UploadBudget``, ``cache.CacheIndex``), the MCP route's bound
    (``mcp_guard.McpCalls``) and the events' bodies and queue (``guards.EventBodies``); at the
    connections, the time to send headers and the connections per address
    (``connections.bound_connections``). The public events are also MCP tools
    (``mcp_enabled``), under the same bounds: a tool call goes through the queue like the page's."""
    from starlette.middleware import Middleware

    index = CacheIndex(lambda: demo.GRADIO_CACHE, budget=LIMITS.cache_bytes, most_files=LIMITS.cache_files,
                       visitor_bytes=LIMITS.visitor_bytes, visitor_files=LIMITS.visitor_files,
                       keep=handlers.kept_files, holds=ACTIVITY.holds_a_page)
    cache.CURRENT = index
    visitors = Middleware(Visitors, most_requests=LIMITS.visitor_requests)
    budget = Middleware(UploadBudget, index=index, most_per_request=LIMITS.upload_request_bytes,
                        most_files=LIMITS.upload_files, most_uploads=LIMITS.visitor_uploads)
    mcp = Middleware(McpCalls, most=LIMITS.mcp_request_bytes)
    bodies = Middleware(EventBodies, most=LIMITS.event_request_bytes, most_jobs=LIMITS.visitor_jobs,
                        queue=lambda: demo._queue, unqueued=lambda i: i in demo.fns and demo.fns[i].queue is False,
                        others=MCP_PATHS)
    options.setdefault("mcp_server", mcp_enabled())
    wait = not options.pop("prevent_thread_lock", False)
    result = demo.launch(max_file_size=LIMITS.upload, app_kwargs={"middleware": [visitors, budget, mcp, bodies]},
                         css=CSS, prevent_thread_lock=True, **options)
    bound_connections(demo.server, LIMITS.header_seconds, LIMITS.address_connections)
    if wait:
        demo.block_thread()
    return result
