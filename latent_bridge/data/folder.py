"""A folder of someone's own images as a training set: ``read_image_folder(folder)``.

Every PNG, JPEG and WebP file under the folder (nested folders included, in sorted order) is
read by ``load_image`` (so the same limits hold: a size checked from the header before decoding,
Pillow's decompression-bomb limit, the JPEG scan limit), centre-cropped to a square and resized.
Unreadable files are skipped and counted; the side and grayscale-or-colour follow from the
images unless given.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image
from tqdm import tqdm

from .images import FORMATS, MAX_PIXELS, load_image

__all__ = ["IMAGE_SUFFIXES", "SIDES", "MAX_FOLDER_BYTES", "ImageFolder", "default_side", "list_images",
           "read_image_folder"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
SIDES = (16, 32, 64, 128)  # what a SmallVAE takes: a power of two, halved down to 4 x 4
# The decoded set is held in memory as float32: 2 GB is 40,000 colour images at 64 px.
MAX_FOLDER_BYTES = 2 * 10**9
# A grayscale image saved as RGB (or JPEG-compressed) keeps its channels within this mean
# difference; a colour photo is far above it.
GRAY_TOLERANCE = 2 / 255


@dataclass
class ImageFolder:
    """The images of a folder, ready to train on.

    images: float32 (N, channels, side, side) in [0, 1]; files: each image's path relative to
    the folder; skipped: (relative path, why) of the files that could not be read;
    channels: 1 or 3; side: pixels; notes: what was decided from the data, in words.
    """

    images: torch.Tensor
    files: list[str]
    skipped: list[tuple[str, str]]
    channels: int
    side: int
    notes: list[str] = field(default_factory=list)


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Every file under ``folder`` with a PNG, JPEG or WebP suffix (any case), sorted; links to
    files outside the folder are left out."""
    root = Path(folder)
    if not root.exists():
        raise ValueError(f"no such folder: {str(root)!r}")
    if not root.is_dir():
        raise ValueError(f"not a folder: {str(root)!r}; give the folder that holds the images")
    base = root.resolve()
    found = [p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
             and p.resolve().is_relative_to(base)]
    return sorted(found)


def default_side(sizes: list[tuple[int, int]]) -> int:
    """The training side for images of these (width, height): 32 px when the typical (median)
    shorter side is at most 32, else 64 (larger sides are asked for with ``side``)."""
    shorter = sorted(min(size) for size in sizes)
    return 32 if shorter[len(shorter) // 2] <= 32 else 64


def _header_size(path: Path) -> tuple[int, int] | None:
    try:
        with Image.open(path, formats=FORMATS) as image:
            return image.size
    except Exception:  # noqa: BLE001 - any unreadable header: load_image says why later
        return None


def read_image_folder(folder: str | os.PathLike, *, side: int | None = None, channels: int | None = None,
                      max_pixels: int = MAX_PIXELS, max_bytes: int = MAX_FOLDER_BYTES,
                      progress: bool = True) -> ImageFolder:
    """Read every image under ``folder`` for training.

    side: the square side in pixels, one of ``SIDES``; default from the images (``default_side``).
    channels: 1 (grayscale) or 3 (colour); default: 1 when every image is gray (its channels
        equal within ``GRAY_TOLERANCE`` on average), else 3.
    max_pixels: larger images are skipped before decoding (see ``load_image``).
    max_bytes: the most the decoded set may take in memory (float32).

    Raises ValueError for a missing or empty folder, a folder without a readable image, a bad
    side or channels, or too many images to hold.
    """
    if side is not None and side not in SIDES:
        raise ValueError(f"size must be one of {', '.join(map(str, SIDES))} pixels; got {side!r}")
    if channels not in (None, 1, 3):
        raise ValueError(f"channels must be 1 (grayscale) or 3 (colour); got {channels!r}")
    root = Path(folder)
    paths = list_images(root)
    if not paths:
        others = sum(1 for p in root.rglob("*") if p.is_file())
        what = f"it holds {others} other file(s)" if others else "it is empty"
        raise ValueError(f"no PNG, JPEG or WebP images in {str(root)!r} ({what}); put the training images "
                         "in it (nested folders are read too)")
    notes = []
    sizes = {path: _header_size(path) for path in paths}
    known = [size for size in sizes.values() if size is not None]
    if side is None and known:
        side = default_side(known)
        notes.append(f"size {side} px, from the images (--size to choose)")
    if len(set(known)) > 1:
        (w0, h0), (w1, h1) = min(known, key=lambda s: s[0] * s[1]), max(known, key=lambda s: s[0] * s[1])
        notes.append(f"images of mixed sizes ({w0}x{h0} to {w1}x{h1}): each is centre-cropped to a square and "
                     f"resized to {side} px")
    elif known and known[0][0] != known[0][1]:
        notes.append(f"images of {known[0][0]}x{known[0][1]}: centre-cropped to a square, resized to {side} px")
    per_image = 3 * (side or 64) ** 2 * 4
    if len(paths) * per_image > max_bytes:
        raise ValueError(f"{len(paths):,} images at {side} px take more than {max_bytes / 1e9:g} GB in memory: "
                         f"use at most {max_bytes // per_image:,} images, or a smaller --size")

    loaded, files, skipped = [], [], []
    for path in tqdm(paths, desc="reading images", unit="image", disable=not progress):
        relative = str(path.relative_to(root))
        try:
            loaded.append(load_image(path, side or 64, channels=3, max_pixels=max_pixels))
            files.append(relative)
        except ValueError as error:
            skipped.append((relative, str(error)))
    if not loaded:
        first = skipped[0][1]
        raise ValueError(f"none of the {len(paths)} image files in {str(root)!r} could be read (the first: "
                         f"{first})")
    images = torch.stack(loaded)
    if skipped:
        notes.append(f"skipped {len(skipped)} of {len(paths)} files that could not be read (the first: "
                     f"{skipped[0][0]}: {skipped[0][1]})")
    if channels is None:
        spread = (images[:, 0] - images[:, 1]).abs().mean((1, 2)) + (images[:, 1] - images[:, 2]).abs().mean((1, 2))
        channels = 1 if bool((spread <= GRAY_TOLERANCE).all()) else 3
        notes.append(f"{'grayscale' if channels == 1 else 'colour'}, from the images (--channels to choose)")
    if channels == 1:  # ITU-R 601 luma in 8 bits, as load_image makes for grayscale models
        luma = 0.299 * images[:, 0] + 0.587 * images[:, 1] + 0.114 * images[:, 2]
        images = (luma * 255).round().div(255).clamp(0, 1).unsqueeze(1)
    return ImageFolder(images.contiguous(), files, skipped, channels, side or 64, notes)
