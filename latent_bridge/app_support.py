"""What the Gradio app needs besides widgets: request limits, method parameters, smoothness.

No maths and no user interface here: the app (``app.py``) turns the ValueErrors raised below
into messages on the page; the parameters come from ``latent_bridge.registry``.

The limits bound one request on a small shared CPU machine (a free Space has 2 cores and
16 GB): every check names the control to change, e.g. "frames must be at most 240".
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import re
import secrets
import shutil
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from . import bridges, checks, models, registry
from .sde import STEP_WORK, prior_factor
from .pipeline import check_seed, frames_per_segment_for, keyframe_count, walk_params

__all__ = [
    "LIMITS", "Limits", "DEFAULTS", "check_request", "check_decode_time", "check_whole",
    "decode_seconds_per_frame", "scale_decode_seconds", "gpu_seconds", "particle_work", "method_kwargs",
    "method_defaults", "check_resolution", "Job", "render", "on_zero_gpu",
    "smoothness_line", "start_values", "shown_params", "WALK_OVERRIDES", "COMPARE_OVERRIDES", "SMOOTH_CORRELATION", "check_seed", "check_choice", "check_methods",
    "check_sampler_memory", "session_folder", "inside", "folder_size", "tidy_cache", "UploadBudget", "EventBodies", "names_a_url",
    "check_keyframe_request", "KEYFRAME_DEFAULTS", "ALLOW_ANY_REPO_VARIABLE", "MODEL_FOLDERS_VARIABLE", "model_folders", "allow_any_repo", "check_typed_repo", "typed_repo_id",
    "typed_repo_kind", "trim_typed_repos", "cached_before",
]


@dataclass(frozen=True)
class Limits:
    """Largest request the server accepts (enforced on the server, not only by sliders).

    frames: frames per path; paths: paths per method; methods: methods in one comparison;
    image_pixels: pixels of an uploaded image before it is resized to the model's side;
    output_pixels: frames x paths x methods x (model side)^2, i.e. how much is put out;
    particles, max_particles, steps, pcn_moves: a particle sampler's (Langevin) first and
    largest round of particles, integration steps and refinement sweeps; particle_work:
    what one Langevin request costs at most (``particle_work``: its particles, its steps' own
    cost and its prior's, one particle system a path, each keyframes segment a run) at 10 to
    35 ns per unit on 2 CPU cores: the limit is 5 to 18 s of work;
    decode_seconds: the frames decoded (frames x paths x methods, a deterministic method's paths
    once) x the model's measured decode time per frame (``decode_seconds_per_frame``), so a
    slow decoder (SD's KL-VAE on a CPU: 2 s a frame at 256 px) cannot hold the only worker
    for minutes;
    fps: video frame rate; upload: Gradio's max_file_size;
    particle_memory: bytes a particle sampler may hold at once (``memory_bytes``: its
    particles' frames, paths x particles x frames x latent size x 4 bytes with a copy while
    resampling, and with pCN moves the stored driving noise and its copies);
    cache_bytes: disk the app's files may take (uploads and outputs together): past it, uploads
    evict the oldest files, and are refused when nothing old enough is left to evict;
    upload_request_bytes: one upload request (several files at most ``upload`` each);
    event_request_bytes: the body of any other POST (an event's values; ``EventBodies``);
    keys: images of a path through keyframes (its frames, all segments and holds, count as
    ``frames``); resolution: the longer side of a photo through a Hub VAE, in pixels (within
    it, the decode-time limit decides what a device can afford);
    repo_bytes: what a Hub repo typed by a visitor may download (its weights, config and data
    files, from the Hub's file list before any download); repo_id_chars: the longest text
    accepted in the repo id field; typed_repos_bytes: the disk the typed repos may take in the
    Hugging Face cache together (past it, the least recently used are deleted).
    """

    frames: int = 240
    paths: int = 8
    methods: int = 8
    image_pixels: int = 16_000_000
    output_pixels: int = 40_000_000
    particles: int = 16384
    max_particles: int = 16384
    steps: int = 2000
    pcn_moves: int = 20
    sweeps: int = 2000
    chains: int = 64
    particle_work: int = 500_000_000
    decode_seconds: float = 120.0
    fps: int = 60
    upload: str = "10mb"
    particle_memory: int = 1 << 30
    cache_bytes: int = 2 << 30
    upload_request_bytes: int = 8 * 10 * 1024 * 1024
    event_request_bytes: int = 64 * 1024
    keys: int = 8
    resolution: tuple[int, int] = (256, 1024)
    repo_bytes: int = 10**9
    repo_id_chars: int = 200
    typed_repos_bytes: int = 10 * 10**9


LIMITS = Limits()

# Adjacent frames correlating at least this much look like motion rather than a slideshow.
SMOOTH_CORRELATION = 0.95


@dataclass(frozen=True)
class Defaults:
    """Main-panel defaults. 64 frames: a rough (OU-like) bridge's random part correlates about
    0.954 between adjacent frames at 64 frames (0.94 at 48, 0.88 at 24) whatever T is, so this
    is the smallest round count that gives a smooth video for every registered method."""

    frames: int = 64
    paths: int = 2
    seed: int = 0
    fps: int = 24
    resolution: int = 256


DEFAULTS = Defaults()

# Parameters whose cost grows with their value: {name: smallest value}; the largest is the
# LIMITS field of the same name.
_BOUNDED_PARAMS = {"particles": 1, "max_particles": 1, "steps": 1, "pcn_moves": 0, "sweeps": 0, "chains": 2}


def check_whole(name: str, value: Any, low: int, high: int) -> int:
    """``value`` (as a form sends it: a number or digits) as an int in [low, high], else a
    ValueError naming the control and its range ("at most 240 on this server")."""
    return checks.check_whole(name, value, low, high, loose=True, limit=" on this server")


def check_choice(name: str, value: Any, choices) -> str:
    """``value`` as one of ``choices`` (strings), else a ValueError listing them. Any other type
    (a list, a dict, a number) is refused the same way, never used as a key or a path."""
    choices = list(choices)
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {checks.shown(value, 80)!r}")
    return value


def check_methods(value: Any, choices) -> list[str]:
    """The methods of a comparison: a list of names, or one string of names separated by
    commas ("linear, ou"); each must be in ``choices``, none twice."""
    if value is None:
        value = []
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"methods must be a list of method names; got {type(value).__name__}")
    if len(value) > LIMITS.methods:
        raise ValueError(f"compare at most {LIMITS.methods} methods at once; {len(value)} are ticked")
    methods = [check_choice("each method", name, choices) for name in value]
    if len(set(methods)) != len(methods):
        raise ValueError(f"each method may be ticked once; got {', '.join(methods)}")
    return methods


def check_request(*, frames: Any, paths: Any, image_side: int | tuple[int, int], methods: int = 1) -> tuple[int, int]:
    """Validate a request's size against ``LIMITS``; return ``(frames, paths)`` as ints.

    image_side: the decoded frames' side in pixels, or their (height, width).
    Raises ValueError naming what to change (frames, paths, methods, resolution or the model).
    """
    height, width = (image_side, image_side) if isinstance(image_side, int) else image_side
    frames = check_whole("frames", frames, 4, LIMITS.frames)
    paths = check_whole("paths", paths, 1, LIMITS.paths)
    if methods < 1:
        raise ValueError("tick at least one method to compare")
    if methods > LIMITS.methods:
        raise ValueError(f"compare at most {LIMITS.methods} methods at once; {methods} are ticked")
    decoded = frames * paths * methods * height * width
    if decoded > LIMITS.output_pixels:
        most = max(LIMITS.output_pixels // (paths * methods * height * width), 0)
        raise ValueError(
            f"this request decodes {frames} frames x {paths} paths x {methods} method(s) of "
            f"{width}x{height} pixels = {decoded / 1e6:.0f} megapixels, above this server's "
            f"limit of {LIMITS.output_pixels / 1e6:g}: lower frames (at most {most} here), paths or "
            "the number of methods, or the resolution, or pick a smaller model"
        )
    return frames, paths


def check_resolution(value: Any) -> int:
    """The longer side of a photo through a Hub VAE: a whole number in ``LIMITS.resolution``
    (checked for every model, so no value is left unread)."""
    low, high = LIMITS.resolution
    return check_whole("resolution", value, low, high)


@dataclass(frozen=True)
class KeyframeDefaults:
    """The Keyframes tab's starting values: 24 frames per segment (a second at 24 fps), no hold,
    evenly spaced frames, loop on (the one-click examples are loops)."""

    frames_per_segment: int = 24
    hold: int = 0
    easing: str = "linear"
    loop: bool = True


KEYFRAME_DEFAULTS = KeyframeDefaults()


def check_keyframe_request(*, n_keys: Any, frames_per_segment: Any, loop: Any, hold: Any, seconds: Any,
                           fps: int) -> tuple[int, int, int]:
    """Validate a Keyframes request's timeline against ``LIMITS``: return ``(frames_per_segment,
    hold, frames)`` as ints, ``frames`` that of the whole path (every segment and hold), which
    counts as ``frames`` toward the other limits (``check_request``).

    seconds: the video's length, or None / empty / 0 to take ``frames_per_segment`` as given;
    otherwise frames per segment follow from it and ``fps``. Raises ValueError naming the control.
    """
    n_keys = check_whole("images", n_keys, 2, LIMITS.keys)
    if not isinstance(loop, bool):
        raise ValueError(f"loop must be true or false; got {loop!r}")
    hold = check_whole("hold", hold, 0, LIMITS.frames)
    if seconds is None or seconds == "" or seconds == 0:
        frames_per_segment = check_whole("frames per segment", frames_per_segment, 4, LIMITS.frames)
    else:
        longest = LIMITS.frames / fps
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < seconds <= longest:
            raise ValueError(f"length must be a number of seconds in (0, {longest:g}] at {fps} fps (at most "
                             f"{LIMITS.frames} frames on this server), or empty to use frames per segment; "
                             f"got {seconds!r}")
        frames_per_segment = frames_per_segment_for(float(seconds), fps, n_keys, loop, hold)
        if frames_per_segment < 4:
            raise ValueError(f"{seconds:g} s at {fps} fps leaves {frames_per_segment} frames per segment, fewer "
                             f"than 4: make the video longer, or use fewer images or a shorter hold")
    frames = keyframe_count(n_keys, frames_per_segment, loop, hold)
    if frames > LIMITS.frames:
        segments = n_keys - 1 + int(loop)
        most = (LIMITS.frames - 1 - hold * n_keys) // segments + 1
        fix = f"lower frames per segment (at most {most} here), hold" if most >= 4 else "lower hold"
        raise ValueError(
            f"this path has {segments} segments of {frames_per_segment} frames and {hold} more at each of "
            f"{n_keys} images, {frames} frames in all, above this server's limit of {LIMITS.frames} per path: "
            f"{fix}, the length or the number of images")
    return frames_per_segment, hold, frames


# ------------------------------------------------------------------------------------------
# Files on the server: every folder name comes from the server, every write and delete is
# checked to stay inside the app's own folder.

# A key made at start-up: a session's folder is named by a keyed hash of Gradio's session hash
# (a string the client chooses), so no client value becomes a path, and a folder name seen in
# an output URL does not reveal the session hash that would let someone else delete it.
_SESSION_KEY = secrets.token_bytes(32)


def inside(root: str | os.PathLike, path: str | os.PathLike) -> Path:
    """``path`` resolved (symbolic links followed), if it lies strictly inside ``root``;
    otherwise a ValueError. Use it before every write or delete under ``root``."""
    base = Path(os.path.realpath(root))
    resolved = Path(os.path.realpath(path))
    if resolved == base or not resolved.is_relative_to(base):
        raise ValueError("refused: a file path outside the app's own folder")
    return resolved


def session_folder(root: str | os.PathLike, session_hash: Any) -> Path:
    """The folder under ``root`` for one visitor's files: 32 hex digits from a keyed hash of
    ``session_hash`` (whatever the client sent: "..", "/var/tmp/x", None, a list), so two
    sessions never share a folder and none lies outside ``root``."""
    text = session_hash if isinstance(session_hash, str) else ""
    digest = hmac.new(_SESSION_KEY, text.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
    return inside(root, Path(root) / digest[:32])


def folder_size(root: str | os.PathLike) -> int:
    """Bytes of the regular files under ``root`` (links not followed); 0 if it is missing."""
    total = 0
    for folder, _, files in os.walk(root):
        for name in files:
            try:
                info = os.lstat(os.path.join(folder, name))
            except OSError:
                continue
            total += info.st_size if stat.S_ISREG(info.st_mode) else 0
    return total


def tidy_cache(root: str | os.PathLike, budget: int, min_age: float = 600.0, keep=frozenset(),
               now: float | None = None) -> int:
    """Keep the files under ``root`` within ``budget`` bytes; returns the bytes left.

    Removes empty folders older than a minute (what Gradio's ``delete_cache`` leaves behind),
    then, while over budget, deletes the oldest files first, only those older than ``min_age``
    seconds (a visitor's fresh upload or result stays) and not in ``keep`` (example images).
    """
    now = time.time() if now is None else now
    base = Path(os.path.realpath(root))
    files = []
    for folder, subfolders, names in os.walk(base, topdown=False):
        for name in names:
            path = os.path.join(folder, name)
            try:
                info = os.lstat(path)
            except OSError:
                continue
            files.append((info.st_mtime, info.st_size, path))
        if folder != str(base) and not subfolders and not names:
            try:
                if now - os.lstat(folder).st_mtime > 60:
                    os.rmdir(folder)
            except OSError:
                pass
    total = sum(size for _, size, _ in files)
    keep = {os.path.realpath(p) for p in keep}
    for mtime, size, path in sorted(files):
        if total <= budget:
            break
        if now - mtime < min_age or path in keep:
            continue
        try:
            os.unlink(inside(base, path))
            total -= size
        except (OSError, ValueError):
            continue
    return total


class UploadBudget:
    """ASGI middleware in front of Gradio's upload route (which runs outside the queue): before
    an upload is stored, the cache is tidied to make room for it (``tidy_cache``), and the
    upload is refused (HTTP 507) when the cache would still exceed ``budget`` bytes, or (413)
    when one request carries more than ``most_per_request`` bytes, or (411) when it does not
    say its size. So the disk the app can be made to use is bounded by ``budget`` plus the
    uploads in flight at one moment.

    root: a function returning the cache folder (known only once Gradio has started);
    keep: a function returning paths never to evict (the example images)."""

    def __init__(self, app, *, root, budget: int, most_per_request: int, keep=lambda: ()):
        self.app, self.root, self.budget, self.most, self.keep = app, root, budget, most_per_request, keep
        self.lock = threading.Lock()

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"].rstrip("/").endswith("/upload"):
            refusal = await _to_thread(self._refusal, dict(scope.get("headers") or []))
            if refusal is not None:
                await _answer(send, *refusal)
                return
        await self.app(scope, receive, send)

    def _refusal(self, headers: dict) -> tuple[int, str] | None:
        length = headers.get(b"content-length", b"").decode("latin-1").strip()
        if not length.isdigit():
            return 411, "uploads must state their size (Content-Length)"
        size = int(length)
        if size > self.most:
            return 413, f"one upload request may carry at most {self.most / 1e6:.0f} MB; got {size / 1e6:.1f} MB"
        with self.lock:  # one tidy at a time; others wait a few milliseconds
            used = tidy_cache(self.root(), self.budget - size, keep=self.keep())
        if used + size > self.budget:
            return 507, ("the server's upload space is full (its files are kept for a while for the "
                         "visitors who made them): try again in a few minutes")
        return None


class EventBodies:
    """ASGI middleware in front of every other POST route (the events: ``queue/join``,
    ``run/...``, ``call/...``), which Gradio reads whole and keeps per session:

    - a body above ``most`` bytes is refused (413): a page's request is a few kilobytes (files
      travel through the upload route, by reference), and Gradio keeps each session's input
      values in memory, so without a bound a client sending 20 MB strings under fresh session
      hashes grew the server by 900 MB a round;
    - a file given by URL (a FileData whose ``path`` is ``http(s)://...``) is refused (400):
      Gradio would download it before any handler of ours runs, with no size or time bound,
      into its cache, outside the upload budget;
    - a multipart body is refused (415): files reach the app through the upload route only
      (Gradio's ``process_recording`` route would otherwise take them and run ffmpeg)."""

    def __init__(self, app, *, most: int):
        self.app, self.most = app, most

    async def __call__(self, scope, receive, send):
        if (scope["type"] != "http" or scope["method"] != "POST"
                or scope["path"].rstrip("/").endswith("/upload")):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if headers.get(b"content-type", b"").decode("latin-1").lower().startswith("multipart/"):
            await _answer(send, 415, "files are sent through the upload route only")
            return
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.most:
                await _answer(send, 413, f"a request may carry at most {self.most // 1024} KB of values "
                                         "(upload images as files)")
                return
        if names_a_url(body):
            await _answer(send, 400, "a file must be uploaded, not given as a URL")
            return
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


_URL = re.compile(r"\s*https?:", re.IGNORECASE)


def names_a_url(body: bytes) -> bool:
    """Whether a JSON request body holds a file given by URL: a dict whose ``path`` is an
    http(s) address, at any depth. A body that is not JSON is left to Gradio to refuse."""
    try:
        pending = [json.loads(body)]
    except (ValueError, RecursionError):
        return False
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            path = value.get("path")
            if isinstance(path, str) and _URL.match(path):
                return True
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return False


async def _answer(send, status: int, text: str) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
    await send({"type": "http.response.body", "body": text.encode()})


async def _to_thread(function, *args):
    import anyio

    return await anyio.to_thread.run_sync(function, *args)


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
                  runs: int = 1, paths: int = 1) -> dict[str, Any]:
    """Keyword arguments for ``registry.get(method, ...)`` from every control's value.

    values: ``{param name: value}`` for all controls of the page (those of other methods too).
    Keeps the parameters ``method`` declares and whose ``when`` condition holds; a missing or
    empty value falls back to the registry default. Particles, steps and pCN moves are checked
    against ``LIMITS``; with the model's ``latent_shape``, the work of a particle sampler
    (``particle_work``: one particle system a path, ``runs`` the segments of a path through
    keyframes, each its own run) against ``LIMITS.particle_work``. Other values are
    checked by the sampler itself when it is built.
    """
    kwargs = {}
    for param in _params(method):
        value = values.get(param.name)
        if value is None or value == "":
            value = param.default
        kwargs[param.name] = value
    kwargs = {p.name: kwargs[p.name] for p in _params(method) if p.applies(kwargs)}
    for name, low in _BOUNDED_PARAMS.items():
        if name in kwargs:
            kwargs[name] = check_whole(name, kwargs[name], low, getattr(LIMITS, name))
    if latent_shape is not None and "algorithm" in kwargs:
        _check_particle_work(kwargs, math.prod(latent_shape), runs, paths)
    return kwargs


def particle_work(kwargs: dict[str, Any], latent_size: int, runs: int = 1, paths: int = 1) -> int:
    """What a Langevin request with these parameters costs at most, in units of
    ``LIMITS.particle_work``: the sampler's own ``work_units`` (``LangevinBridge.work_units``),
    each keyframes segment a run; 0 for other samplers."""
    if "algorithm" not in kwargs:
        return 0
    sampler = registry.get("langevin", **kwargs)
    return sampler.work_units(kwargs.get("frames", 2), latent_size, paths, runs)


def _check_particle_work(kwargs: dict[str, Any], latent_size: int, runs: int = 1, paths: int = 1) -> None:
    work = particle_work(kwargs, latent_size, runs, paths)
    if work <= LIMITS.particle_work:
        return
    if kwargs["algorithm"] != "smc":
        raise ValueError(
            f"Langevin work (chains x sweeps x coordinate blocks x time steps x latent size, "
            "LangevinBridge.work_units) = "
            f"{work:.2g}{f' over {runs} segments' if runs > 1 else ''}, above this server's limit of "
            f"{LIMITS.particle_work:.2g}: lower sweeps, steps or paths, raise block, or use ou with the fitted "
            "prior (the exact bridge of the preconditioned diffusion), or pick a model with a smaller latent")
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
    """Refuse a particle sampler run of ``paths`` paths (one particle system each) that would
    hold more than ``LIMITS.particle_memory`` bytes (``sampler.memory_bytes``); samplers
    without particles hold a few frames per path."""
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


def smoothness_line(methods: list[str], values: dict[str, Any], frames: Any) -> str:
    """One Markdown line for the page: how strongly adjacent frames correlate with these
    settings, per method (``bridges.adjacent_correlation``, from the closed-form covariance of
    the bridge noise). Never raises: settings that cannot be evaluated give a reason instead."""
    if not methods:
        return "Adjacent-frame correlation: tick a method."
    try:  # the same bounds as a run, before any work: a covariance is frames x frames
        frames = check_whole("frames", frames, 4, LIMITS.frames)
        methods = check_methods(methods, registry.available())
    except ValueError as error:
        return f"Adjacent-frame correlation: not available ({error})."
    parts, measured, rough = [], False, False
    for method in methods:
        try:
            sampler = registry.get(method, **method_kwargs(method, values))
            if sampler.stochastic and not hasattr(sampler, "covariance"):
                parts.append(f"{method}: no closed form (see ssim_mean in the diagnostics after a run)")
                continue
            correlation = bridges.adjacent_correlation(sampler, frames)
        except (TypeError, ValueError) as error:
            parts.append(f"{method}: not available ({error})")
            continue
        measured = True
        rough = rough or correlation < SMOOTH_CORRELATION
        parts.append(f"{method}: **{correlation:.3f}**" if sampler.stochastic else f"{method}: 1 (deterministic)")
    if not measured:
        return "Adjacent-frame correlation: " + "; ".join(parts) + "."
    if rough:
        verdict = f"below {SMOOTH_CORRELATION:g} the video flickers: use more frames or a smoother kernel"
    else:
        verdict = f"at least {SMOOTH_CORRELATION:g}: smooth motion"
    return "Adjacent-frame correlation: " + "; ".join(parts) + f" ({verdict})."


# ------------------------------------------------------------------------------------------
# One render, as a GPU worker receives it


def on_zero_gpu() -> bool:
    """Whether this process runs on a ZeroGPU Space: the ``spaces`` package is importable and
    ``SPACES_ZERO_GPU`` is set. There, CUDA is attached only inside functions decorated with
    ``spaces.GPU``, which run in another process that receives their arguments and returns
    their results pickled."""
    import importlib.util

    return bool(os.environ.get("SPACES_ZERO_GPU")) and importlib.util.find_spec("spaces") is not None


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
    from . import pipeline

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


# ------------------------------------------------------------------------------------------
# Hub repos typed by a visitor: text, never a path; checked on the Hub's file list before any
# download (``models.check_remote``), loaded at the checked commit.

ALLOW_ANY_REPO_VARIABLE = "LATENT_BRIDGE_ALLOW_ANY_REPO"
# What answers model_info (None: huggingface_hub.HfApi()); tests put a stand-in here.
HUB_API = None
# Recent checks: {repo id: (RemoteModel, when)}, at most _CHECKED_MOST, each good _CHECKED_SECONDS.
_CHECKED: dict = {}
_CHECKED_MOST, _CHECKED_SECONDS = 64, 600.0
_CHECKED_LOCK = threading.Lock()


MODEL_FOLDERS_VARIABLE = "LATENT_BRIDGE_MODEL_FOLDERS"


def model_folders(environ=os.environ, taken=()) -> dict[str, tuple[Path, str]]:
    """Checkpoint folders the operator adds to the app's list (``latent-bridge train`` writes
    them): ``LATENT_BRIDGE_MODEL_FOLDERS``, folders separated by ``os.pathsep``. Returns
    {folder name: (folder, description from its config.json)}; a ValueError for a folder that
    is missing or holds no config.json, or a name already ``taken`` (or given twice)."""
    import json

    found: dict[str, tuple[Path, str]] = {}
    for text in filter(None, (part.strip() for part in environ.get(MODEL_FOLDERS_VARIABLE, "").split(os.pathsep))):
        folder = Path(text).expanduser().resolve()
        if not (folder / "config.json").is_file():
            raise ValueError(f"{MODEL_FOLDERS_VARIABLE}: {text!r} is not a checkpoint folder (no config.json); "
                             "give folders written by `latent-bridge train`")
        name = folder.name
        if name in found or name in taken:
            raise ValueError(f"{MODEL_FOLDERS_VARIABLE}: two models would be called {name!r}; rename a folder")
        try:
            description = str(json.loads((folder / "config.json").read_text()).get("description") or "")
        except (ValueError, AttributeError):
            description = ""
        found[name] = (folder, description or f"a VAE from the folder {name!r}")
    return found


def allow_any_repo(environ=os.environ) -> bool:
    """Whether the app takes a Hub repo id typed by a visitor: on unless the variable
    ``LATENT_BRIDGE_ALLOW_ANY_REPO`` is "0", "false", "no" or "off"."""
    return environ.get(ALLOW_ANY_REPO_VARIABLE, "1").strip().lower() not in ("0", "false", "no", "off")


def typed_repo_id(text: Any) -> str:
    """``text`` as a well-formed Hub repo id ('org/name', surrounding spaces dropped), else a
    ValueError: checked before anything else, so a path, a URL or a folder never goes further."""
    if not isinstance(text, str):
        raise ValueError(f"a Hub repo id is text such as 'org/name'; got {type(text).__name__}")
    repo_id = text.strip()
    if len(repo_id) > LIMITS.repo_id_chars:
        raise ValueError(f"a Hub repo id is at most {LIMITS.repo_id_chars} characters ('org/name'); got "
                         f"{len(repo_id)}")
    return models.resolve_repo_id(repo_id)


def check_typed_repo(text: Any, *, api=None) -> "models.RemoteModel":
    """A repo id typed into the app, checked: well formed (never a path, a URL or a folder
    here), and on the Hub a VAE latent-bridge loads, safetensors only, within
    ``LIMITS.repo_bytes``. Answers are remembered a few minutes (a render asks again).

    Raises ValueError (ModelUnavailableError when the Hub cannot be asked) naming what is wrong.
    """
    if not allow_any_repo():
        raise ValueError("this app loads only its listed models (Hub repo ids are switched off here)")
    repo_id = typed_repo_id(text)
    now = time.monotonic()
    with _CHECKED_LOCK:
        found = _CHECKED.get(repo_id)
        if found is not None and now - found[1] < _CHECKED_SECONDS:
            return found[0]
    remote = models.check_remote(repo_id, api=api if api is not None else HUB_API, max_bytes=LIMITS.repo_bytes)
    with _CHECKED_LOCK:
        _CHECKED[repo_id] = (remote, now)
        while len(_CHECKED) > _CHECKED_MOST:
            _CHECKED.pop(next(iter(_CHECKED)))
    return remote


def cached_before(remote: "models.RemoteModel", cache_dir=None) -> bool:
    """Whether the checked repo's config is in the local Hugging Face cache already (then it is
    not the app's download, and ``trim_typed_repos`` must leave it alone)."""
    from huggingface_hub import try_to_load_from_cache

    name = f"{remote.subfolder}/config.json" if remote.subfolder else "config.json"
    return isinstance(try_to_load_from_cache(remote.repo_id, name, cache_dir=cache_dir, revision=remote.commit), str)


def typed_repo_kind(name: Any) -> str | None:
    """"diffusers" or "latent-bridge" for a repo id checked lately, else None (never asks the Hub)."""
    with _CHECKED_LOCK:
        found = _CHECKED.get(name) if isinstance(name, str) else None
    return found[0].kind if found is not None else None


def trim_typed_repos(budget: int, downloaded, keep=frozenset(), cache_dir=None) -> int:
    """Delete the least recently used of the Hub repos in ``downloaded`` (those this app fetched
    for typed repo ids and did not find in the cache before) other than those in ``keep`` (the
    loaded ones), while they take more than ``budget`` bytes; returns the bytes they take after.
    A visitor's repo ids thus cannot fill the disk, and nothing else in the cache (an operator's
    own models) is ever deleted."""
    from huggingface_hub import scan_cache_dir

    try:
        info = scan_cache_dir(cache_dir)
    except (OSError, ValueError):  # no cache yet, or one being written
        return 0
    others = sorted((repo for repo in info.repos if repo.repo_type == "model" and repo.repo_id in downloaded
                     and repo.repo_id not in keep), key=lambda repo: repo.last_accessed)
    total = sum(repo.size_on_disk for repo in others)
    for repo in others:
        if total <= budget:
            break
        # The whole repo folder: a commit hash names a revision in every repo that has it.
        shutil.rmtree(repo.repo_path, ignore_errors=True)
        total -= repo.size_on_disk
    return total
