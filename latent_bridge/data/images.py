"""Turning user images into model input: validate, orient, flatten transparency, crop, resize.

``load_image(source, size, channels)`` accepts a path, raw bytes, a PIL image or a numpy array
and returns float32 ``(channels, size, size)`` in [0, 1], ready for ``vae.encode`` (after
``unsqueeze(0)``). Every way an input can be unusable ends in a ``ValueError`` that says what
is wrong and what to change, never in a Pillow traceback.

Pillow's decompression-bomb limit is lowered to ``MAX_PIXELS`` when this module is imported, so
that any code in the process that opens images (the app's upload widget included) refuses
images that would need gigabytes to decode.
"""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = ["MAX_PIXELS", "MIN_SIDE", "load_image"]

MAX_PIXELS = 64_000_000  # a 64-megapixel photo decodes to ~200 MB of RGB
MIN_SIDE = 8  # the smallest image worth encoding: scikit-learn's 8x8 digits

if Image.MAX_IMAGE_PIXELS is None or Image.MAX_IMAGE_PIXELS > MAX_PIXELS:
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS

# What Pillow raises on files it cannot parse or decode: format errors, truncation, bad headers.
_DECODE_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, EOFError, struct.error, IndexError, ValueError)
_ALPHA_MODES = {"RGBA", "RGBa", "LA", "La", "PA"}
_SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I"}


def load_image(source, size: int, channels: int = 3, *, max_pixels: int = MAX_PIXELS,
               min_side: int = MIN_SIDE) -> torch.Tensor:
    """Read an image and prepare it for a model: float32 ``(channels, size, size)`` in [0, 1].

    source: a file path, the file's bytes, a ``PIL.Image.Image``, or a numpy array (H, W) or
        (H, W, C) with C in 1-4 (uint8, uint16, bool, or float in [0, 1]).
    size: the model's image side; the image is centre-cropped to a square and resized to it.
    channels: 1 (grayscale, ITU-R 601 luma) or 3 (RGB; grayscale is repeated).
    max_pixels: larger images are refused before they are decoded (decompression bombs).
    min_side: images whose shorter side is below this are refused rather than blown up from
        a few pixels.

    EXIF orientation is applied; transparency (RGBA, LA, palettes with a transparent colour)
    is composited on white; 16-bit, CMYK, palette and other modes are converted; an animated
    GIF gives its first frame. Everything goes through 8 bits per channel, like a decoded file.
    """
    for label, value, low in (("size", size, 1), ("max_pixels", max_pixels, 1), ("min_side", min_side, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{label} must be a whole number >= {low}; got {value!r}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB); got {channels!r}")

    opened, label = _open(source, max_pixels)
    try:
        _check_size(opened.size, label, max_pixels, min_side)
        image = _decode(opened, label, size, owned=opened is not source)
        image = _to_gray_or_rgb(image, channels)
        width, height = image.size
        side = min(width, height)
        box = ((width - side) / 2, (height - side) / 2, (width + side) / 2, (height + side) / 2)
        # reducing_gap: shrink by whole factors first, then filter (fast on large photos).
        image = image.resize((size, size), Image.Resampling.LANCZOS, box=box, reducing_gap=3.0)
        pixels = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0)
    finally:
        if opened is not source:  # close what we opened, never the caller's image
            opened.close()
    pixels = pixels.unsqueeze(0) if pixels.ndim == 2 else pixels.permute(2, 0, 1)
    if channels == 3 and pixels.shape[0] == 1:
        pixels = pixels.expand(3, -1, -1)
    return pixels.contiguous()


def _open(source, max_pixels: int) -> tuple[Image.Image, str]:
    """A (lazily decoded) PIL image and a name for it in error messages."""
    if isinstance(source, Image.Image):
        return source, "the given image"
    if isinstance(source, np.ndarray):
        return _from_array(source, max_pixels), "the given array"
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, label = io.BytesIO(bytes(source)), "the given bytes"
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        label = repr(path.name or str(path))
        if not path.is_file():
            raise ValueError(f"image file not found: {str(path)!r}")
        data = path
    else:
        raise ValueError(
            f"image must be a file path, bytes, a PIL image or a numpy array; got {type(source).__name__}"
        )
    try:
        return Image.open(data), label
    except Image.DecompressionBombError as error:
        raise ValueError(f"the image {label} is too large to decode safely ({error}); downscale it first") from None
    except _DECODE_ERRORS:
        raise ValueError(f"could not read the image {label}: not a valid image file") from None


def _check_size(dimensions: tuple[int, int], label: str, max_pixels: int, min_side: int) -> None:
    width, height = dimensions
    if width * height > max_pixels:
        raise ValueError(
            f"the image {label} is {width}x{height} = {width * height / 1e6:.1f} megapixels, above the "
            f"limit of {max_pixels / 1e6:g} megapixels (max_pixels): downscale it first or raise max_pixels"
        )
    if min(width, height) < min_side:
        raise ValueError(
            f"the image {label} is {width}x{height} pixels; its shorter side must be at least {min_side} "
            "pixels (min_side): use a larger image"
        )


def _decode(image: Image.Image, label: str, size: int, owned: bool) -> Image.Image:
    """Decode the first frame, upright. JPEGs we opened decode at a reduced scale when much larger than needed."""
    try:
        if getattr(image, "n_frames", 1) > 1:
            image.seek(0)  # animated GIF/PNG/WebP: the first frame
        if owned and image.format == "JPEG":
            # libjpeg scales by 1/2, 1/4, 1/8 while decoding, keeping both sides >= size.
            image.draft(None, (size, size))
        image.load()
    except Image.DecompressionBombError as error:
        raise ValueError(f"the image {label} is too large to decode safely ({error}); downscale it first") from None
    except _DECODE_ERRORS:
        raise ValueError(
            f"could not read the image {label}: not a valid image file (truncated or corrupt)"
        ) from None
    try:
        return ImageOps.exif_transpose(image)
    except _DECODE_ERRORS + (KeyError, TypeError):
        # Orientation is a nicety: a broken EXIF block must not reject a readable image.
        return image


def _to_gray_or_rgb(image: Image.Image, channels: int) -> Image.Image:
    """Any Pillow mode -> 8-bit "L" or "RGB", transparency composited on white."""
    mode = image.mode
    if mode in _SIXTEEN_BIT_MODES:
        # Pillow's own convert("L") clips 16-bit values at 255 instead of scaling them.
        values = np.asarray(image).astype(np.float64).clip(0, 65535) / 257.0
        image = Image.fromarray(values.round().astype(np.uint8))
    elif mode == "F":
        values = np.nan_to_num(np.asarray(image, dtype=np.float64)).clip(0, 1) * 255.0
        image = Image.fromarray(values.round().astype(np.uint8))
    elif mode in _ALPHA_MODES or (mode in ("P", "L", "RGB") and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba).convert("RGB")
    elif mode not in ("L", "RGB"):
        image = image.convert("RGB")  # "1", "P", "CMYK", "YCbCr", "LAB", "HSV", ...
    if channels == 1 and image.mode == "RGB":
        image = image.convert("L")
    return image


def _from_array(array: np.ndarray, max_pixels: int) -> Image.Image:
    """(H, W) or (H, W, C) array, C in 1-4 -> 8-bit PIL image ("L", "LA", "RGB" or "RGBA")."""
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (2, 3, 4))):
        raise ValueError(
            f"image arrays must be (H, W) or (H, W, C) with C in 1-4 (channels last); got shape {array.shape}"
        )
    if array.shape[0] * array.shape[1] > max_pixels:
        _check_size((array.shape[1], array.shape[0]), "the given array", max_pixels, 1)
    if array.dtype == np.uint8:
        values = array
    elif array.dtype == np.uint16:
        values = (array.astype(np.float64) / 257.0).round().astype(np.uint8)
    elif array.dtype == np.bool_:
        values = array.astype(np.uint8) * 255
    elif np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ValueError("image arrays must be finite; got NaN or infinite values")
        low, high = float(array.min()), float(array.max())
        if low < 0 or high > 1:
            raise ValueError(f"float image arrays must be in [0, 1]; got values in [{low:.3g}, {high:.3g}]")
        values = (array.astype(np.float64) * 255.0).round().astype(np.uint8)
    else:
        raise ValueError(f"image arrays must be uint8, uint16, bool or float in [0, 1]; got dtype {array.dtype}")
    return Image.fromarray(np.ascontiguousarray(values))  # uint8 by channels: L, LA, RGB, RGBA
