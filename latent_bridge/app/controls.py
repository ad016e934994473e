"""The method controls: each method's values generated from the sampler registry (a newly
registered sampler appears by itself), named in plain words for the page while the registry
names stay the API's; and the panel that shows them (``MethodPanel``).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import gradio as gr

from .. import bridges, registry
from ..pipeline import walk_params
from .costs import check_particle_work
from .limits import BOUNDED_PARAMS, DEFAULTS, LIMITS, SMOOTH_CORRELATION, check_methods, check_whole

# What a visitor reads for each method: (name, one line of what it does). The registry's names
# stay the API's values; docs/methods.md has the maths.
METHOD_WORDS = {
    "linear": ("Straight line", "blends the two images the same way every time: no randomness"),
    "slerp": ("Great circle", "a curved blend that keeps the latent's length: no randomness"),
    "ou": ("Random bridge (rough)", "a new random path every seed, jittery; more time, more wandering"),
    "gp": ("Random bridge (smooth)", "a new random path every seed, smooth; the periodic kernel loops"),
    "ou-sde": ("Random bridge (step by step)", "the rough bridge simulated step by step: same law, slower"),
    "langevin": ("Data-shaped bridge", "random paths that keep to where the model's data lies (slower)"),
}


def method_label(method: str) -> str:
    """A method's plain name, its registry name after it ("Random bridge (rough) · ou")."""
    words = METHOD_WORDS.get(method)
    return f"{words[0]} · {method}" if words else method


def method_line(method: str) -> str:
    """One line of what ``method`` does: the plain words, else the registry's description."""
    words = METHOD_WORDS.get(method)
    return words[1] if words else str(registry.available()[method]["description"])


def method_choices(methods: list[str]) -> list[tuple[str, str]]:
    """(label, value) pairs for a dropdown: plain names shown, registry names sent."""
    return [(method_label(m), m) for m in methods]


# Labels of the parameters whose registry name reads like the paper.
PARAM_LABELS = {"T": "how random (time T)"}


def method_defaults(method: str) -> dict[str, Any]:
    """The registry's default for each parameter of ``method``: ``{name: default}``."""
    return {p.name: p.default for p in _params(method)}


def _params(method: str) -> list:
    samplers = registry.available()
    if method not in samplers:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(samplers)}")
    return samplers[method]["params"]


# A tab's own starting values on top of the methods' defaults: a random walk sets its methods
# up to loop (``pipeline.walk_params``), a comparison puts every method on one time scale.
WALK_OVERRIDES = {method: walk_params(method) for method in registry.available()}
COMPARE_OVERRIDES = {"T": 1.0}


def start_values(methods: list[str], overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every control's starting value, ``{param name: value}`` over ``registry.all_params()``:
    the parameters' defaults, then those of ``methods`` (the first method wins), then
    ``overrides``."""
    values = {name: param.default for name, param in registry.all_params().items()}
    for method in reversed(methods):
        values.update(method_defaults(method))
    values.update(overrides or {})
    return values


def shown_params(methods: list[str], values: dict[str, Any]) -> dict[str, Any]:
    """``{name: Param}`` of the parameters ``methods`` use with these values (``Param.applies``),
    the first method's Param where several share a name."""
    shown = {}
    for method in methods:
        for param in _params(method):
            if param.applies(values):
                shown.setdefault(param.name, param)
    return shown


def method_kwargs(method: str, values: dict[str, Any], latent_shape: tuple[int, ...] | None = None,
                  runs: int = 1, paths: int = 1, frames: int = 2) -> dict[str, Any]:
    """Keyword arguments for ``registry.get(method, ...)`` from every control's value.

    values: ``{param name: value}`` for all controls of the page (those of other methods too).
    Keeps the parameters ``method`` declares and whose ``when`` condition holds; a missing or
    empty value falls back to the registry default. Particles, steps, sweeps, chains, rungs, path-smc's
    population, islands, moves and temperatures and
    pCN moves are checked against ``LIMITS``; with the model's ``latent_shape``, the work of a
    Langevin sampler (``costs.particle_work``, the sampler's own ``work_units``: ``paths`` paths,
    ``runs`` the segments of a path through keyframes, each its own run of ``frames`` frames)
    against ``LIMITS.particle_work``. Other values are checked by the sampler when it is built.
    """
    kwargs = {}
    for param in _params(method):
        value = values.get(param.name)
        if value is None or value == "":
            value = param.default
        kwargs[param.name] = value
    kwargs = {p.name: kwargs[p.name] for p in _params(method) if p.applies(kwargs)}
    for name, low in BOUNDED_PARAMS.items():
        if name in kwargs:
            kwargs[name] = check_whole(name, kwargs[name], low, getattr(LIMITS, name))
    if latent_shape is not None and "algorithm" in kwargs:
        check_particle_work(kwargs, math.prod(latent_shape), runs, paths, frames)
    return kwargs




def smoothness_line(methods: list[str], values: dict[str, Any], frames: Any) -> str:
    """One Markdown line for the page: how alike adjacent frames are with these settings, per
    method (their correlation, ``bridges.adjacent_correlation``, from the closed-form covariance
    of the bridge noise). Never raises: settings that cannot be evaluated give a reason."""
    if not methods:
        return "Smoothness: tick a method."
    try:  # the same bounds as a run, before any work: a covariance is frames x frames
        frames = check_whole("frames", frames, 4, LIMITS.frames)
        methods = check_methods(methods, registry.available())
    except ValueError as error:
        return f"Smoothness: not available ({error})."
    parts, measured, rough = [], False, False
    for method in methods:
        try:
            sampler = registry.get(method, **method_kwargs(method, values))
            if sampler.stochastic and not hasattr(sampler, "covariance"):
                parts.append(f"{method}: measured after a run (ssim_mean in the details)")
                continue
            correlation = bridges.adjacent_correlation(sampler, frames)
        except (TypeError, ValueError) as error:
            parts.append(f"{method}: not available ({error})")
            continue
        measured = True
        rough = rough or correlation < SMOOTH_CORRELATION
        parts.append(f"{method} **{correlation:.2f}**" if sampler.stochastic else f"{method} 1 (no randomness)")
    line = "Smoothness (how alike adjacent frames are, 1 = identical): " + "; ".join(parts)
    if not measured:
        return line + "."
    if rough:
        return line + f". Below {SMOOTH_CORRELATION:g} the video flickers: use more frames or the smooth bridge."
    return line + ": smooth motion."


# ------------------------------------------------------------------------------------------
# The panel on the page

PARAMS = registry.all_params()
ADVANCED = [name for name in PARAMS if name != "T"]
# The main panel's controls as the API names them (T is ``t`` there: gradio_client shows every
# parameter name in lower case); fps sits in Advanced on the page, not in the API's order.
MAIN = ["T", "frames", "paths", "seed", "fps"]
API_NAMES = {"T": "t"}
INTERNAL_NAMES = {api: name for name, api in API_NAMES.items()}


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
    common = dict(label=PARAM_LABELS.get(param.name, param.name.replace("_", " ")), info=param_info(param),
                  visible=visible)
    if param.kind == "choice":
        return gr.Dropdown(list(param.choices), value=value, interactive=True, **common)
    if param.kind == "bool":
        return gr.Checkbox(value=value, **common)
    return gr.Number(value=value, precision=0 if param.kind == "int" else None, **common)


class MethodPanel:
    """Method picker, the main numbers (how random, how long, how many paths, seed), and an
    Advanced accordion with fps, the method's other parameters and the smoothness line.

    ``multiselect``: a CheckboxGroup of methods (Compare) sharing one set of values;
    otherwise a Dropdown whose change resets the parameters to that method's defaults
    (with this tab's ``overrides``, {method: {param: value}}). ``frames``: (label, start,
    info) of the frame-count control where it counts something else (Keyframes: per segment).
    ``extra``: a function called inside the Advanced accordion to add the tab's own controls."""

    def __init__(self, prefix: str, methods: list[str], default, overrides: dict | None = None,
                 multiselect: bool = False, frames: tuple[str, int, str] | None = None, extra=None):
        self.multiselect = multiselect
        self.methods = list(methods)
        self.overrides = overrides or {}
        chosen = list(default) if multiselect else [default]
        values = start_values(chosen, self.overrides if multiselect else self.overrides.get(default, {}))
        shown = shown_params(chosen, values)
        if multiselect:
            self.method = gr.CheckboxGroup(method_choices(methods), value=chosen, label="methods",
                                           info="each gets the same images, seed and settings",
                                           elem_id=f"{prefix}-method")
        else:
            self.method = gr.Dropdown(method_choices(methods), value=default, label="method",
                                      info=method_line(default), elem_id=f"{prefix}-method")
        label, start, info = frames or ("frames", DEFAULTS.frames, f"per path: more is longer and smoother; "
                                                                   f"4 to {LIMITS.frames}")
        with gr.Row():
            T = gr.Number(value=values["T"], label=PARAM_LABELS["T"], min_width=90,
                          info="longer wanders further from the straight blend")
            frames = gr.Number(value=start, precision=0, label=label, info=info, min_width=90)
            paths = gr.Number(value=DEFAULTS.paths, precision=0, label="paths", min_width=90,
                              info=f"different random paths side by side; 1 to {LIMITS.paths}")
            seed = gr.Number(value=DEFAULTS.seed, precision=0, label="seed", min_width=90,
                             info="same seed, same paths")
        with gr.Accordion("Advanced", open=False, elem_id=f"{prefix}-advanced"):
            fps = gr.Number(value=DEFAULTS.fps, precision=0, label="fps",
                            info=f"video frames per second; 1 to {LIMITS.fps}")
            self.line = gr.Markdown(smoothness_line(chosen, values, DEFAULTS.frames))
            self.advanced = [param_control(PARAMS[name], values[name], name in shown) for name in ADVANCED]
            self.extra = extra() if extra is not None else {}
            gr.Markdown("What each method does, with its maths: `docs/methods.md`.")
        self.main = [T, frames, paths, seed, fps]
        self.params = [T] + self.advanced  # in the order ["T"] + ADVANCED
        self.inputs = [self.method] + self.main + self.advanced

    def _read(self, choice, frames, param_values):
        """The client's values, as sent: only known method names are kept (in order)."""
        chosen = choice if isinstance(choice, (list, tuple)) else [choice]
        known = registry.available()
        methods = [m for m in chosen if isinstance(m, str) and m in known][: LIMITS.methods]
        if not self.multiselect:
            methods = methods[:1]
        return methods, frames, dict(zip(["T"] + ADVANCED, param_values))

    def _visibility(self, methods, values, reset_to=None):
        shown = shown_params(methods, values)
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
            return [gr.update()] * (1 + len(self.params)) + [smoothness_line(methods, values, frames)]
        if self.multiselect:
            return [gr.update()] + self._visibility(methods, values) + [smoothness_line(methods, values, frames)]
        choice = methods[0]
        values = start_values(methods, self.overrides.get(choice, {}))
        return ([gr.update(info=method_line(choice))]
                + self._visibility(methods, values, reset_to=values)
                + [smoothness_line(methods, values, frames)])

    @ui_event
    def on_choice(self, choice, frames, *param_values):
        methods, _, values = self._read(choice, frames, param_values)
        return self._visibility(methods, values)

    @ui_event
    def on_value(self, choice, frames, *param_values):
        methods, frames, values = self._read(choice, frames, param_values)
        return smoothness_line(methods, values, frames)

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
# The endpoints' parameters in words, for the API page and the MCP tools' descriptions

_IMAGE = ("an image file: a base64 data URL ('data:image/png;base64,...') or the path the "
          "upload_file_to_gradio tool returned; never a web address (refused); at most 10 MB and 16 megapixels")
API_WORDS = {
    "image_a": f"the first image, where the paths start: {_IMAGE}",
    "image_b": f"the second image, where the paths end: {_IMAGE}",
    "image": f"the image the walks leave and come back to: {_IMAGE}",
    "images": "2 to 8 images in order, each {'image': <file>} with the file as for image_a",
    "t": "how random, the time the path may wander: > 0; about 0.1 (close to a straight blend) to 5 "
         "(far from it); linear and slerp ignore it",
    "frames": f"frames of each path, both images included: 4 to {LIMITS.frames}; 64 plays smoothly",
    "frames_per_segment": f"frames from one image to the next, both included: at least 4, the whole path at "
                          f"most {LIMITS.frames}",
    "paths": f"how many different random paths, side by side: 1 to {LIMITS.paths}",
    "seed": "any whole number: the same seed gives the same paths",
    "fps": f"video frames per second: 1 to {LIMITS.fps}",
    "loop": "true: go on from the last image back to the first",
    "hold": "frames to rest on each image: 0 or more",
    "easing": "linear (even speed) or smooth (slow into and out of each image)",
    "seconds": "the video's length in seconds instead of frames_per_segment; 0: use frames_per_segment",
    "resolution": f"photo models only: the photo's longer side in pixels, {LIMITS.resolution[0]} to "
                  f"{LIMITS.resolution[1]} (its aspect ratio is kept)",
    "fast_preview": "photo models only: true decodes with the tiny decoder (TAESD), about 10x faster",
}


def api_words(name: str, models: list[str], methods: list[str]) -> str:
    """One line on the endpoint parameter ``name`` (its API name), for an agent or a script."""
    if name == "model":
        return (f"which VAE: one of {', '.join(models)} (poses, digits and fashion are small models that know "
                "only stick figures, digits and clothes; sd-vae and taesd read any photo), or a Hub repo id "
                "'org/name' of a diffusers AutoencoderKL/AutoencoderTiny")
    if name == "method":
        return "one of " + "; ".join(f"{m} ({METHOD_WORDS[m][0].lower()}: {METHOD_WORDS[m][1]})"
                                     if m in METHOD_WORDS else m for m in methods)
    if name == "methods":
        return f"a list of 1 to {LIMITS.methods} methods to compare, each one of {', '.join(methods)}"
    if name in API_WORDS:
        return API_WORDS[name]
    param = PARAMS.get(INTERNAL_NAMES.get(name, name))
    if param is None:
        return ""
    users = [m for m in methods if any(p.name == param.name for p in registry.available()[m]["params"])]
    return f"{param.help}; {param.range_text()}; default {param.default} (used by {', '.join(users)} only)"
