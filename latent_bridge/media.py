"""What a user watches: videos, GIFs, frame grids and method comparisons of sampled paths.

Every writer takes a pipeline ``Result``, a uint8 frame array ``(n_paths, frames, H, W, 3)``
(``(frames, H, W, 3)`` for one path) or, for ``write_video``, an iterable of uint8 chunks
``(n_paths, c, H, W, 3)`` along time, and reads it through one shape, ``_Frames``. Of a Result
it reads only public attributes (``frames``, ``latents``, ``n_paths``, ``n_frames``,
``endpoint_frames``, ``vae``, ``fast_preview``, ``chunk_size``). Videos are written chunk by
chunk, and a streamed result (``frames`` None) decodes only the frames an output shows, a
decoder call at a time, so a long result never sits in memory whole. Small images (the digits
model decodes 32 px) are enlarged by an integer nearest-neighbour factor so they stay crisp in
a browser. Plots of the paths are in ``latent_bridge.plots``.
"""

from __future__ import annotations

import dataclasses
import io
import math
import zipfile
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from .pipeline import chunk_size_for, decode_frames

__all__ = [
    "check_output_size", "comparison_grid", "comparison_video", "frame_grid", "keyframe_grid", "save_png",
    "write_gif", "write_png_sequence", "write_video",
]

# Videos enlarge frames smaller than this (nearest neighbour, integer factor: pixels stay sharp
# squares, no ringing as with Lanczos), so 32 px digits (x8) and 64 px poses (x4) are 256 px.
MIN_VIDEO_HEIGHT = 256
# Grid tiles are enlarged to at least this height.
MIN_TILE_HEIGHT = 96
GAP = 2  # pixels between paths, tiles and methods
GAP_VALUE = 255  # white separators
# A GIF keeps every frame in memory while Pillow writes it, and its size grows with the pixel
# count (4 paths x 120 digits frames at 128 px: about 2 MB): cap its frames, height and width.
GIF_MAX_FRAMES = 120
GIF_MIN_HEIGHT = 128
GIF_MAX_WIDTH = 1024
# Largest side of a laid-out video frame, GIF or grid: players refuse larger H.264 frames, and
# 10,000 paths of 256 px side by side would be 2.5 million pixels wide (tens of GB per chunk).
MAX_OUTPUT_SIDE = 8192
# The frame drawn around key images in a keyframe grid (orange, seen on gray and colour tiles).
KEY_COLOUR = (255, 127, 14)
LABEL_HEIGHT = 24
LABEL_FONT_SIZE = 16
LAYOUTS = ("side-by-side", "sequential")
# Frames per chunk when a frame array is read along time.
_ARRAY_CHUNK = 64


# ---------------------------------------------------------------------------------------------
# Frame sources


def _check_frames(frames: np.ndarray) -> None:
    """Raise ValueError unless ``frames`` is uint8 ``(n_paths, frames, H, W, 3)`` or ``(..., 1)``."""
    if frames.dtype != np.uint8 or frames.ndim != 5 or frames.shape[-1] not in (1, 3):
        raise ValueError(
            "frames must be uint8 chunks of shape (n_paths, frames, H, W, 3); "
            f"got {frames.dtype} {frames.shape}"
        )


def _check_chunk(chunk) -> np.ndarray:
    """A uint8 ``(n_paths, c, H, W, 3)`` chunk; grayscale ``(..., 1)`` is repeated to RGB."""
    chunk = np.asarray(chunk)
    _check_frames(chunk)
    if chunk.shape[-1] == 1:
        chunk = np.repeat(chunk, 3, axis=-1)
    return chunk


@dataclasses.dataclass(frozen=True)
class _Frames:
    """The frames of ``n_paths`` paths at ``n_frames`` times: what every writer reads.

    n_paths, n_frames, image_side (the frames' height in pixels): None for a one-pass stream
        of chunks, whose sizes are known only as it is read.
    latents: float ``(n_paths, n_frames, *latent_shape)`` when the input has them, else None.
    read: ``read(paths, indices)`` -> uint8 ``(paths' count, len(indices), H, W, 3)``, the
        frames of a slice of the input's paths at sorted frame indices; None for a stream.
    stream: a stream's chunks uint8 ``(n_paths, c, H, W, 3)``; None otherwise.
    paths: the slice of the input's paths that these frames are.
    budget: latents per decoder call when ``read`` decodes; None for frames held in memory.
    """

    n_paths: int | None
    n_frames: int | None
    image_side: int | None
    latents: torch.Tensor | None = None
    read: Callable[[slice, np.ndarray], np.ndarray] | None = None
    stream: Iterable | None = None
    paths: slice = dataclasses.field(default_factory=lambda: slice(None))
    budget: int | None = None

    @property
    def is_loop(self) -> bool:
        """Whether these are closed walks: more than two frames, the last latent the first."""
        latents = self.latents
        return latents is not None and latents.shape[1] > 2 and bool(torch.equal(latents[:, 0], latents[:, -1]))

    def iter_chunks(self, chunk: int | None = None) -> Iterator[np.ndarray]:
        """uint8 ``(n_paths, c, H, W, 3)`` chunks in time order, ``c = chunk`` but for the last;
        by default a decoder call's worth of frames, or ``_ARRAY_CHUNK`` for frames in memory.
        A stream's chunks come as they were given."""
        if self.read is None:
            for piece in self.stream:
                yield _check_chunk(piece)
            return
        if chunk is None:
            chunk = _ARRAY_CHUNK if self.budget is None else max(1, self.budget // self.n_paths)
        for start in range(0, self.n_frames, chunk):
            yield self.frames_at(np.arange(start, min(start + chunk, self.n_frames)))

    def frames_at(self, indices: np.ndarray) -> np.ndarray:
        """uint8 ``(n_paths, len(indices), H, W, 3)``: the frames at sorted ``indices``."""
        return _check_chunk(self.read(self.paths, indices))

    def path(self, index: int) -> _Frames:
        """Path ``index`` of all the input's paths alone: a streamed result decodes only it."""
        latents = None if self.latents is None else self.latents[index:index + 1]
        return dataclasses.replace(self, n_paths=1, latents=latents, paths=slice(index, index + 1))


def _in_memory(frames: np.ndarray, latents: torch.Tensor | None = None) -> _Frames:
    """``_Frames`` of a uint8 array ``(n_paths, frames, H, W, 3)`` (or ``(..., 1)``)."""
    _check_frames(frames)
    n_paths, n_frames, side = frames.shape[:3]
    if n_frames == 0:
        raise ValueError("no frames to write")
    return _Frames(n_paths, n_frames, side, latents, read=lambda paths, indices: frames[paths][:, indices])


def _decoded_at(result, budget: int, paths: slice, indices: np.ndarray) -> np.ndarray:
    """uint8 ``(paths' count, len(indices), H, W, 3)``: a streamed result's frames of ``paths``
    at sorted frame ``indices``, decoding only those, ``budget`` latents per decoder call. The
    first and last frames are the result's decoded endpoints, as in ``Result.iter_frames``."""
    latents, ends = result.latents[paths], result.endpoint_frames
    frames = np.empty((len(latents), len(indices), *ends.shape[1:]), dtype=np.uint8)
    first, last = indices == 0, indices == result.n_frames - 1
    frames[:, first], frames[:, last] = ends[0], ends[1]
    inner = ~(first | last)
    # Time-major, so a decoder call holds whole frames (every path at the same times).
    codes = latents[:, torch.as_tensor(indices[inner])].transpose(0, 1).reshape(-1, *latents.shape[2:])
    decoded, done = np.empty((len(codes), *ends.shape[1:]), dtype=np.uint8), 0
    for images in decode_frames(result.vae, codes, chunk_size=budget, fast=result.fast_preview):
        decoded[done:done + len(images)] = images
        done += len(images)
    frames[:, inner] = decoded.reshape(-1, len(latents), *ends.shape[1:]).swapaxes(0, 1)
    return frames


def _frames(source, stream_ok: bool = False) -> _Frames:
    """``source`` as ``_Frames``: a Result, a uint8 array ``(n_paths, frames, H, W, 3)`` or
    ``(frames, H, W, 3)`` (one path), or with ``stream_ok`` an iterable of uint8 chunks
    ``(n_paths, c, H, W, 3)`` along time. Raises ValueError for anything else."""
    if isinstance(source, np.ndarray):
        return _in_memory(source[None] if source.ndim == 4 else source)
    if hasattr(source, "iter_frames"):
        if source.frames is not None:
            return _in_memory(np.asarray(source.frames), source.latents)
        if source.vae is None:
            raise ValueError("this result holds neither frames nor a VAE to decode its latents with")
        budget = source.chunk_size if source.chunk_size is not None else chunk_size_for(source.vae)
        return _Frames(source.n_paths, source.n_frames, int(source.endpoint_frames.shape[1]), source.latents,
                       read=lambda paths, indices: _decoded_at(source, budget, paths, indices), budget=budget)
    if not stream_ok:
        raise ValueError(f"expected a Result or a uint8 frame array; got {type(source).__name__}")
    if not isinstance(source, Iterable) or isinstance(source, (str, bytes, dict)):
        raise ValueError(
            "expected a Result, a uint8 array (n_paths, frames, H, W, 3) or an iterable of such "
            f"chunks; got {type(source).__name__}"
        )
    return _Frames(None, None, None, stream=source)


def _sample_indices(total: int, columns: int) -> np.ndarray:
    """``columns`` evenly spaced frame indices from 0 to total - 1, both ends included."""
    if isinstance(columns, bool) or not isinstance(columns, (int, np.integer)) or columns < 1:
        raise ValueError(f"columns must be a whole number >= 1; got {columns!r}")
    return np.unique(np.linspace(0, total - 1, min(columns, total)).round().astype(int))


# ---------------------------------------------------------------------------------------------
# Layout


def _scale_for(height: int, minimum: int) -> int:
    return max(1, math.ceil(minimum / height))


def _enlarge(images: np.ndarray, factor: int, smooth: bool = False) -> np.ndarray:
    """Enlargement of uint8 ``(..., H, W, 3)`` by an integer factor: nearest neighbour (every
    pixel a sharp square), or with ``smooth`` bicubic (edges look drawn, not blocky; a display
    choice: the frames themselves stay as decoded)."""
    if factor == 1:
        return images
    if not smooth:
        return np.repeat(np.repeat(images, factor, axis=-3), factor, axis=-2)
    *lead, height, width, channels = images.shape
    flat = torch.from_numpy(np.ascontiguousarray(images)).reshape(-1, height, width, channels)
    flat = flat.permute(0, 3, 1, 2).float()
    big = torch.cat([torch.nn.functional.interpolate(part, scale_factor=factor, mode="bicubic", align_corners=False)
                     for part in flat.split(64)]) if len(flat) else flat
    big = big.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
    return big.reshape(*lead, height * factor, width * factor, channels).numpy()


def _join(images: list[np.ndarray], axis: int) -> np.ndarray:
    """Concatenate ``(..., H, W, 3)`` images along H (axis=-3) or W (axis=-2) with GAP between."""
    if len(images) == 1:
        return images[0]
    shape = list(images[0].shape)
    shape[axis] = GAP
    gap = np.full(shape, GAP_VALUE, dtype=np.uint8)
    parts = [images[0]]
    for image in images[1:]:
        parts += [gap, image]
    return np.concatenate(parts, axis=axis)


def check_output_size(kind: str, n_paths: int, image_side: int, layout: str = "side-by-side") -> None:
    """Refuse, before any work, an output whose laid-out frame would exceed MAX_OUTPUT_SIDE.

    kind: "video" (paths side by side, or one after another with layout "sequential"), "gif"
    (side by side, tiles shrunk to their own size at most) or "grid" (a row per path).
    image_side: the decoded frames' side in pixels. Raises ValueError naming what to change."""
    if kind == "video" and layout == "sequential":
        return
    if kind == "video":
        tile = image_side * _scale_for(image_side, MIN_VIDEO_HEIGHT)
    elif kind == "grid":
        tile = image_side * _scale_for(image_side, MIN_TILE_HEIGHT)
    elif kind == "gif":
        tile = image_side
    else:
        raise ValueError(f"kind must be video, gif or grid; got {kind!r}")
    extent = n_paths * tile + (n_paths - 1) * GAP
    if extent > MAX_OUTPUT_SIDE:
        most = (MAX_OUTPUT_SIDE + GAP) // (tile + GAP)
        side = "tall" if kind == "grid" else "wide"
        fix = " or write the paths one after another (layout 'sequential')" if kind == "video" else ""
        raise ValueError(f"{n_paths} paths make a {kind} {extent} px {side}, more than {MAX_OUTPUT_SIDE}: "
                         f"lower paths (at most {most} at {image_side} px){fix}")


def _pad_even(frames: np.ndarray) -> np.ndarray:
    """Pad ``(c, H, W, 3)`` on the bottom/right to even H and W (yuv420p halves chroma)."""
    height, width = frames.shape[1:3]
    pad_h, pad_w = height % 2, width % 2
    if not (pad_h or pad_w):
        return frames
    return np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), constant_values=GAP_VALUE)


def _side_by_side(chunk: np.ndarray, factor: int, smooth: bool = False) -> np.ndarray:
    """``(n_paths, c, H, W, 3)`` -> ``(c, H*f, n_paths*W*f + gaps, 3)``."""
    return _join([_enlarge(path, factor, smooth) for path in chunk], axis=-2)


@lru_cache(maxsize=8)
def _font(size: int):
    try:
        from matplotlib import font_manager

        return ImageFont.truetype(font_manager.findfont("DejaVu Sans"), size)
    except (OSError, ValueError):
        return ImageFont.load_default()


def _label_strip(text: str, width: int, height: int = LABEL_HEIGHT) -> np.ndarray:
    """uint8 ``(height, width, 3)``: ``text`` dark on white, centred, shrunk to fit ``width``."""
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    for size in range(min(LABEL_FONT_SIZE, int(height * 0.65)), 7, -1):
        font = _font(size)
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        if right - left <= width - 4:
            break
    draw.text(((width - (right - left)) / 2 - left, (height - (bottom - top)) / 2 - top), text,
              fill=(20, 20, 20), font=font)
    return np.asarray(image)


def _check_layout(layout: str) -> None:
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}; got {layout!r}")


def _check_fps(fps) -> None:
    if isinstance(fps, bool) or not isinstance(fps, (int, float, np.integer, np.floating)) \
            or not 0 < fps <= 120:
        raise ValueError(f"fps must be a number in (0, 120]; got {fps!r}")


# ---------------------------------------------------------------------------------------------
# Video and GIF


def _write_mp4(frames: Iterable[np.ndarray], path, fps: float) -> Path:
    """Write chunks ``(c, H, W, 3)`` uint8 (same size each) as H.264 mp4, yuv420p."""
    import imageio_ffmpeg

    path = Path(path)
    writer, size, count = None, None, 0
    try:
        for chunk in frames:
            chunk = np.ascontiguousarray(_pad_even(chunk))
            if writer is None:
                size = (chunk.shape[2], chunk.shape[1])
                # macro_block_size=1: sizes are already even, so ffmpeg must not rescale.
                # +faststart puts the index first, so a browser starts playing at once.
                writer = imageio_ffmpeg.write_frames(
                    str(path), size, fps=float(fps), codec="libx264", pix_fmt_out="yuv420p",
                    quality=8, macro_block_size=1, output_params=["-movflags", "+faststart"],
                )
                writer.send(None)
            elif (chunk.shape[2], chunk.shape[1]) != size:
                raise ValueError(f"every frame must have the same size; got {chunk.shape[1:3]} "
                                 f"after {size[::-1]}")
            for frame in chunk:
                writer.send(frame)
            count += len(chunk)
    finally:
        if writer is not None:
            writer.close()
    if count == 0:
        raise ValueError("no frames to write")
    return path


def _video_frames(frames: _Frames, layout: str, smooth: bool = False) -> Iterator[np.ndarray]:
    """Laid-out, enlarged frames ``(c, H', W', 3)`` for ``write_video``."""
    if layout == "side-by-side":
        factor = None
        for chunk in frames.iter_chunks():
            if factor is None:  # a stream's sizes are known from its first chunk
                check_output_size("video", chunk.shape[0], chunk.shape[2])
                factor = _scale_for(chunk.shape[2], MIN_VIDEO_HEIGHT)
            yield _side_by_side(chunk, factor, smooth)
        return
    if frames.n_paths is None:
        raise ValueError("layout='sequential' needs a Result or a frame array (an iterator of "
                         "chunks can be read only once); use layout='side-by-side'")
    factor = _scale_for(frames.image_side, MIN_VIDEO_HEIGHT)
    for index in range(frames.n_paths):
        for chunk in frames.path(index).iter_chunks():
            yield _enlarge(chunk[0], factor, smooth)


def write_video(result_or_chunks, path, fps: float = 12, layout: str = "side-by-side", smooth: bool = False) -> Path:
    """Write an H.264 mp4 (yuv420p, sizes padded to even) that browsers play.

    result_or_chunks: a Result, a uint8 array ``(n_paths, frames, H, W, 3)``, or an iterable of
        uint8 chunks ``(n_paths, c, H, W, 3)`` along time (streamed; never all in memory).
    layout: "side-by-side" (paths left to right, 2-px gaps; ``frames`` video frames) or
        "sequential" (path after path; ``n_paths * frames`` video frames).
    Frames under 256 px high are enlarged by an integer factor: nearest neighbour, or bicubic
    with ``smooth`` (for display: small models' frames look drawn rather than blocky).
    Returns the path written.
    """
    _check_layout(layout)
    _check_fps(fps)
    return _write_mp4(_video_frames(_frames(result_or_chunks, stream_ok=True), layout, smooth), path, fps)


def write_gif(result, path, fps: float = 12, smooth: bool = False) -> Path:
    """Write a GIF that loops forever, paths side by side.

    result: a Result or a uint8 array ``(n_paths, frames, H, W, 3)`` / ``(frames, H, W, 3)``.
    A closed walk (last latent equal to the first) drops its last frame so the loop has no
    stutter. At most 120 frames (evenly sampled, the playing time kept); frames under 128 px
    high are enlarged (nearest neighbour; bicubic with ``smooth``) while the GIF stays within
    1024 px wide.
    Returns the path written.
    """
    _check_fps(fps)
    source = _frames(result)
    check_output_size("gif", source.n_paths, source.image_side)
    total = source.n_frames - 1 if source.is_loop else source.n_frames
    step = max(1, math.ceil(total / GIF_MAX_FRAMES))
    frames = source.frames_at(np.arange(0, total, step))
    n_paths, _, height, width = frames.shape[:4]
    factor = _scale_for(height, GIF_MIN_HEIGHT)
    while factor > 1 and n_paths * width * factor > GIF_MAX_WIDTH:
        factor -= 1
    images = [Image.fromarray(frame) for frame in _side_by_side(frames, factor, smooth)]
    path = Path(path)
    # GIF delays are in hundredths of a second; sampled frames last `step` times longer.
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:], loop=0,
                   duration=round(1000 * step / fps), disposal=1)
    return path


def write_png_sequence(result_or_chunks, path) -> Path:
    """Write every frame as a PNG at the decoded size, for editing in other tools: into the
    folder ``path`` (created; if it exists it must be empty), or into one zip file when
    ``path`` ends in ``.zip`` (stored, not recompressed: PNG is compressed already).

    result_or_chunks: a Result, a uint8 array ``(n_paths, frames, H, W, 3)`` / ``(frames, H,
    W, 3)``, or an iterable of uint8 chunks ``(n_paths, c, H, W, 3)`` (written as they come).
    Files are ``00000.png``, ``00001.png``, ... for one path and ``path1/00000.png``, ... for
    several. Returns the path written.
    """
    path = Path(path)
    source = _frames(result_or_chunks, stream_ok=True)
    if path.suffix.lower() == ".zip":
        if path.is_dir():
            raise ValueError(f"{path} is a folder; give a .zip file name, or the folder without .zip")
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
            for name, image in _png_frames(source):
                buffer = io.BytesIO()
                image.save(buffer, format="PNG")
                archive.writestr(name, buffer.getvalue())
        return path
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise ValueError(f"{path} exists and is not an empty folder: give a new or empty folder for the PNG "
                         "sequence (frames of another run would mix with these)")
    path.mkdir(exist_ok=True)
    for name, image in _png_frames(source):
        (path / name).parent.mkdir(exist_ok=True)
        image.save(path / name, format="PNG")
    return path


def _png_frames(source: _Frames) -> Iterator[tuple[str, Image.Image]]:
    """(file name, image) of every frame of every path, in time order, a chunk at a time."""
    done, digits = 0, max(5, len(str((source.n_frames or 1) - 1)))
    for chunk in source.iter_chunks():
        for index in range(chunk.shape[1]):
            for k, path in enumerate(chunk):
                folder = f"path{k + 1}/" if len(chunk) > 1 else ""
                yield f"{folder}{done + index:0{digits}d}.png", Image.fromarray(path[index])
        done += chunk.shape[1]
    if done == 0:
        raise ValueError("no frames to write")


# ---------------------------------------------------------------------------------------------
# Grids


def _grid_rows(rows: list[np.ndarray]) -> np.ndarray:
    """Rows ``(k, H, W, 3)`` of tiles -> one image with GAP between tiles and rows."""
    return _join([_join(list(row), axis=-2) for row in rows], axis=-3)


def frame_grid(result, columns: int = 8, smooth: bool = False) -> Image.Image:
    """PIL image: one row per path, ``columns`` evenly sampled frames (first and last included)
    left to right, 2-px white gaps; tiles under 96 px high are enlarged (nearest neighbour;
    bicubic with ``smooth``)."""
    source = _frames(result)
    return _grid(source, _sample_indices(source.n_frames, columns), smooth=smooth)


def _grid(source: _Frames, indices: np.ndarray, marked: np.ndarray | None = None, smooth: bool = False) -> Image.Image:
    """A row per path of the frames at sorted ``indices``, enlarged to MIN_TILE_HEIGHT; the
    tiles of the columns in the boolean ``marked`` (one per index) framed in KEY_COLOUR."""
    check_output_size("grid", source.n_paths, source.image_side)  # before anything is decoded
    frames = _enlarge(source.frames_at(indices), _scale_for(source.image_side, MIN_TILE_HEIGHT), smooth)
    if marked is not None and marked.any():
        frames = frames.copy()
        edge = max(2, frames.shape[2] // 32)
        for border in (np.s_[:edge, :], np.s_[-edge:, :], np.s_[:, :edge], np.s_[:, -edge:]):
            tiles = frames[:, marked]
            tiles[(slice(None), slice(None)) + border] = KEY_COLOUR
            frames[:, marked] = tiles
    return Image.fromarray(_grid_rows(list(frames)))


def keyframe_grid(result, between: int = 2, key_frames=None, smooth: bool = False) -> Image.Image:
    """PIL image of a path through keyframes: one row per path, each key image (framed in
    KEY_COLOUR) then ``between`` evenly spaced frames on the way to the next key, ending on the
    last key (for a loop, the first again). key_frames: the keys' frame indices, by default
    ``result.key_frames`` (a Result of ``lb.keyframes``); needed for a frame array."""
    source = _frames(result)
    keys = getattr(result, "key_frames", None) if key_frames is None else key_frames
    if keys is None:
        raise ValueError("keyframe_grid needs the keys' frame indices: a Result of lb.keyframes, or key_frames=[...]")
    keys = np.asarray(keys)
    if keys.ndim != 1 or keys.size < 2 or not np.all(np.diff(keys) > 0) or keys[0] < 0 \
            or keys[-1] >= source.n_frames:
        raise ValueError(f"key_frames must be two or more increasing frame indices below {source.n_frames}; "
                         f"got {keys.tolist()}")
    if isinstance(between, bool) or not isinstance(between, (int, np.integer)) or not 0 <= between <= 16:
        raise ValueError(f"between must be a whole number from 0 to 16; got {between!r}")
    indices = [np.linspace(a, b, between + 2)[:-1].round().astype(int) for a, b in zip(keys[:-1], keys[1:])]
    indices = np.unique(np.concatenate(indices + [keys[-1:]]))
    return _grid(source, indices, np.isin(indices, keys), smooth)


def save_png(image: Image.Image, path) -> Path:
    """Save a PIL image as PNG; returns the path."""
    path = Path(path)
    image.save(path, format="PNG")
    return path


def _first_paths(results) -> list[_Frames]:
    """The first path of each result of ``results``, a non-empty {method name: Result} whose
    results all have the same number of frames."""
    if not isinstance(results, dict) or not results:
        raise ValueError("results must be a non-empty dict {method name: Result}")
    sources = {name: _frames(result) for name, result in results.items()}
    counts = {name: source.n_frames for name, source in sources.items()}
    if len(set(counts.values())) != 1:
        raise ValueError(f"every result must have the same number of frames; got {counts}")
    return [source.path(0) for source in sources.values()]


def comparison_video(results: dict, path, fps: float = 12, smooth: bool = False) -> Path:
    """H.264 mp4 of several methods side by side: the first path of each, its method name
    written below it (a player's title badge covers the top left). results: {name: Result},
    all with the same number of frames."""
    first_paths = _first_paths(results)
    _check_fps(fps)

    def frames() -> Iterator[np.ndarray]:
        labels, factor = None, None
        # Same chunk length for every method, so the chunks line up in time.
        for pieces in zip(*(source.iter_chunks(16) for source in first_paths)):
            factor = factor or _scale_for(pieces[0].shape[2], MIN_VIDEO_HEIGHT)
            tiles = [_enlarge(piece[0], factor, smooth) for piece in pieces]
            if labels is None:
                labels = [_label_strip(name, tile.shape[2]) for name, tile in zip(results, tiles)]
            yield _join([np.concatenate([tile, np.broadcast_to(label, (len(tile), *label.shape))],
                                        axis=1) for label, tile in zip(labels, tiles)], axis=-2)

    return _write_mp4(frames(), path, fps)


def comparison_grid(results: dict, columns: int = 8, smooth: bool = False) -> Image.Image:
    """PIL image: one row per method (its first path at ``columns`` evenly sampled frames), the
    method name written left of each row. results: {name: Result}, same number of frames."""
    first_paths = _first_paths(results)
    indices = _sample_indices(first_paths[0].n_frames, columns)
    rows = [source.frames_at(indices)[0] for source in first_paths]
    rows = [_enlarge(row, _scale_for(row.shape[1], MIN_TILE_HEIGHT), smooth) for row in rows]
    strips = [_grid_rows([row]) for row in rows]
    font = _font(LABEL_FONT_SIZE)
    label_width = 16 + max(int(font.getlength(name)) for name in results)
    labelled = [_join([_label_strip(name, label_width, strip.shape[0]), strip], axis=-2)
                for name, strip in zip(results, strips)]
    return Image.fromarray(_join(labelled, axis=-3))
