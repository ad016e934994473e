"""Images in and out of a model: user images made model input, decoded images made pixels.

``load_image(source, size, channels)`` accepts a path, raw bytes, a PIL image or a numpy array
and validates, orients, flattens transparency, crops and resizes it into float32
``(channels, size, size)`` in [0, 1] (or ``(height, width)``, or the image's own aspect ratio
with ``keep_aspect``), ready for ``vae.encode`` (after ``unsqueeze(0)``). Every
way an input can be unusable ends in a ``ValueError`` that says what is wrong and what to
change, never in a Pillow traceback. ``to_uint8`` turns what a decoder returns into uint8 RGB.

Sizes are checked per image, from the header before decoding (``max_pixels``). Pillow's own
decompression-bomb limit, ``PIL.Image.MAX_IMAGE_PIXELS``, is a process-wide setting and is
left as the program has it.
"""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from ..checks import check_whole

__all__ = ["FORMATS", "MAX_JPEG_SCANS", "MAX_PIXELS", "MAX_PNG_CHUNKS", "MIN_SIDE", "count_jpeg_scans",
           "count_png_chunks", "fit_shape", "load_image", "to_uint8"]

# A 64-megapixel photo decodes to ~200 MB of RGB. Below Pillow's default limit (89 megapixels),
# so Pillow neither warns about nor refuses an image of a size accepted here.
MAX_PIXELS = 64_000_000
MIN_SIDE = 8  # the smallest image worth encoding: scikit-learn's 8x8 digits
# Formats read from files and bytes: the common raster formats. Pillow opens many more
# (EPS runs Ghostscript; PSD, ICNS, FITS... are rarely what a visitor means to upload).
FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF", "PPM")  # JPEG includes MPO (phones)
# A progressive JPEG decodes every scan over the whole image, so decoding time grows with the
# scan count: 20,000 tiny scans in a 0.7 MB file held a CPU for 18 s. Encoders write 1 scan
# (baseline) or about 10 (progressive); libjpeg-turbo's own tools suggest a limit of 500.
MAX_JPEG_SCANS = 100
# Pillow reads a PNG chunk by chunk, each at a cost of its own: 800,000 empty chunks in a 10 MB
# file took 2.0 s, image data in 1-byte chunks 1.6 s. Encoders write a few metadata chunks and
# image data in chunks of 8 to 64 KB (libpng: 8 KB, so 10 MB is about 1,300 of them).
MAX_PNG_CHUNKS = 4096

# What Pillow raises on files it cannot parse or decode: format errors, truncation, bad headers.
_DECODE_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, EOFError, struct.error, IndexError, ValueError)
_ALPHA_MODES = {"RGBA", "RGBa", "LA", "La", "PA"}
_SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N"}


def load_image(source, size: int | tuple[int, int], channels: int = 3, *, keep_aspect: bool = False,
               multiple: int = 1, max_pixels: int = MAX_PIXELS, min_side: int = MIN_SIDE) -> torch.Tensor:
    """Read an image and prepare it for a model: float32 ``(channels, height, width)`` in [0, 1].

    source: a file path, the file's bytes, a ``PIL.Image.Image``, or a numpy array (H, W) or
        (H, W, C) with C in 1-4 (uint8, uint16, bool, or float in [0, 1]).
    size: an int, the side of a square: the image is centre-cropped to a square and resized;
        or ``(height, width)``: the image is scaled to cover that shape and centre-cropped to it
        (what an image must match another's shape with).
    keep_aspect: with an int ``size``, keep the image's aspect ratio instead: the longer side
        becomes ``size`` and the shorter one follows (``fit_shape``), both rounded to multiples
        of ``multiple`` (a convolutional VAE's downsampling), so at most ``multiple / 2`` pixels
        are cropped from a side.
    channels: 1 (grayscale, ITU-R 601 luma) or 3 (RGB; grayscale is repeated).
    max_pixels: larger images are refused before they are decoded (decompression bombs).
        Pillow's own limit applies too: above ``PIL.Image.MAX_IMAGE_PIXELS`` (89 megapixels
        unless the program changes it) it warns, above twice that it refuses the file; a
        max_pixels beyond it takes that setting raised as well.
    min_side: images whose shorter side is below this are refused rather than blown up from
        a few pixels.

    EXIF orientation is applied; transparency (RGBA, LA, palettes with a transparent colour)
    is composited on white; 16-bit, CMYK, palette and other modes are converted; an animated
    GIF gives its first frame. Everything goes through 8 bits per channel, like a decoded file.
    """
    if isinstance(size, tuple):
        if len(size) != 2:
            raise ValueError(f"size must be an int or (height, width); got {size!r}")
        height, width = (check_whole(label, side, 1) for label, side in zip(("height", "width"), size))
    else:
        height = width = check_whole("size", size, 1)
    for label, value in (("multiple", multiple), ("max_pixels", max_pixels), ("min_side", min_side)):
        check_whole(label, value, 1)
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB); got {channels!r}")

    opened, label = _open(source, max_pixels)
    try:
        _check_size(opened.size, label, max_pixels, min_side)
        if keep_aspect:  # the header's size; an EXIF rotation (below) swaps both sides alike
            height, width = fit_shape(*opened.size, max(height, width), multiple)
        image = _decode(opened, label, (width, height), owned=opened is not source)
        image = _to_gray_or_rgb(image, channels, label)
        if keep_aspect and (image.size[0] > image.size[1]) != (width > height) and width != height:
            height, width = width, height
        image = image.resize((width, height), Image.Resampling.LANCZOS, box=_cover_box(image.size, width, height),
                             reducing_gap=3.0)  # shrink by whole factors first, then filter: fast on photos
        pixels = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0)
    finally:
        if opened is not source:  # close what we opened, never the caller's image
            opened.close()
    pixels = pixels.unsqueeze(0) if pixels.ndim == 2 else pixels.permute(2, 0, 1)
    if channels == 3 and pixels.shape[0] == 1:
        pixels = pixels.expand(3, -1, -1)
    return pixels.contiguous()


def fit_shape(width: int, height: int, longest: int, multiple: int = 1) -> tuple[int, int]:
    """(height, width) of an image of ``width`` x ``height`` pixels scaled so its longer side is
    ``longest`` (rounded down to a multiple of ``multiple``), the shorter side in proportion
    rounded to the nearest multiple (at least one)."""
    longest = max(multiple, longest // multiple * multiple)
    scale = longest / max(width, height)
    sides = [longest if side == max(width, height) else max(multiple, round(side * scale / multiple) * multiple)
             for side in (height, width)]
    return sides[0], sides[1]


def _cover_box(size: tuple[int, int], width: int, height: int) -> tuple[float, float, float, float]:
    """The centred region of an image of ``size`` (w, h) with the aspect ratio of width x height."""
    w, h = size
    if w * height > h * width:  # wider than the target: crop the sides
        crop_w, crop_h = h * width / height, h
    else:
        crop_w, crop_h = w, w * height / width
    return ((w - crop_w) / 2, (h - crop_h) / 2, (w + crop_w) / 2, (h + crop_h) / 2)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """float ``(B, C, H, W)`` in [0, 1] with C in (1, 3) -> uint8 ``(B, H, W, 3)``, rounded;
    values outside [0, 1] are clipped, one channel is repeated to three."""
    images = images.detach().to("cpu", torch.float32).clamp(0, 1).mul(255).round_().to(torch.uint8)
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    return images.permute(0, 2, 3, 1).contiguous().numpy()


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
    # Before Pillow opens it: opening a PNG already reads every chunk before its image data.
    head = _read_head(data, 8)
    if head == b"\x89PNG\r\n\x1a\n" and count_png_chunks(data, MAX_PNG_CHUNKS + 1) > MAX_PNG_CHUNKS:
        raise ValueError(f"the image {label} is a PNG of more than {MAX_PNG_CHUNKS} chunks (ordinary PNGs have "
                         "a few to about 1,300): save it again as an ordinary PNG")
    if head[:2] in (b"P1", b"P2", b"P3"):  # numbers as text: decoding parses each (1.9 s for 10 MB)
        raise ValueError(f"the image {label} is a plain-text PBM/PGM/PPM: save it as a PNG or a binary PPM")
    try:
        image = Image.open(data, formats=FORMATS)
    except Image.DecompressionBombError as error:
        raise ValueError(f"the image {label} is too large to decode safely ({error}); downscale it first") from None
    except _DECODE_ERRORS:
        raise ValueError(f"could not read the image {label}: not a valid image file") from None
    if image.format in ("JPEG", "MPO"):
        scans = count_jpeg_scans(data)
        if scans > MAX_JPEG_SCANS:
            image.close()
            raise ValueError(
                f"the image {label} is a JPEG of {scans} scans, more than {MAX_JPEG_SCANS} (ordinary JPEGs have 1 "
                "to about 10, and each scan costs a pass over the whole image): save it again as an "
                "ordinary JPEG or a PNG")
    return image, label


def _read_head(source, size: int) -> bytes:
    """The first ``size`` bytes of a path or a binary file object (rewound)."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            return f.read(size)
    position = source.tell()
    source.seek(0)
    head = source.read(size)
    source.seek(position)
    return head


def count_png_chunks(source, most: int | None = None) -> int:
    """The number of chunks of a PNG file, from the chunks' lengths only (a seek per chunk,
    nothing decoded): a path or a binary file object (rewound). Stops at IEND, at the end of
    the data, or once ``most`` are counted."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            return count_png_chunks(f, most)
    position = source.tell()
    try:
        source.seek(8)  # the signature
        count = 0
        while most is None or count < most:
            head = source.read(8)
            if len(head) < 8:
                break
            count += 1
            length, kind = struct.unpack(">I4s", head)
            if kind == b"IEND":
                break
            source.seek(length + 4, io.SEEK_CUR)  # the data and its CRC
        return count
    finally:
        source.seek(position)


def count_jpeg_scans(source) -> int:
    """The number of scans (SOS markers) of the first image in a JPEG file, from its markers
    only, without decoding: a path, bytes or a binary file object (read, then rewound).

    Segments are skipped by their lengths and entropy-coded data up to the next marker, so
    bytes that look like markers inside metadata or inside the compressed data never count.
    Stops at the end of the image (EOI) or of the data."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            data = f.read()
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        position = source.tell()
        source.seek(0)
        data = source.read()
        source.seek(position)
    scans, i, end = 0, 2, len(data)
    if data[:2] != b"\xff\xd8":
        return 0
    while i + 4 <= end:
        if data[i] != 0xFF:
            # Not a marker where one must be: libjpeg skips such bytes ("extraneous bytes
            # before marker") and decodes on, so the count must go on too (one junk byte after
            # the first scan used to hide 40,000 more).
            i = data.find(b"\xff", i)
            if i < 0:
                return scans
            continue
        marker = data[i + 1]
        if marker == 0xFF:  # fill bytes before a marker
            i += 1
            continue
        if marker == 0xD9:  # end of image
            return scans
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            i += 2
            continue
        length = (data[i + 2] << 8) | data[i + 3]
        i += 2 + length
        if marker != 0xDA:
            continue
        scans += 1
        # Entropy-coded data: up to the next 0xFF not followed by 0x00 (a stuffed byte) or by
        # a restart marker 0xD0-0xD7.
        while True:
            i = data.find(b"\xff", i)
            if i < 0 or i + 1 >= end:
                return scans
            following = data[i + 1]
            if following == 0x00 or 0xD0 <= following <= 0xD7:
                i += 2
                continue
            break
    return scans


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


def _decode(image: Image.Image, label: str, size: tuple[int, int], owned: bool) -> Image.Image:
    """Decode the first frame, upright. JPEGs we opened decode at a reduced scale when much larger than needed."""
    try:
        # An animated GIF/PNG/WebP or a multi-page TIFF opens on its first frame, which is the
        # one used; asking for n_frames would walk all of them (5,000 TIFF pages: 4.6 s).
        if owned and image.format == "JPEG":
            # libjpeg scales by 1/2, 1/4, 1/8 while decoding, keeping both sides >= size.
            image.draft(None, (max(size), max(size)))
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


def _scaled_to_8_bits(values: np.ndarray, label: str) -> np.ndarray:
    """32-bit integer or float samples -> uint8. Files of this kind carry no range, so it is
    read off the values: at most 1 means [0, 1], at most 255 eight bits, at most 65535
    sixteen bits; anything else (negative, larger, NaN) is refused with what to do."""
    if not np.isfinite(values).all():
        raise ValueError(f"the image {label} has NaN or infinite samples: save it with finite values")
    low, high = float(values.min()), float(values.max())
    if low < 0:
        raise ValueError(f"the image {label} has negative samples (down to {low:.3g}): save it as an "
                         "8- or 16-bit image, or with values in [0, 1]")
    for top in (1.0, 255.0, 65535.0):
        if high <= top:
            return (values * (255.0 / top)).round().astype(np.uint8)
    raise ValueError(f"the image {label} has samples up to {high:.3g}, beyond 16 bits: save it as an 8- or "
                     "16-bit image, or with values in [0, 1]")


def _to_gray_or_rgb(image: Image.Image, channels: int, label: str = "the given image") -> Image.Image:
    """Any Pillow mode -> 8-bit "L" or "RGB", transparency composited on white."""
    mode = image.mode
    if mode in _SIXTEEN_BIT_MODES:
        # Pillow's own convert("L") clips 16-bit values at 255 instead of scaling them.
        values = np.asarray(image).astype(np.float64).clip(0, 65535) / 257.0
        image = Image.fromarray(values.round().astype(np.uint8))
    elif mode in ("I", "F"):  # 32-bit integer or float samples (TIFF): scale by their range
        image = Image.fromarray(_scaled_to_8_bits(np.asarray(image, dtype=np.float64), label))
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
