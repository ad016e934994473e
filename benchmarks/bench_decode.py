"""Worst-case decoding times of accepted uploads: how long one file can hold the app's worker.

Builds hostile but valid files within the app's limits (10 MB upload, 16 megapixels) and times
``lb.data.load_image`` on each at the `poses` model's 64 px, next to Pillow's plain decode of
the same file where that is bounded. Prints a table; run ``python benchmarks/bench_decode.py``.

- JPEG with many scans: a progressive JPEG whose smallest (or largest) scan is repeated; each
  scan costs a pass over the whole coefficient buffer, so time grows with the count.
- A 16-megapixel PNG of noise (the most pixels the app accepts, at the most bytes per pixel).
- A GIF and a TIFF of 10 MB of frames (only the first is decoded; the rest are skipped).
- PNGs of many chunks: empty ancillary chunks, or the image data in 1-byte chunks (each chunk
  costs Pillow a read), and the most chunks accepted (``MAX_PNG_CHUNKS``) around 10 MB of noise.
- Plain-text PGM (numbers as text: a parse per pixel).
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
    rows = min(side, int(UPLOAD * 0.95) // (side * 3))
    values[:rows] = np.random.default_rng(1).integers(0, 256, (rows, side, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(values).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    import struct
    import zlib

    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def rechunked_png(data: bytes, size: int, empty: int = 0) -> bytes:
    """``data`` (a PNG) with its image data cut into chunks of ``size`` bytes and ``empty``
    empty ancillary chunks before it; cut short at the upload limit if need be."""
    import struct

    i, chunks, idat = 8, [], b""
    while i < len(data):
        length, kind = struct.unpack(">I4s", data[i:i + 8])
        body = data[i + 8:i + 8 + length]
        if kind == b"IDAT":
            idat += body
        elif kind != b"IEND":
            chunks.append(png_chunk(kind, body))
        i += 12 + length
    pieces = [png_chunk(b"IDAT", idat[k:k + size]) for k in range(0, len(idat), size)]
    out = data[:8] + b"".join(chunks) + png_chunk(b"prIv", b"") * empty
    kept, room = [], UPLOAD - len(out) - 12
    for piece in pieces:
        if len(piece) > room:
            break
        kept.append(piece)
        room -= len(piece)
    return out + b"".join(kept) + png_chunk(b"IEND", b"")


def plain_pgm() -> bytes:
    side = int((UPLOAD / 4) ** 0.5)
    values = np.random.default_rng(3).integers(100, 256, side * side)
    return f"P2\n{side} {side}\n255\n".encode() + " ".join(map(str, values)).encode()


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
    """Pillow's own decode (a file cut at the upload limit ends in its truncation error, after
    the work)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.draft(None, (64, 64))
            image.load()
    except OSError:  # a refused or truncated file: its time to refusal is what is measured
        pass


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
        ("PNG, 800k empty chunks", rechunked_png(noise_png(64 * 64), 10**6, empty=800_000), True),
        ("PNG 4 MP, image data in 1-byte chunks", rechunked_png(noise_png(4_000_000), 1), True),
        (f"PNG 16 MP, 10 MB of noise in {images.MAX_PNG_CHUNKS - 8} chunks (the limit)",
         rechunked_png(noise_png(APP_PIXELS), UPLOAD // (images.MAX_PNG_CHUNKS - 8) + 1), True),
        (f"PNG, {images.MAX_PNG_CHUNKS - 8} empty chunks (the limit)",
         rechunked_png(noise_png(64 * 64), 10**6, empty=images.MAX_PNG_CHUNKS - 8), True),
        ("plain-text PGM of 10 MB", plain_pgm(), True),
    ]
    print("| file | size MB | load_image s | outcome | Pillow decode s |")
    print("| --- | ---: | ---: | --- | ---: |")
    for name, data, plain in cases:
        seconds, outcome = timed(lambda: images.load_image(data, 64, max_pixels=APP_PIXELS))
        pillow = f"{timed(lambda: pillow_decode(data), 1)[0]:.2f}" if plain else "(not run: minutes)"
        print(f"| {name} | {len(data) / 1e6:.2f} | {seconds:.3f} | {outcome} | {pillow} |")


if __name__ == "__main__":
    main()
