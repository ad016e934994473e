"""From images to latent paths to frames: encode once, sample, decode in memory-sized chunks.

``interpolate`` (two images), ``random_walk`` (a closed loop from one image), ``compare``
(several samplers, same endpoints and seed) and ``keyframes`` (one path through several
images, optionally back to the first) return a ``Result``. Frames are decoded chunk by
chunk; with ``keep_frames=False`` nothing but the two endpoint images is decoded up front and
``Result.iter_frames`` streams the rest, so a 1,000-frame video never holds all its frames or
all decoder activations at once. Progress goes out through ``progress(done, total, message)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterator

import numpy as np
import torch

from . import metrics as path_metrics_module, priors, registry
from .bridges import Paths, Sampler, check_easing
from .checks import check_whole
from .data.images import to_uint8

__all__ = [
    "DEFAULTS", "Defaults", "MAX_SEED", "Result", "check_seed", "chunk_size_for", "compare", "decode_frames",
    "decoded_paths", "default_walk_sampler",
    "interpolate", "prepare_image", "prepare_images", "random_walk", "resolve_prior", "to_uint8", "walk_params", "keyframes",
    "keyframe_count", "keyframe_params", "frames_per_segment_for", "check_keyframe_args",
]

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Defaults:
    """A run's defaults, the app's and the command line's. 64 frames: a rough (OU-like)
    bridge's random part correlates about 0.954 between adjacent frames at 64 frames (0.94 at
    48, 0.88 at 24) whatever T is, so this is the smallest round count that gives a smooth video
    (``bridges.SMOOTH_CORRELATION``) for every registered method. resolution: the longer side
    in pixels of a photo through a Hub VAE (the app's slider; ``--image-size``)."""

    frames: int = 64
    paths: int = 2
    seed: int = 0
    fps: int = 24
    resolution: int = 256


DEFAULTS = Defaults()

# Decoder activations allowed at once. A conv decoder's widest full-resolution layers hold
# about 128 channels and ~3 such tensors are alive at a time, so one frame costs roughly
# image_size^2 * 128 * 3 values (SD's KL decoder at 256 px: ~100 MB in float32).
DECODE_BUDGET_BYTES = 256 * 2**20
_ACTIVATION_VALUES_PER_PIXEL = 128 * 3


@dataclass
class Result:
    """Sampled paths and their frames.

    frames: uint8 ``(n_paths, frames, H, W, 3)`` (grayscale repeated to 3 channels), or None
        when the pipeline ran with ``keep_frames=False`` (use ``iter_frames``).
    latents: float32 ``(n_paths, frames, *latent_shape)``; ``[:, 0]`` and ``[:, -1]`` are the
        encoded endpoints exactly.
    times: float64 ``(frames,)``, the sampler's frame times in [0, T].
    method, params: the sampler's registry name and parameters.
    diagnostics: JSON-able: the sampler's run diagnostics (``Paths.diagnostics``, with its
        ``warnings`` when there are any), metric summaries and the run's settings.
    metrics: float64 arrays per frame or step (see ``latent_bridge.metrics.path_metrics``).
    model: the VAE's name; vae: the VAE itself (for streaming decodes).
    data_latents: float32 ``(N, *latent_shape)`` encoded training data, or None.
    endpoint_frames: uint8 ``(2, H, W, 3)``, the decoded first and last latents.
    fast_preview: whether frames come from the model's fast decoder.
    chunk_size: latents per decoder call used for this result (None: ``chunk_size_for(vae)``).
    key_frames: for a path through keyframes (``keyframes``), the frame index of each key
        image (the first frame of its rest, with ``hold``); None otherwise.
    """

    frames: np.ndarray | None
    latents: torch.Tensor
    times: np.ndarray
    method: str
    params: dict[str, Any]
    diagnostics: dict[str, Any]
    metrics: dict[str, np.ndarray]
    model: str
    vae: Any = field(default=None, repr=False)
    data_latents: torch.Tensor | None = field(default=None, repr=False)
    endpoint_frames: np.ndarray | None = field(default=None, repr=False)
    fast_preview: bool = False
    chunk_size: int | None = None
    key_frames: tuple[int, ...] | None = None

    def __repr__(self) -> str:
        kept = "kept" if self.frames is not None else "streamed"
        return (f"Result(method={self.method!r}, model={self.model!r}, n_paths={self.n_paths}, "
                f"frames={self.n_frames} ({kept}), latent_shape={tuple(self.latents.shape[2:])}, "
                f"params={self.params!r})")

    @property
    def n_paths(self) -> int:
        return int(self.latents.shape[0])

    def detached(self) -> "Result":
        """This result without its VAE and training latents: arrays, numbers and strings only,
        small to pickle (what a ZeroGPU worker sends back). Needs ``frames`` (keep_frames)."""
        if self.frames is None:
            raise ValueError("a streamed result (keep_frames=False) needs its VAE: decode it first")
        return replace(self, vae=None, data_latents=None)

    @property
    def n_frames(self) -> int:
        return int(self.latents.shape[1])

    def iter_frames(self, chunk: int | None = None, progress: Progress | None = None) -> Iterator[np.ndarray]:
        """uint8 chunks ``(n_paths, c, H, W, 3)`` in time order (``c = chunk`` except the last).

        From ``frames`` when they were kept, else decoded from ``latents`` as they are needed.
        """
        if chunk is None:
            if self.chunk_size is not None:
                chunk = _time_steps(self.chunk_size, self.n_paths)
            elif self.vae is not None:
                chunk = _time_steps(chunk_size_for(self.vae), self.n_paths)
            else:
                chunk = 64
        check_whole("chunk", chunk, 1)
        if self.frames is not None:
            for start in range(0, self.n_frames, chunk):
                yield self.frames[:, start:start + chunk]
            return
        if self.vae is None:
            raise ValueError("this result holds neither frames nor a VAE to decode its latents with")
        yield from _rechunk(_decode_paths(self.vae, self.latents, self.endpoint_frames, chunk,
                                          self.fast_preview, progress), chunk)


# ---------------------------------------------------------------------------------------------
# Decoding


def chunk_size_for(vae, budget_bytes: int = DECODE_BUDGET_BYTES) -> int:
    """How many frames to decode at once so the decoder's activations stay near
    ``budget_bytes`` (see ``DECODE_BUDGET_BYTES``); at least 1."""
    itemsize = torch.empty((), dtype=getattr(vae, "dtype", torch.float32)).element_size()
    height, width = getattr(vae, "image_shape", (vae.image_size, vae.image_size))
    per_frame = height * width * _ACTIVATION_VALUES_PER_PIXEL * itemsize
    return max(1, int(budget_bytes // per_frame))


def _time_steps(chunk_size: int, n_paths: int) -> int:
    """Frames per decoder call when each frame holds ``n_paths`` latents: at least 1."""
    return max(1, chunk_size // n_paths)


def decode_frames(vae, latents: torch.Tensor, chunk_size: int | None = None, fast: bool = False,
                  progress: Progress | None = None) -> Iterator[np.ndarray]:
    """Decode ``latents`` float ``(N, *latent_shape)`` chunk by chunk: uint8 ``(c, H, W, 3)`` each.

    chunk_size: frames per decoder call; default ``chunk_size_for(vae)``. progress is called
    after each chunk with (frames decoded, N, "decoding").
    """
    chunk_size = chunk_size_for(vae) if chunk_size is None else chunk_size
    check_whole("chunk_size", chunk_size, 1)
    total = latents.shape[0]
    with torch.inference_mode():
        for start in range(0, total, chunk_size):
            images = vae.decode(latents[start:start + chunk_size], fast=fast)
            yield to_uint8(images)
            if progress is not None:
                progress(min(start + chunk_size, total), total, "decoding")


def _decode_paths(vae, latents: torch.Tensor, endpoint_frames: np.ndarray, chunk: int, fast: bool,
                  progress: Progress | None) -> Iterator[np.ndarray]:
    """uint8 ``(n_paths, c, H, W, 3)`` chunks along time. Every path starts and ends at the
    same latents, so the endpoint images are copied, and only interior frames are decoded;
    paths that are one path repeated (a deterministic method's) are decoded once."""
    n_paths, frames = latents.shape[:2]
    if n_paths > 1 and torch.equal(latents[1:], latents[:1].expand_as(latents[1:])):
        counted = None if progress is None else (lambda done, total, message: progress(done * n_paths,
                                                                                    total * n_paths, message))
        for piece in _decode_paths(vae, latents[:1], endpoint_frames, chunk * n_paths, fast, counted):
            yield np.broadcast_to(piece, (n_paths, *piece.shape[1:])).copy()
        return
    first = np.broadcast_to(endpoint_frames[0], (n_paths, 1, *endpoint_frames.shape[1:]))
    yield first.copy()
    # Time-major order, so each decoder chunk of `chunk * n_paths` codes is `chunk` whole frames.
    interior = latents[:, 1:-1].transpose(0, 1).reshape(-1, *latents.shape[2:])
    for images in decode_frames(vae, interior, chunk * n_paths, fast, progress):
        yield images.reshape(-1, n_paths, *images.shape[1:]).swapaxes(0, 1)
    yield np.broadcast_to(endpoint_frames[1], first.shape).copy()


def _rechunk(chunks: Iterator[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """Regroup ``(n_paths, c_i, ...)`` chunks into chunks of ``size`` frames (the last may be shorter)."""
    pending, count = [], 0
    for piece in chunks:
        pending.append(piece)
        count += piece.shape[1]
        while count >= size:
            joined = np.concatenate(pending, axis=1)
            yield joined[:, :size]
            pending, count = [joined[:, size:]], count - size
    if count:
        yield np.concatenate(pending, axis=1)


# ---------------------------------------------------------------------------------------------
# Inputs


# torch's CPU generator (mt19937) keeps only the low 32 bits of a seed: seeds 0 and 2**32 give
# the same numbers. Accepting exactly 0 .. 2**32 - 1 makes every accepted seed its own result.
MAX_SEED = 2**32 - 1


def check_seed(seed) -> int:
    """``seed`` as an int in [0, MAX_SEED] (integral floats and digit strings too), else a
    ValueError giving the range."""
    return check_whole("seed", seed, 0, MAX_SEED, loose=True, why=" (2**32 - 1)")


def _check_run_args(sampler, frames, n_paths, seed, chunk_size=None) -> None:
    if not isinstance(sampler, Sampler):
        raise ValueError(
            "sampler must be a latent_bridge sampler, e.g. lb.registry.get('ou'); "
            f"got {type(sampler).__name__}"
        )
    check_whole("frames", frames, 2, why=" (the two endpoints included)")
    check_whole("n_paths", n_paths, 1)
    check_seed(seed)
    if chunk_size is not None:
        check_whole("chunk_size", chunk_size, 1)


def prepare_image(vae, image, label: str = "image", keep_aspect: bool = False, **read) -> torch.Tensor:
    """A path, PIL image, numpy array or tensor ``(C, H, W)``/``(1, C, H, W)`` in [0, 1] ->
    float32 ``(1, C, *vae.image_shape)`` for ``vae`` (a photo scaled to cover that shape and
    centre-cropped). Tensors are taken as prepared and only checked. keep_aspect: for a
    ``resizable`` VAE, keep the photo's aspect ratio instead (the longer side
    ``vae.image_size``; see ``prepare_images``), so the result may have another shape.
    read: passed on to ``lb.data.load_image`` (max_pixels, min_side)."""
    from .models.base import check_images

    try:
        if isinstance(image, torch.Tensor):
            batch = image.unsqueeze(0) if image.ndim == 3 else image
            check_images(batch, vae.channels, batch.shape[-2:] if keep_aspect and batch.ndim == 4 else vae.image_shape)
            if batch.shape[0] != 1:
                raise ValueError(f"give one image; got a batch of {batch.shape[0]}")
            return batch.float()
        if image is None:
            raise ValueError("no image given")
        from .data import load_image

        if keep_aspect:
            return load_image(image, vae.image_size, vae.channels, keep_aspect=True,
                              multiple=vae.downsampling, **read).unsqueeze(0)
        return load_image(image, size=tuple(vae.image_shape), channels=vae.channels, **read).unsqueeze(0)
    except ValueError as error:
        raise ValueError(f"{label}: {error}") from error


def prepare_images(vae, images: list, labels: list[str], **read) -> tuple[Any, list[torch.Tensor]]:
    """Every image of a run, prepared for one shape: ``(vae at that shape, [(1, C, H, W), ...])``.

    A ``resizable`` VAE (a Hub VAE) takes the first image's aspect ratio, its longer side
    ``vae.image_size`` and both sides multiples of ``vae.downsampling`` (a prepared tensor: its
    own shape); every other image is scaled to cover that shape and centre-cropped to it, so
    nothing is stretched. Our small VAEs have one square shape: every image is centre-cropped
    to a square. read: passed on to ``lb.data.load_image`` (max_pixels, min_side)."""
    if not getattr(vae, "resizable", False):
        return vae, [prepare_image(vae, image, label, **read) for image, label in zip(images, labels)]
    first = prepare_image(vae, images[0], labels[0], keep_aspect=True, **read)
    try:
        vae = vae.with_image_shape(*first.shape[-2:])
    except ValueError as error:
        raise ValueError(f"{labels[0]}: {error}") from error
    return vae, [first] + [prepare_image(vae, image, label, **read) for image, label in zip(images[1:], labels[1:])]


def _encode(vae, images: list) -> torch.Tensor:
    """Encode each image once: float32 ``(len(images), *latent_shape)`` on CPU. One image per
    call, so each latent is bit for bit ``vae.encode(image)`` (batching changes the last bits)."""
    with torch.inference_mode():
        return torch.cat([vae.encode(image).float().cpu() for image in images])


def resolve_prior(sampler: Sampler, vae) -> tuple[Sampler, "priors.Prior | None"]:
    """The one place a named data prior becomes a prior object. A sampler whose prior names a
    fit to data (its ``fitted_prior()``, e.g. langevin with ``prior="mixture"``) comes back
    with that prior fitted to ``vae``'s encoded training data (``lb.priors.for_model``, cached
    per model); other samplers come back as they are. Also returns the prior the paths are
    sampled under, for the path metrics (None: the standard normal). The caller's sampler is
    left as it is."""
    wanted = getattr(sampler, "fitted_prior", lambda: None)()
    if wanted is not None:
        sampler = sampler.with_prior(priors.for_model(vae, **wanted))
    prior = getattr(sampler, "prior", None)
    return sampler, prior if isinstance(prior, priors.Prior) and not isinstance(prior, priors.StandardNormal) else None


# ---------------------------------------------------------------------------------------------
# Running a sampler


def _run(vae, z0, z1, endpoint_frames, sampler, frames, n_paths, seed, progress, decoded_before, total, fast,
         keep_frames, data_latents, chunk_size) -> Result:
    """Sample with ``sampler`` and decode. progress: the caller's; the sampler reports its own
    count through it, the decoding counts on from ``decoded_before`` of ``total`` frames."""
    sampler, prior = resolve_prior(sampler, vae)
    generator = torch.Generator().manual_seed(int(seed))
    paths = sampler.run(z0, z1, frames=int(frames), n_paths=int(n_paths), generator=generator,
                        callback=_sampler_progress(progress, sampler))
    return _result(vae, sampler, prior, paths, endpoint_frames, seed, _offset_progress(progress, decoded_before, total),
                   fast, keep_frames, data_latents, chunk_size)


def _sampler_progress(progress: Progress | None, sampler: Sampler):
    """The sampler's own count, before its decoding starts, as the caller's progress."""
    if progress is None:
        return None
    return lambda done, of, message: progress(done, of, f"{sampler.name}: {message}")


def _result(vae, sampler, prior, paths, endpoint_frames, seed, decode_progress, fast, keep_frames, data_latents,
            chunk_size, key_frames=None) -> Result:
    """Decode sampled ``paths`` (with ``keep_frames``), measure them and make the Result."""
    latents = paths.latents.to("cpu", torch.float32)
    n_paths, frames = latents.shape[:2]
    decoded = None
    if keep_frames:
        decoded = np.empty((n_paths, frames, *endpoint_frames.shape[1:]), dtype=np.uint8)
        start = 0
        chunk = _time_steps(chunk_size_for(vae) if chunk_size is None else chunk_size, n_paths)
        for piece in _decode_paths(vae, latents, endpoint_frames, chunk, fast, decode_progress):
            decoded[:, start:start + piece.shape[1]] = piece
            start += piece.shape[1]
    # Gray frames are one channel repeated: their SSIM is that of the one channel.
    gray = decoded is not None and getattr(vae, "channels", 3) == 1
    values = path_metrics_module.path_metrics(latents, decoded[..., :1] if gray else decoded,
                                              data_latents, prior)
    decoder = vae.fast_decoder if fast and getattr(vae, "fast_decoder", None) is not None else vae
    diagnostics = {**paths.diagnostics, **path_metrics_module.summarize(values),
                   "frames": int(frames), "n_paths": int(n_paths), "seed": int(seed),
                   "decoder": "fast" if fast else "full", "image_shape": list(vae.image_shape),
                   "precision": decoder.precision.as_dict()}
    return Result(
        frames=decoded, latents=latents, times=paths.times.numpy().astype(np.float64),
        method=sampler.name, params=sampler.params(), diagnostics=diagnostics, metrics=values,
        model=vae.name, vae=vae, data_latents=data_latents, endpoint_frames=endpoint_frames,
        fast_preview=fast, chunk_size=chunk_size, key_frames=key_frames,
    )


def _offset_progress(progress: Progress | None, offset: int, total: int) -> Progress | None:
    """Report a sub-task's decoding as part of ``total`` frames, starting at ``offset``."""
    if progress is None:
        return None
    return lambda done, _, message: progress(offset + done, total, message)


def decoded_paths(sampler: Sampler, n_paths: int) -> int:
    """How many of ``n_paths`` paths a run decodes: one for a deterministic sampler (``linear``,
    ``slerp``: its paths are one curve, decoded once and repeated), else all."""
    return int(n_paths) if sampler.stochastic else 1


def _decoded_count(frames: int, n_paths: int, keep_frames: bool) -> int:
    """Frames one run decodes after the shared endpoints: the interior of every path."""
    return (frames - 2) * n_paths if keep_frames else 0


def _endpoints(vae, latents: torch.Tensor, fast: bool, progress, total: int) -> np.ndarray:
    """Decode the first and last latent once, each alone as in ``_encode``: uint8 ``(2, H, W, 3)``."""
    with torch.inference_mode():
        images = np.concatenate([to_uint8(vae.decode(z[None], fast=fast)) for z in latents])
    if progress is not None:
        progress(2, total, "decoding endpoints")
    return images


def interpolate(vae, image_a, image_b, sampler, frames: int = 48, n_paths: int = 1, seed: int = 0,
                progress: Progress | None = None, fast_preview: bool = False,
                keep_frames: bool = True, chunk_size: int | None = None) -> Result:
    """Random paths from image_a's latent to image_b's.

    image_a, image_b: a path, PIL image, numpy array, or a float tensor ``(C, H, W)`` or
        ``(1, C, H, W)`` in [0, 1] at the model's size. sampler: from ``lb.registry.get``.
    fast_preview: decode with the model's fast decoder where it has one (TAESD).
    keep_frames: False decodes nothing but the endpoints here; ``Result.iter_frames`` streams.
    chunk_size: latents per decoder call (a chunk holds whole frames: ``chunk_size // n_paths``
        time steps, at least one); default ``chunk_size_for(vae)``, sized to the decoder's memory.
    Returns a Result with ``latents[:, 0] == encode(image_a)``, ``[:, -1] == encode(image_b)``.
    """
    _check_run_args(sampler, frames, n_paths, seed, chunk_size)
    vae, (a, b) = prepare_images(vae, [image_a, image_b], ["image_a", "image_b"])
    z = _encode(vae, [a, b])
    fast = bool(fast_preview and vae.has_fast_decoder)
    total = 2 + _decoded_count(frames, n_paths, keep_frames)
    ends = _endpoints(vae, z, fast, progress, total)
    return _run(vae, z[0], z[1], ends, sampler, frames, n_paths, seed, progress, 2, total, fast, keep_frames,
                vae.training_latents(), chunk_size)


# How a random walk's method is set up unless the caller says otherwise: the periodic kernel
# closes the loop exactly at T = period; T = 1 lets an OU walk leave its image and stay smooth.
_WALK_DEFAULTS = {"gp": {"kernel": "periodic"}, "ou": {"T": 1.0}}
_PERIODIC_KERNELS = ("periodic", "locally-periodic")


def walk_params(method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """``params`` for ``method`` completed for a random walk (the one home of this rule, used
    by the app and the CLI): ``gp`` takes the periodic kernel, and a periodic kernel takes T
    equal to its period, so every path closes exactly; ``ou`` takes T = 1. Values given win."""
    chosen = {**_WALK_DEFAULTS.get(method, {}), **(params or {})}
    if method == "gp" and chosen.get("kernel") in _PERIODIC_KERNELS and "T" not in chosen:
        period = chosen.get("period")
        if period is None:
            period = next(p.default for p in registry.available()["gp"]["params"] if p.name == "period")
        chosen["T"] = period
    return chosen


def keyframe_params(method: str, params: dict[str, Any] | None, n_keys: int) -> dict[str, Any]:
    """``params`` for ``method`` completed for a path through ``n_keys`` keys (the rule the
    command line applies): a periodic kernel without a period takes ``n_keys`` T, so no two keys
    sit a period apart (they would have to be equal) and a loop closes by the kernel alone,
    smooth at its seam. Values given win."""
    chosen = dict(params or {})
    if method == "gp" and chosen.get("kernel") in _PERIODIC_KERNELS and "period" not in chosen:
        T = chosen.get("T")
        if T is None:
            T = next(p.default for p in registry.available()["gp"]["params"] if p.name == "T")
        chosen["period"] = n_keys * float(T)
    return chosen


def default_walk_sampler() -> Sampler:
    """A GP with the periodic kernel and T equal to its period: every path closes exactly."""
    return registry.get("gp", **walk_params("gp"))


def random_walk(vae, image, sampler=None, frames: int = 48, n_paths: int = 1, seed: int = 0,
                progress: Progress | None = None, fast_preview: bool = False,
                keep_frames: bool = True, chunk_size: int | None = None) -> Result:
    """Closed random walks that leave ``image``'s latent and return to it (a seamless loop).

    sampler: any sampler, run from the latent back to itself; default ``default_walk_sampler()``.
    Other arguments as in ``interpolate``.
    """
    sampler = default_walk_sampler() if sampler is None else sampler
    _check_run_args(sampler, frames, n_paths, seed, chunk_size)
    vae, images = prepare_images(vae, [image], ["image"])
    z = _encode(vae, images)
    fast = bool(fast_preview and vae.has_fast_decoder)
    total = 1 + _decoded_count(frames, n_paths, keep_frames)
    with torch.inference_mode():
        image_start = to_uint8(vae.decode(z, fast=fast))
    if progress is not None:
        progress(1, total, "decoding endpoints")
    ends = np.concatenate([image_start, image_start])
    return _run(vae, z[0], z[0], ends, sampler, frames, n_paths, seed, progress, 1, total, fast, keep_frames,
                vae.training_latents(), chunk_size)


def compare(vae, image_a, image_b, samplers: dict, frames: int = 48, n_paths: int = 1, seed: int = 0,
            progress: Progress | None = None, fast_preview: bool = False,
            keep_frames: bool = True, chunk_size: int | None = None) -> dict[str, Result]:
    """Several samplers between the same two images: endpoints encoded and decoded once, the
    same seed for every method. samplers: {label: sampler}. Returns {label: Result}."""
    if not isinstance(samplers, dict) or not samplers:
        raise ValueError("samplers must be a non-empty dict {name: sampler}")
    for sampler in samplers.values():
        _check_run_args(sampler, frames, n_paths, seed, chunk_size)
    vae, (a, b) = prepare_images(vae, [image_a, image_b], ["image_a", "image_b"])
    z = _encode(vae, [a, b])
    fast = bool(fast_preview and vae.has_fast_decoder)
    per_method = _decoded_count(frames, n_paths, keep_frames)
    total = 2 + per_method * len(samplers)
    ends = _endpoints(vae, z, fast, progress, total)
    data_latents = vae.training_latents()
    results = {}
    for i, (name, sampler) in enumerate(samplers.items()):
        results[name] = _run(vae, z[0], z[1], ends, sampler, frames, n_paths, seed, progress,
                             2 + i * per_method, total, fast,
                             keep_frames, data_latents, chunk_size)
    return results


# ---------------------------------------------------------------------------------------------
# Keyframes: one path through several images


def keyframe_count(n_keys: int, frames_per_segment: int, loop: bool = False, hold: int = 0) -> int:
    """Frames of a path through ``n_keys`` images: S (f - 1) + 1 for S segments (``n_keys - 1``,
    or ``n_keys`` with ``loop``) of f = ``frames_per_segment`` frames, plus ``hold`` more at
    each of the ``n_keys`` keys (a loop's return to the first key is its seam and rests there
    already, at the start)."""
    return (n_keys - 1 + int(loop)) * (frames_per_segment - 1) + 1 + hold * n_keys


def frames_per_segment_for(seconds: float, fps: float, n_keys: int, loop: bool = False, hold: int = 0) -> int:
    """Frames per segment whose path (``keyframe_count``) lasts closest to ``seconds`` at
    ``fps`` frames per second; a ValueError when the length leaves fewer than two frames a
    segment (say how long it must be at least)."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0 \
            or seconds == float("inf"):
        raise ValueError(f"seconds must be a positive number; got {seconds!r}")
    segments = n_keys - 1 + int(loop)
    fixed = 1 + hold * n_keys
    frames_per_segment = 1 + round((seconds * fps - fixed) / segments)
    if frames_per_segment < 2:
        shortest = (segments + fixed) / fps
        raise ValueError(
            f"{seconds:g} s at {fps:g} fps is {round(seconds * fps)} frames, too few for {segments} segments "
            f"of at least two frames{' and the holds' if hold else ''}: make the video at least "
            f"{shortest:.2g} s long, or use fewer keys{' or a shorter hold' if hold else ''}")
    return frames_per_segment


def check_keyframe_args(sampler, n_images, frames_per_segment, n_paths, seed, loop, hold, easing,
                        chunk_size=None) -> None:
    """Raise a ValueError naming the argument for anything ``keyframes`` cannot run with."""
    if not isinstance(sampler, Sampler):
        raise ValueError("sampler must be a latent_bridge sampler, e.g. lb.registry.get('gp'); "
                         f"got {type(sampler).__name__}")
    if check_whole("images", n_images, 0) < 2:
        raise ValueError(f"give two or more images for a path through keyframes; got {n_images}")
    check_whole("frames_per_segment", frames_per_segment, 2, why=" (the segment's two keys included)")
    check_whole("n_paths", n_paths, 1)
    check_seed(seed)
    if not isinstance(loop, bool):
        raise ValueError(f"loop must be true or false; got {loop!r}")
    check_whole("hold", hold, 0, why=" (frames to rest on each key)")
    check_easing(easing)
    if chunk_size is not None:
        check_whole("chunk_size", chunk_size, 1)


def _held(paths: Paths, hold: int, loop: bool) -> tuple[Paths, tuple[int, ...]]:
    """``paths`` with each key frame shown ``hold`` more times (not a loop's last frame, the
    seam), and the frame index of each key's first frame afterwards."""
    frames = paths.latents.shape[1]
    key_frames = torch.tensor(paths.diagnostics["key_frames"])
    repeats = torch.ones(frames, dtype=torch.long)
    repeats[key_frames[:-1] if loop else key_frames] += hold
    index = torch.repeat_interleave(torch.arange(frames), repeats)
    starts = torch.cumsum(repeats, 0) - repeats
    moved = tuple(starts[key_frames].tolist())
    diagnostics = {**paths.diagnostics, "key_frames": list(moved), "hold": hold}
    return Paths(paths.latents[:, index], paths.times[index], diagnostics), moved


def keyframes(vae, images, sampler, frames_per_segment: int = 24, n_paths: int = 1, loop: bool = False,
              seed: int = 0, hold: int = 0, easing: str = "linear", progress: Progress | None = None,
              fast_preview: bool = False, keep_frames: bool = True, chunk_size: int | None = None) -> Result:
    """Random paths through every image of ``images``, in order (keyframes).

    images: a list of two or more images, each as ``interpolate`` takes them; each is encoded
        once. sampler: from ``lb.registry.get``; key j sits at time j T (``Sampler.run_through``:
        Gaussian-process bridges condition on all keys at once, the others chain bridges).
    frames_per_segment: frames from one key to the next, both included (>= 2).
    loop: go on from the last image back to the first; the path ends exactly on it.
    hold: frames to rest on each key (shown ``hold + 1`` times; a loop's seam once).
    easing: ``"linear"`` (frames evenly spaced in time) or ``"smooth"`` (a smoothstep within
        each segment, so the path slows into each key; the sampler is evaluated at those times).
    Other arguments as in ``interpolate``. Returns a Result of ``keyframe_count(len(images),
    frames_per_segment, loop, hold)`` frames whose latents at ``Result.key_frames`` are the
    encoded images exactly; ``endpoint_frames`` are the first and last key decoded.
    """
    if not isinstance(images, (list, tuple)):
        raise ValueError(f"images must be a list of two or more images; got {type(images).__name__}")
    check_keyframe_args(sampler, len(images), frames_per_segment, n_paths, seed, loop, hold, easing, chunk_size)
    vae, prepared = prepare_images(vae, list(images), [f"image {i + 1}" for i in range(len(images))])
    keys = _encode(vae, prepared)
    fast = bool(fast_preview and vae.has_fast_decoder)
    frames = keyframe_count(len(images), frames_per_segment, loop, hold)
    total = 2 + _decoded_count(frames, n_paths, keep_frames)
    sampler, prior = resolve_prior(sampler, vae)
    # Sampled before anything is decoded: keys a kernel cannot pass through fail at once.
    paths = sampler.run_through(keys, frames_per_segment, n_paths=int(n_paths), loop=loop, easing=easing,
                                generator=torch.Generator().manual_seed(int(seed)),
                                callback=_sampler_progress(progress, sampler))
    paths, key_frames = _held(paths, int(hold), loop)
    ends = _endpoints(vae, keys[[0, 0 if loop else -1]], fast, progress, total)
    result = _result(vae, sampler, prior, paths, ends, seed, _offset_progress(progress, 2, total), fast,
                     keep_frames, vae.training_latents(), chunk_size, key_frames)
    result.diagnostics.update(frames_per_segment=int(frames_per_segment), loop=loop, easing=easing)
    return result
