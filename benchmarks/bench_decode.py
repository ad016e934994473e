"""Worst-case decoding times of accepted uploads: how long one file can hold the app's worker.

Builds hostile but valid files within the app's limits (10 MB upload, 16 megapixels) and times
``lb.data.load_image`` on each at the `poses` model's 64 px, next to Pillow's plain decode of
the same file where that is bounded. Prints a table; run ``python benchmarks/bench_decode.py``.

- JPEG with many scans: a progressive JPEG whose smallest (or largest) scan is repeated; each
  scan costs a pass over the whole coefficient buffer, so time grows with the count.
- A 16-megapixel PNG of noise (the most pixels the app accepts, at the most bytes per pixel).
- A GIF and a TIFF of 10 MB of frames (only the first is decoded; the rest are skipped).
"""

from __future__ import annotations

import io
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from latent_bridge.data import images  # noqa: E402

UPLOAD = 10 * 2**20
APP_PIXELS = 16_000_000


def jpeg_segments(data: bytes) -> list[tuple[int, int, int]]:
    """(marker, start, end) of each segment of a JPEG; a scan includes its entropy-coded data."""
    out, i = [], 2
    while i < len(data):
        marker = data[i + 1]
        if marker == 0xD9:
            out.append((marker, i, i + 2))
            break
        j = i + 2 + ((data[i + 2] << 8) | data[i + 3])
        if marker == 0xDA:
            while True:
                j = data.find(b"\xff", j)
                if data[j + 1] == 0 or 0xD0 <= data[j + 1] <= 0xD7:
                    j += 2
                    continue
                break
        out.append((marker, i, j))
        i = j
    return out


def progressive_jpeg(side: int, scans: int | None, largest: bool = False) -> bytes:
    """A progressive side x side JPEG with one of its scans repeated until it has ``scans``
    scans (or until it would pass the upload limit)."""
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (side // 16, side // 16, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(small).resize((side, side)).save(buffer, "JPEG", progressive=True, quality=80)
    data = buffer.getvalue()
    segments = jpeg_segments(data)
    sos = [s for s in segments if s[0] == 0xDA]
    pick = (max if largest else min)(sos, key=lambda s: s[2] - s[1])
    scan = data[pick[1]:pick[2]]
    extra = 0 if scans is None else max(scans - len(sos), 0)
    extra = min(extra, (UPLOAD - len(data)) // len(scan))
    end = segments[-1][1]
    return data[:end] + scan * extra + data[end:]


def noise_png(pixels: int) -> bytes:
    """As many noisy rows as fit in the upload limit, the rest flat."""
    side = int(pixels ** 0.5)
    values = np.zeros((side, side, 3), dtype=np.uint8)
    rows = int(UPLOAD * 0.95) // (side * 3)
    values[:rows] = np.random.default_rng(1).integers(0, 256, (rows, side, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(values).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def many_frames(kind: str, frames: int) -> bytes:
    rng = np.random.default_rng(2)
    pictures = [Image.fromarray(rng.integers(0, 256, (64, 64), dtype=np.uint8)).convert("P")
                for _ in range(frames)]
    buffer = io.BytesIO()
    pictures[0].save(buffer, kind, save_all=True, append_images=pictures[1:])
    return buffer.getvalue()


def timed(function, repeats: int = 3) -> tuple[float, str]:
    times, outcome = [], ""
    for _ in range(repeats):
        start = time.perf_counter()
        try:
            function()
            outcome = "accepted"
        except ValueError as error:
            outcome = "refused: " + str(error)[:60]
        times.append(time.perf_counter() - start)
    return statistics.median(times), outcome


def pillow_decode(data: bytes) -> None:
    with Image.open(io.BytesIO(data)) as image:
        image.draft(None, (64, 64))
        image.load()


def main():
    cases = [
        ("JPEG 4000 px, baseline progressive (10 scans)", progressive_jpeg(4000, None), True),
        ("JPEG 4000 px, 100 small scans (the limit)", progressive_jpeg(4000, images.MAX_JPEG_SCANS), True),
        ("JPEG 4000 px, 100 large scans (the limit)", progressive_jpeg(4000, images.MAX_JPEG_SCANS, True), True),
        ("JPEG 4000 px, 2000 small scans", progressive_jpeg(4000, 2000), True),
        ("JPEG 4000 px, 20000 small scans", progressive_jpeg(4000, 20000), False),
        ("PNG 16 MP, 10 MB of noise", noise_png(APP_PIXELS), True),
        ("GIF of 10 MB, 1500 frames", many_frames("GIF", 1500), True),
        ("TIFF of 10 MB, 1700 pages", many_frames("TIFF", 1700), True),
    ]
    print("| file | size MB | load_image s | outcome | Pillow decode s |")
    print("| --- | ---: | ---: | --- | ---: |")
    for name, data, plain in cases:
        seconds, outcome = timed(lambda: images.load_image(data, 64, max_pixels=APP_PIXELS))
        pillow = f"{timed(lambda: pillow_decode(data), 1)[0]:.2f}" if plain else "(not run: minutes)"
        print(f"| {name} | {len(data) / 1e6:.2f} | {seconds:.3f} | {outcome} | {pillow} |")


if __name__ == "__main__":
    main()
