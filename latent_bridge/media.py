"""What a user watches: videos, GIFs, frame grids and method comparisons of sampled paths.

Every function takes a pipeline ``Result`` (duck-typed: ``frames`` or ``iter_frames``,
``latents``) and never imports the pipeline. Frames are uint8 ``(n_paths, frames, H, W, 3)``;
videos are written chunk by chunk, so a long streamed result never sits in memory whole. Small
images (the digits model decodes 32 px) are enlarged by an integer nearest-neighbour factor so
they stay crisp in a browser. Plots of the paths are in ``latent_bridge.plots``.
"""

from __future__ import annotations

import dataclasses
import math
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

__all__ = [
    "check_output_size", "comparison_grid", "comparison_video", "frame_grid", "save_png", "write_gif",
    "write_video",
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
LABEL_HEIGHT = 24
LABEL_FONT_SIZE = 16
LAYOUTS = ("side-by-side", "sequential")


# ---------------------------------------------------------------------------------------------
# Frame sources


def _check_chunk(chunk) -> np.ndarray:
    """A uint8 ``(n_paths, c, H, W, 3)`` chunk; grayscale ``(..., 1)`` is repeated to RGB."""
    chunk = np.asarray(chunk)
    if chunk.dtype != np.uint8 or chunk.ndim != 5 or chunk.shape[-1] not in (1, 3):
        raise ValueError(
            "frames must be uint8 chunks of shape (n_paths, frames, H, W, 3); "
            f"got {chunk.dtype} {chunk.shape}"
        )
    if chunk.shape[-1] == 1:
        chunk = np.repeat(chunk, 3, axis=-1)
    return chunk


def _chunks(source, chunk: int | None = None) -> Iterator[np.ndarray]:
    """uint8 ``(n_paths, c, H, W, 3)`` chunks along time from a Result, a uint8 array
    ``(n_paths, frames, H, W, 3)`` or ``(frames, H, W, 3)`` (one path), or an iterable of chunks."""
    if isinstance(source, np.ndarray):
        frames = source[None] if source.ndim == 4 else source
        step = chunk or 64
        for start in range(0, frames.shape[1], step):
            yield _check_chunk(frames[:, start:start + step])
        return
    if hasattr(source, "iter_frames"):
        if getattr(source, "frames", None) is not None:
            yield from _chunks(np.asarray(source.frames), chunk)
            return
        source = source.iter_frames(chunk)
    elif not isinstance(source, Iterable) or isinstance(source, (str, bytes, dict)):
        raise ValueError(
            "expected a Result, a uint8 array (n_paths, frames, H, W, 3) or an iterable of such "
            f"chunks; got {type(source).__name__}"
        )
    for piece in source:
        yield _check_chunk(piece)


def _path_count(source) -> int | None:
    if hasattr(source, "latents"):
        return int(source.latents.shape[0])
    if isinstance(source, np.ndarray):
        return 1 if source.ndim == 4 else int(source.shape[0])
    return None


def _image_side(source) -> int | None:
    """Height of the decoded frames of a Result or frame array, known without decoding; None
    for an iterable of chunks."""
    frames = getattr(source, "frames", None)
    if frames is None:
        frames = getattr(source, "endpoint_frames", None)
    if frames is None and isinstance(source, np.ndarray):
        frames = source
    return None if frames is None else int(np.asarray(frames).shape[-3])


def _only_path(result, index: int):
    """The same result restricted to path ``index``, so a streamed result decodes only it."""
    if isinstance(result, np.ndarray):
        return (result[None] if result.ndim == 4 else result)[index:index + 1]
    if getattr(result, "frames", None) is not None:
        return np.asarray(result.frames)[index:index + 1]
    if dataclasses.is_dataclass(result):
        return dataclasses.replace(result, latents=result.latents[index:index + 1])
    return (piece[index:index + 1] for piece in result.iter_frames())


def _frames_at(source, indices: np.ndarray) -> np.ndarray:
    """uint8 ``(n_paths, len(indices), H, W, 3)``: the frames at sorted ``indices``, streamed."""
    if (getattr(source, "frames", 1) is None and dataclasses.is_dataclass(source)
            and indices[0] == 0 and indices[-1] == _frame_count(source) - 1):
        # A streamed result with both ends asked for: decode only the chosen latents (its
        # decoded endpoint images stand for the first and last of them).
        source = dataclasses.replace(source, latents=source.latents[:, torch.as_tensor(indices)])
        indices = np.arange(len(indices))
    picked, start = [], 0
    for piece in _chunks(source):
        stop = start + piece.shape[1]
        inside = indices[(indices >= start) & (indices < stop)] - start
        if inside.size:
            picked.append(piece[:, inside])
        start = stop
    if not picked or sum(p.shape[1] for p in picked) != len(indices):
        raise ValueError(f"the result has {start} frames; frame {int(indices.max())} was asked for")
    return np.concatenate(picked, axis=1)


def _frame_count(source) -> int:
    if hasattr(source, "latents"):
        return int(source.latents.shape[1])
    if isinstance(source, np.ndarray):
        return int(source.shape[0] if source.ndim == 4 else source.shape[1])
    raise ValueError(f"expected a Result or a uint8 frame array; got {type(source).__name__}")


def _sample_indices(total: int, columns: int) -> np.ndarray:
    """``columns`` evenly spaced frame indices from 0 to total - 1, both ends included."""
    if isinstance(columns, bool) or not isinstance(columns, (int, np.integer)) or columns < 1:
        raise ValueError(f"columns must be a whole number >= 1; got {columns!r}")
    return np.unique(np.linspace(0, total - 1, min(columns, total)).round().astype(int))


# ---------------------------------------------------------------------------------------------
# Layout


def _scale_for(height: int, minimum: int) -> int:
    return max(1, math.ceil(minimum / height))


def _enlarge(images: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement of ``(..., H, W, 3)`` by an integer factor."""
    if factor == 1:
        return images
    return np.repeat(np.repeat(images, factor, axis=-3), factor, axis=-2)


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


def _side_by_side(chunk: np.ndarray, factor: int) -> np.ndarray:
    """``(n_paths, c, H, W, 3)`` -> ``(c, H*f, n_paths*W*f + gaps, 3)``."""
    return _join([_enlarge(path, factor) for path in chunk], axis=-2)


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


def _video_frames(source, layout: str) -> Iterator[np.ndarray]:
    """Laid-out, enlarged frames ``(c, H', W', 3)`` for ``write_video``."""
    if layout == "side-by-side":
        factor = None
        for chunk in _chunks(source):
            if factor is None:
                check_output_size("video", chunk.shape[0], chunk.shape[2])
                factor = _scale_for(chunk.shape[2], MIN_VIDEO_HEIGHT)
            yield _side_by_side(chunk, factor)
        return
    n_paths = _path_count(source)
    if n_paths is None:
        raise ValueError("layout='sequential' needs a Result or a frame array (an iterator of "
                         "chunks can be read only once); use layout='side-by-side'")
    factor = None
    for index in range(n_paths):
        for chunk in _chunks(_only_path(source, index)):
            factor = factor or _scale_for(chunk.shape[2], MIN_VIDEO_HEIGHT)
            yield _enlarge(chunk[0], factor)


def write_video(result_or_chunks, path, fps: float = 12, layout: str = "side-by-side") -> Path:
    """Write an H.264 mp4 (yuv420p, sizes padded to even) that browsers play.

    result_or_chunks: a Result, a uint8 array ``(n_paths, frames, H, W, 3)``, or an iterable of
        uint8 chunks ``(n_paths, c, H, W, 3)`` along time (streamed; never all in memory).
    layout: "side-by-side" (paths left to right, 2-px gaps; ``frames`` video frames) or
        "sequential" (path after path; ``n_paths * frames`` video frames).
    Frames under 256 px high are enlarged by an integer nearest-neighbour factor.
    Returns the path written.
    """
    _check_layout(layout)
    _check_fps(fps)
    return _write_mp4(_video_frames(result_or_chunks, layout), path, fps)


def _is_closed_loop(result) -> bool:
    latents = getattr(result, "latents", None)
    return latents is not None and latents.shape[1] > 2 and bool(torch.equal(latents[:, 0], latents[:, -1]))


def write_gif(result, path, fps: float = 12) -> Path:
    """Write a GIF that loops forever, paths side by side.

    result: a Result or a uint8 array ``(n_paths, frames, H, W, 3)`` / ``(frames, H, W, 3)``.
    A closed walk (last latent equal to the first) drops its last frame so the loop has no
    stutter. At most 120 frames (evenly sampled, the playing time kept); frames under 128 px
    high are enlarged (nearest neighbour) while the GIF stays within 1024 px wide.
    Returns the path written.
    """
    _check_fps(fps)
    side = _image_side(result)
    if side is not None:
        check_output_size("gif", _path_count(result), side)
    total = _frame_count(result)
    if _is_closed_loop(result):
        total -= 1
    step = max(1, math.ceil(total / GIF_MAX_FRAMES))
    indices = np.arange(0, total, step)
    frames = _frames_at(result, indices)
    n_paths, _, height, width = frames.shape[:4]
    factor = _scale_for(height, GIF_MIN_HEIGHT)
    while factor > 1 and n_paths * width * factor > GIF_MAX_WIDTH:
        factor -= 1
    images = [Image.fromarray(frame) for frame in _side_by_side(frames, factor)]
    path = Path(path)
    # GIF delays are in hundredths of a second; sampled frames last `step` times longer.
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:], loop=0,
                   duration=round(1000 * step / fps), disposal=1)
    return path


# ---------------------------------------------------------------------------------------------
# Grids


def _grid_rows(rows: list[np.ndarray]) -> np.ndarray:
    """Rows ``(k, H, W, 3)`` of tiles -> one image with GAP between tiles and rows."""
    return _join([_join(list(row), axis=-2) for row in rows], axis=-3)


def frame_grid(result, columns: int = 8) -> Image.Image:
    """PIL image: one row per path, ``columns`` evenly sampled frames (first and last included)
    left to right, 2-px white gaps; tiles under 96 px high are enlarged (nearest neighbour)."""
    side = _image_side(result)
    if side is not None:  # before a streamed result decodes anything
        check_output_size("grid", _path_count(result), side)
    frames = _frames_at(result, _sample_indices(_frame_count(result), columns))
    frames = _enlarge(frames, _scale_for(frames.shape[2], MIN_TILE_HEIGHT))
    return Image.fromarray(_grid_rows(list(frames)))


def save_png(image: Image.Image, path) -> Path:
    """Save a PIL image as PNG; returns the path."""
    path = Path(path)
    image.save(path, format="PNG")
    return path


def _check_results(results) -> dict:
    if not isinstance(results, dict) or not results:
        raise ValueError("results must be a non-empty dict {method name: Result}")
    counts = {name: _frame_count(result) for name, result in results.items()}
    if len(set(counts.values())) != 1:
        raise ValueError(f"every result must have the same number of frames; got {counts}")
    return results


def comparison_video(results: dict, path, fps: float = 12) -> Path:
    """H.264 mp4 of several methods side by side: the first path of each, its method name
    written below it (a player's title badge covers the top left). results: {name: Result},
    all with the same number of frames."""
    _check_results(results)
    _check_fps(fps)
    first_paths = [_only_path(result, 0) for result in results.values()]

    def frames() -> Iterator[np.ndarray]:
        labels, factor = None, None
        # Same chunk length for every method, so the chunks line up in time.
        for pieces in zip(*(_chunks(source, 16) for source in first_paths)):
            factor = factor or _scale_for(pieces[0].shape[2], MIN_VIDEO_HEIGHT)
            tiles = [_enlarge(piece[0], factor) for piece in pieces]
            if labels is None:
                labels = [_label_strip(name, tile.shape[2]) for name, tile in zip(results, tiles)]
            yield _join([np.concatenate([tile, np.broadcast_to(label, (len(tile), *label.shape))],
                                        axis=1) for label, tile in zip(labels, tiles)], axis=-2)

    return _write_mp4(frames(), path, fps)


def comparison_grid(results: dict, columns: int = 8) -> Image.Image:
    """PIL image: one row per method (its first path at ``columns`` evenly sampled frames), the
    method name written left of each row. results: {name: Result}, same number of frames."""
    _check_results(results)
    indices = _sample_indices(_frame_count(next(iter(results.values()))), columns)
    rows = [_frames_at(_only_path(result, 0), indices)[0] for result in results.values()]
    rows = [_enlarge(row, _scale_for(row.shape[1], MIN_TILE_HEIGHT)) for row in rows]
    strips = [_grid_rows([row]) for row in rows]
    font = _font(LABEL_FONT_SIZE)
    label_width = 16 + max(int(font.getlength(name)) for name in results)
    labelled = [_join([_label_strip(name, label_width, strip.shape[0]), strip], axis=-2)
                for name, strip in zip(results, strips)]
    return Image.fromarray(_join(labelled, axis=-3))
