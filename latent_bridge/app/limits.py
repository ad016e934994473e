"""What one request may ask of the server, and the checks of its sizes.

Every check names the control to change ("frames must be at most 240 on this server"); the
app turns the ValueError into a message on the page. The limits bound one request on a small
shared CPU machine (a free Space has 2 cores and 16 GB).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import checks
# The main panel's defaults and the smoothness target are the library's (the CLI shares them).
from ..bridges import SMOOTH_CORRELATION  # noqa: F401
from ..pipeline import DEFAULTS, frames_per_segment_for, keyframe_count  # noqa: F401

@dataclass(frozen=True)
class Limits:
    """Largest request the server accepts (enforced on the server, not only by sliders).

    frames: frames per path; paths: paths per method; methods: methods in one comparison;
    image_pixels: pixels of an uploaded image before it is resized to the model's side;
    output_pixels: frames x paths x methods x (model side)^2, i.e. how much is put out;
    particles, max_particles, steps, pcn_moves: a particle sampler's (Langevin) first and
    largest round of particles, integration steps and refinement sweeps; sweeps, chains, rungs:
    the default Langevin's sweeps, chains and tempering rungs a chain; population, islands,
    moves, temperatures: path-smc's paths carried together, populations side by side, sweeps a
    temperature and most tempering steps; particle_work:
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
    mcp_request_bytes: the body of an MCP request (images travel in it as base64: two of 10 MB
    are 27 MB; ``mcp_guard.McpCalls``);
    keys: images of a path through keyframes (its frames, all segments and holds, count as
    ``frames``); resolution: the longer side of a photo through a Hub VAE, in pixels (within
    it, the decode-time limit decides what a device can afford);
    repo_bytes: what a Hub repo typed by a visitor may download (its weights, config and data
    files, from the Hub's file list before any download); repo_id_chars: the longest text
    accepted in the repo id field; typed_repos_bytes: the disk the typed repos may take in the
    Hugging Face cache together (past it, the least recently used are deleted);
    cache_files: files the app's cache may hold (uploads and outputs: each costs an inode and a
    place in the index whatever its size).

    Each visitor's share (``visitors``; a visitor is a client address): visitor_uploads: upload
    requests in flight at once; upload_files: files in one upload request (a Keyframes gallery
    sends at most ``keys``); visitor_bytes, visitor_files: what their uploads and results may
    hold in the cache (past it their own oldest files go first); visitor_jobs: their renders
    queued or running; visitor_requests: their HTTP requests open at once (event streams
    included); result_bytes, result_files: what a render reserves in the cache before it runs
    (its files are measured when it ends). Past a share: HTTP 429 with a message.
    header_seconds: the time a connection has to send a request's headers; address_connections:
    connections open at once from one socket address (off a Space: there the proxy is the peer).
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
    rungs: int = 32
    population: int = 256
    islands: int = 64
    moves: int = 200
    temperatures: int = 500
    particle_work: int = 500_000_000
    decode_seconds: float = 120.0
    fps: int = 60
    upload: str = "10mb"
    particle_memory: int = 1 << 30
    cache_bytes: int = 2 << 30
    upload_request_bytes: int = 8 * 10 * 1024 * 1024
    event_request_bytes: int = 64 * 1024
    mcp_request_bytes: int = 28 * 2**20
    keys: int = 8
    resolution: tuple[int, int] = (256, 1024)
    repo_bytes: int = 10**9
    repo_id_chars: int = 200
    typed_repos_bytes: int = 10 * 10**9
    cache_files: int = 20_000
    visitor_uploads: int = 2
    upload_files: int = 16
    visitor_bytes: int = 256 << 20
    visitor_files: int = 200
    visitor_jobs: int = 2
    visitor_requests: int = 32
    result_bytes: int = 64 << 20
    result_files: int = 8
    header_seconds: float = 10.0
    address_connections: int = 64


LIMITS = Limits()


# Parameters whose cost grows with their value: {name: smallest value}; the largest is the
# LIMITS field of the same name.
BOUNDED_PARAMS = {"particles": 1, "max_particles": 1, "steps": 1, "pcn_moves": 0, "sweeps": 0, "chains": 2,
                  "rungs": 1, "population": 2, "islands": 1, "moves": 1, "temperatures": 1}


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


