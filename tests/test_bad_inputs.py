"""A catalogue of bad (and odd but valid) inputs, each through the library, the CLI and the app's API.

Every case is one row of CASES: what to send, and the message the user must get (a regex on
its text), or ``None`` when the input is unusual but valid and must succeed. Each row runs
through the library; rows with an ``api`` request also go to the running app (gradio_client:
an AppError carrying our message, then a valid request that succeeds, so the server kept
serving); rows with ``cli`` arguments also run ``python -m latent_bridge`` (exit code 2, one
line on stderr, no traceback). The CLI costs ~3 s a run, so only a representative few have it.

One app server per module, on a free port; requests are tiny (digits, 4 to 8 frames).
"""

from __future__ import annotations

import json
import os
import re
import struct
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

import latent_bridge as lb  # noqa: E402
import latent_bridge.cli  # noqa: E402
from latent_bridge.app import cache, controls, guards, handlers, jobs, limits, storage  # noqa: E402
from latent_bridge.app import models as app_models  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODEL = "digits"  # embedded, 32 px, 2-D latent: the cheapest model to run end to end
SMALL = dict(T=0.5, frames=6, paths=1, seed=0, fps=8)
NOT_CACHED = "latent-bridge-tests/not-cached-vae"


# ------------------------------------------------------------------------------------------
# Input files, built small: none of them allocates more than a few kilobytes of pixels.


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(width: int = 30_000, height: int = 30_000) -> bytes:
    """A valid PNG header announcing width x height 8-bit grayscale, with a one-row IDAT:
    a decoder that trusts the header would allocate width * height bytes (900 MB here)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    row = zlib.compress(b"\x00" + bytes(width))
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", row) + png_chunk(b"IEND", b"")


def noise(side: int = 48, channels: int = 3) -> np.ndarray:
    shape = (side, side, channels) if channels > 1 else (side, side)
    return np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)


def write_inputs(folder: Path) -> dict[str, Path]:
    """{name: file} for every image case."""
    files = {}

    def save(name, image, **options):
        files[name] = folder / name
        image.save(files[name], **options)

    good = Image.fromarray(noise())
    save("good.png", good)
    save("other.png", Image.fromarray(noise()[::-1].copy()))
    jpeg = folder / "whole.jpg"
    good.save(jpeg, quality=90)
    files["truncated.jpg"] = folder / "truncated.jpg"
    files["truncated.jpg"].write_bytes(jpeg.read_bytes()[: jpeg.stat().st_size // 2])
    files["corrupt.png"] = folder / "corrupt.png"
    files["corrupt.png"].write_bytes(files["good.png"].read_bytes()[:60] + b"\x00garbage" * 40)
    files["empty.png"] = folder / "empty.png"
    files["empty.png"].write_bytes(b"")
    files["text.png"] = folder / "text.png"
    files["text.png"].write_text("this is a note, not a picture\n")
    files["bomb.png"] = folder / "bomb.png"
    files["bomb.png"].write_bytes(bomb_png())
    save("tiny.png", Image.new("RGB", (1, 1), (200, 30, 30)))
    save("sixteen.png", Image.fromarray((noise(channels=1).astype(np.uint16) * 257)))
    save("cmyk.jpg", good.convert("CMYK"), quality=90)
    save("palette.png", good.convert("P"))
    save("la.png", Image.fromarray(noise(channels=2), "LA"))
    frames = [Image.fromarray(noise()[:, :, 0] // (i + 1)).convert("P") for i in range(3)]
    files["animated.gif"] = folder / "animated.gif"
    frames[0].save(files["animated.gif"], save_all=True, append_images=frames[1:], duration=50, loop=0)
    rgba = noise(channels=4)
    rgba[:24, :, 3] = 0  # the top half fully transparent
    save("transparent.png", Image.fromarray(rgba, "RGBA"))
    files["scans.jpg"] = folder / "scans.jpg"
    files["scans.jpg"].write_bytes(many_scan_jpeg(good, 300))
    files["scans-junk.jpg"] = folder / "scans-junk.jpg"
    files["scans-junk.jpg"].write_bytes(junk_after_first_scan(many_scan_jpeg(good, 300)))
    save("float.tif", Image.fromarray(noise(channels=1).astype(np.float32)))  # 0-255 as floats
    save("int32.tif", Image.fromarray(noise(channels=1).astype(np.int32)))
    save("negative.tif", Image.fromarray(noise(channels=1).astype(np.float32) - 100))
    files["postscript.eps"] = folder / "postscript.eps"  # Pillow would run Ghostscript on it
    files["postscript.eps"].write_text("%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 48 48\nshowpage\n")
    return files


def many_scan_jpeg(image: Image.Image, scans: int) -> bytes:
    """A progressive JPEG of ``image`` whose smallest scan is repeated until it has ``scans``
    scans: decoding cost grows with the count (the attack in benchmarks/bench_decode.py)."""
    import io

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_decode import jpeg_segments

    buffer = io.BytesIO()
    image.save(buffer, "JPEG", progressive=True)
    data = buffer.getvalue()
    segments = jpeg_segments(data)
    smallest = min((s for s in segments if s[0] == 0xDA), key=lambda s: s[2] - s[1])
    count = sum(s[0] == 0xDA for s in segments)
    end = segments[-1][1]
    return data[:end] + data[smallest[1]:smallest[2]] * (scans - count) + data[end:]


def junk_after_first_scan(data: bytes) -> bytes:
    """``data`` with one byte that is not a marker after the segment that follows its first
    scan: libjpeg skips it with a warning and decodes every scan, so a scan counter must not
    stop there."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_decode import jpeg_segments

    segments = jpeg_segments(data)
    after = segments[next(i for i, s in enumerate(segments) if s[0] == 0xDA) + 1][2]
    return data[:after] + b"\x01" + data[after:]


def hub_cache(folder: Path, repo: str, files: dict[str, bytes]) -> Path:
    """A Hugging Face cache (``cache_dir``) holding one snapshot of ``repo`` with ``files``,
    laid out as huggingface_hub writes it, so offline loading finds it without a network."""
    commit = "0" * 40
    repo_dir = folder / f"models--{repo.replace('/', '--')}"
    (repo_dir / "refs").mkdir(parents=True)
    (repo_dir / "refs" / "main").write_text(commit)
    snapshot = repo_dir / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for name, data in files.items():
        (snapshot / name).write_bytes(data)
    return folder


# ------------------------------------------------------------------------------------------
# The catalogue


@dataclass
class Case:
    """One input. ``message``: regex the error text must match, or None for "must succeed".

    lib: "interpolate", "load", "request" (the app's size limits), "kwargs" (the app's reading
    of method parameters) and others, see ``run_library``; None for a case of the CLI alone.
    args: that call's arguments.
    api: (api_name, {overrides of the valid request}) or None. cli: argv or None.
    api_message: the app's message when it differs from the library's.
    """

    id: str
    message: str | None
    lib: str = "interpolate"
    args: dict = field(default_factory=dict)
    api: tuple | None = None
    cli: list | None = None
    needs: str | None = None  # a sampler that must be registered, or "uncached:REPO"
    api_message: str | None = None  # where the app answers differently (it serves listed models only)
    xfail: str | None = None  # a known gap, reported; strict, so closing it flags the marker


def image_case(name, message, cli=False):
    return Case(name, message, args={"image_a": name},
                api=("/interpolate", {"image_a": name}),
                cli=["interpolate", name, "good.png"] if cli else None)


# The app serves its listed models only: any other name is refused before any load.
APP_MODELS = r"model must be one of digits, fashion"
BAD_IMAGE = r"could not read the image .*not a valid image file"
CASES = [
    # Broken files: refused with what is wrong.
    image_case("corrupt.png", BAD_IMAGE, cli=True),
    image_case("truncated.jpg", BAD_IMAGE + r" \(truncated or corrupt\)"),
    image_case("empty.png", BAD_IMAGE),
    image_case("text.png", BAD_IMAGE),
    image_case("bomb.png", r"too large to decode safely.*downscale it first|30000x30000 = 900\.0 megapixels"),
    image_case("tiny.png", r"is 1x1 pixels; its shorter side must be at least 8 pixels"),
    # Odd but valid images: converted and used.
    image_case("sixteen.png", None),
    image_case("cmyk.jpg", None),
    image_case("palette.png", None),
    image_case("la.png", None),
    image_case("animated.gif", None),
    image_case("transparent.png", None),
    image_case("float.tif", None),
    image_case("int32.tif", None),
    # Decoding is bounded: scans are counted from the markers before any decoding.
    image_case("scans.jpg", r"is a JPEG of 300 scans, more than 100 .* save it again as an ordinary JPEG", cli=True),
    image_case("scans-junk.jpg", r"is a JPEG of 300 scans, more than 100"),
    image_case("negative.tif", r"has negative samples .* save it as an 8- or 16-bit image"),
    image_case("postscript.eps", BAD_IMAGE),
    # Sizes.
    Case("frames-0", r"frames must be (a whole number >= 2|at least 4)", args={"frames": 0},
         api=("/interpolate", {"frames": 0}), cli=["interpolate", "good.png", "other.png", "--frames", "0"]),
    Case("frames-1", r"frames must be (a whole number >= 2|at least 4)", args={"frames": 1},
         api=("/random_walk", {"frames": 1})),
    Case("frames-1e6", r"frames must be at most 240 on this server", lib="request",
         args={"frames": 10**6}, api=("/random_walk", {"frames": 10**6})),
    # The library and the CLI leave sizes to the user, but a joint (GP) draw cannot take a million.
    Case("gp-frames-1e6", r"gp draws all frames jointly .* frames must be at most 8192; got 1000000",
         args={"method": "gp", "frames": 10**6},
         cli=["interpolate", "good.png", "other.png", "--method", "gp", "--frames", "1000000"]),
    Case("paths-0", r"(n_paths|paths) must be (a whole number >= 1|at least 1)", args={"n_paths": 0},
         api=("/compare", {"paths": 0})),
    Case("paths-1e4", r"paths must be at most 8 on this server", lib="request", args={"paths": 10**4},
         api=("/interpolate", {"paths": 10**4})),
    # A Hub model's resolution and fast preview: checked for every model, before any work.
    Case("resolution-4096", r"resolution must be at most 1024 on this server", lib=None,
         api=("/interpolate", {"resolution": 4096})),
    Case("resolution-text", r"resolution must be a whole number", lib=None, api=("/compare", {"resolution": "big"})),
    Case("fast-preview-text", r"fast_preview must be true or false; got str", lib=None,
         api=("/random_walk", {"fast_preview": "yes"})),
    # Outputs too large to lay out are refused before any sampling or decoding.
    Case("paths-1e4-side-by-side-video", r"10000 paths make a video 2579998 px wide, more than 8192: lower "
         r"paths \(at most 31 at 32 px\) or write the paths one after another", lib="output",
         args={"kind": "video", "n_paths": 10**4, "image_side": 32},
         cli=["interpolate", "good.png", "other.png", "--paths", "10000", "--out", "many.mp4"]),
    Case("paths-1e4-grid", r"10000 paths make a grid 979998 px tall, more than 8192: lower paths \(at most 83",
         lib="output", args={"kind": "grid", "n_paths": 10**4, "image_side": 32}),
    Case("paths-1e4-sequential-video", None, lib="output",
         args={"kind": "video", "n_paths": 10**4, "image_side": 32, "layout": "sequential"}),
    # A slow decoder (SD's KL-VAE on a CPU, 2.1 s a frame measured at 256 px) cannot hold the worker.
    Case("slow-decoder-many-frames", r"sd-vae decodes a frame in about 2.1 s on this server, so these 1920 "
         r"frames .* would take 67.2 min, above its limit of 2 min: decode at most 57 frames in all",
         lib="decode", args={"decoded_frames": 240 * 8, "seconds_per_frame": 2.1, "model": "sd-vae"}),
    # Method parameters.
    # A client's huge string is named by its type, never echoed (a 5 MB value came back whole).
    Case("huge-string-not-echoed", r"kernel must be one of exponential, periodic, matern, locally-periodic; "
         r"got 'str'$", args={"method": "gp", "kernel": "x" * 30_000},
         api=("/interpolate", {"method": "gp", "kernel": "x" * 30_000})),
    Case("T-0", r"T must be in \[1e-06, inf\)", args={"method": "ou", "T": 0.0}, api=("/interpolate", {"T": 0})),
    Case("T-negative", r"T must be in \[1e-06, inf\)", args={"method": "gp", "T": -1.0},
         api=("/compare", {"T": -1.0}), cli=["compare", "good.png", "other.png", "--T", "-1", "--out", "c.png"]),
    Case("T-nan", r"T must be a finite number", args={"method": "ou", "T": float("nan")},
         api=("/interpolate", {"T": "nan"})),
    Case("T-inf", r"T must be a finite number", args={"method": "ou", "T": float("inf")},
         api=("/random_walk", {"T": "inf"})),
    Case("alpha-0", r"alpha must be in \(0, 2\]", args={"method": "gp", "alpha": 0.0},
         api=("/interpolate", {"method": "gp", "kernel": "exponential", "alpha": 0})),
    Case("alpha-2.5", r"alpha must be in \(0, 2\]", args={"method": "gp", "alpha": 2.5},
         api=("/interpolate", {"method": "gp", "kernel": "exponential", "alpha": 2.5}),
         cli=["interpolate", "good.png", "other.png", "--method", "gp", "--alpha", "2.5"]),
    Case("beta-0", r"beta must be in \(0, inf\)", args={"method": "gp", "beta": 0.0},
         api=("/interpolate", {"method": "gp", "kernel": "exponential", "beta": 0})),
    Case("beta-negative", r"beta must be in \(0, inf\)", args={"method": "gp", "beta": -1.0},
         api=("/interpolate", {"method": "gp", "kernel": "exponential", "beta": -1})),
    Case("period-0", r"period must be in \(0, inf\)", args={"method": "gp", "kernel": "periodic", "period": 0.0},
         api=("/random_walk", {"method": "gp", "kernel": "periodic", "period": 0})),
    Case("length-scale-negative", r"length_scale must be in \(0, inf\)",
         args={"method": "gp", "kernel": "periodic", "length_scale": -1.0},
         api=("/random_walk", {"method": "gp", "kernel": "periodic", "length_scale": -1})),
    Case("unknown-method", r"unknown method 'brownian'; choose one of linear", args={"method": "brownian"},
         api=("/interpolate", {"method": "brownian"}), api_message=r"method must be one of linear, slerp, ou, gp",
         cli=["interpolate", "good.png", "other.png", "--method", "brownian"]),
    # Seeds: torch's generator keeps 32 bits, so exactly 0 .. 2**32 - 1 are accepted.
    Case("seed-2**32", r"seed must be a whole number from 0 to 4294967295", args={"seed": 2**32},
         api=("/interpolate", {"seed": 2**32})),
    Case("seed-2**64", r"seed must be a whole number from 0 to 4294967295", args={"seed": 2**64},
         api=("/random_walk", {"seed": 2**64}),
         cli=["interpolate", "good.png", "other.png", "--seed", str(2**64)]),
    # Output paths of the CLI, checked before any work (lib=None: the CLI alone).
    Case("cli-out-is-a-folder", r"--out is a folder: \.; give a file name in it", lib=None,
         cli=["interpolate", "good.png", "other.png", "--out", "."]),
    Case("cli-out-overwrites-an-input", r"--out is the input image other\.png: it would be overwritten", lib=None,
         cli=["interpolate", "good.png", "other.png", "--out", "other.png"]),
    Case("cli-out-in-proc", r"--out cannot be written in /proc", lib=None, cli=["interpolate", "good.png", "other.png", "--out", "/proc/x.mp4"]),
    Case("seed-negative", r"seed must be a whole number from 0 to 4294967295", args={"seed": -1},
         api=("/compare", {"seed": -1})),
    Case("seed-fraction", r"seed must be a whole number from 0 to 4294967295", args={"seed": 1.5},
         api=("/interpolate", {"seed": 1.5})),
    Case("seed-largest", None, args={"seed": 2**32 - 1}, api=("/interpolate", {"seed": 2**32 - 1})),
    # T just off a multiple of the period: the bridge's mean weights explode.
    Case("periodic-T-just-off-the-period", r"k\(T\) = 0\.99999999\d, close to 1, at T = 4\.00004 .* mean weights "
         r"reach 8\.5\d*e\+03, more than 10\); move T away", args={"method": "gp", "kernel": "periodic",
                                                                   "period": 4.0, "T": 4.00004},
         api=("/interpolate", {"method": "gp", "kernel": "periodic", "period": 4.0, "T": 4.00004})),
    Case("periodic-T-just-off-the-period-walk", None, args={"method": "gp", "kernel": "periodic", "period": 4.0,
                                                          "T": 4.00004, "image_b": "good.png"}),
    Case("ou-T-1e-323", r"T must be in \[1e-06, inf\)", args={"method": "ou", "T": 1e-323},
         api=("/interpolate", {"T": 1e-323})),
    # Values of the wrong type through the API: our message, never a TypeError.
    Case("model-as-a-list", r"model must be one of digits, fashion", lib="choice",
         args={"name": "model", "value": ["digits"], "choices": ["digits", "fashion"]},
         api=("/interpolate", {"model": ["digits"]})),
    Case("method-as-a-dict", r"method must be one of linear", lib="choice",
         args={"name": "method", "value": {"ou": 1}, "choices": ["linear", "ou"]},
         api=("/interpolate", {"method": {"ou": 1}})),
    Case("methods-as-a-dict", r"methods must be a list of method names; got dict", lib="methods",
         args={"value": {"linear": 1}}, api=("/compare", {"methods": {"linear": 1}})),
    Case("methods-as-text", None, lib="methods", args={"value": "linear, ou"},
         api=("/compare", {"methods": "linear,ou"})),
    Case("methods-unknown-in-text", r"each method must be one of linear.*got 'o'", lib="methods",
         args={"value": "linear,o"}, api=("/compare", {"methods": "linear,o"})),
    Case("frames-as-a-list", r"frames must be a whole number from 4 to 240; got 'list'", lib="request",
         args={"frames": [8]}, api=("/interpolate", {"frames": [8]})),
    # Langevin memory is bounded as well as its work.
    Case("langevin-memory", r"langevin with these settings would hold about 2\.3 GiB .* lower max_particles "
         r"\(at most 220 here\)", lib="memory",
         args={"algorithm": "smc", "particles": 512, "max_particles": 512, "frames": 240, "latent_shape": (4, 32, 32)},
         needs="langevin"),
    # One particle system a path: two paths of 256 hold what one of 512 does.
    Case("langevin-memory-counts-the-paths", r"would hold about 2\.3 GiB .* lower max_particles "
         r"\(at most 110 here\), paths", lib="memory",
         args={"algorithm": "smc", "particles": 256, "max_particles": 256, "frames": 240, "latent_shape": (4, 32, 32), "paths": 2},
         needs="langevin"),
    Case("closed-loop-between-different-images", r"z1 must equal z0 \(a loop\)",
         args={"method": "gp", "kernel": "periodic", "period": 4.0, "T": 4.0},
         api=("/interpolate", {"method": "gp", "kernel": "periodic", "period": 4.0, "T": 4.0})),
    Case("langevin-0-particles", r"particles must be (in \[1|at least 1)",
         args={"method": "langevin", "algorithm": "smc", "particles": 0},
         api=("/interpolate", {"method": "langevin", "algorithm": "smc", "particles": 0}), needs="langevin"),
    Case("langevin-1e6-particles", r"particles must be at most 16384 on this server", lib="kwargs",
         args={"method": "langevin", "algorithm": "smc", "particles": 10**6},
         api=("/interpolate", {"method": "langevin", "algorithm": "smc", "particles": 10**6}), needs="langevin"),
    Case("langevin-1e9-steps", r"steps must be at most 2000 on this server", lib="kwargs",
         args={"method": "langevin", "steps": 10**9},
         api=("/interpolate", {"method": "langevin", "steps": 10**9}), needs="langevin"),
    Case("langevin-1e6-rungs", r"rungs must be at most 32 on this server", lib="kwargs",
         args={"method": "langevin", "prior": "mixture", "algorithm": "path-mcmc", "rungs": 10**6},
         api=("/interpolate", {"method": "langevin", "prior": "mixture", "algorithm": "path-mcmc", "rungs": 10**6}),
         needs="langevin"),
    Case("langevin-1e6-population", r"population must be at most 256 on this server", lib="kwargs",
         args={"method": "langevin", "prior": "mixture", "algorithm": "path-smc", "population": 10**6},
         api=("/interpolate", {"method": "langevin", "prior": "mixture", "algorithm": "path-smc",
                               "population": 10**6}), needs="langevin"),
    Case("langevin-1e6-islands", r"islands must be at most 64 on this server", lib="kwargs",
         args={"method": "langevin", "prior": "mixture", "algorithm": "path-smc", "islands": 10**6},
         api=("/interpolate", {"method": "langevin", "prior": "mixture", "algorithm": "path-smc",
                               "islands": 10**6}), needs="langevin"),
    Case("langevin-1e6-pcn-moves", r"pcn_moves must be at most 20 on this server", lib="kwargs",
         args={"method": "langevin", "algorithm": "smc", "pcn_moves": 10**6},
         api=("/compare", {"methods": ["langevin"], "algorithm": "smc", "pcn_moves": 10**6}), needs="langevin"),
    # Each bound alone is allowed, together at SD latent size they would take minutes.
    Case("langevin-work-at-sd-latent-size", r"steps x \(1 \+ pcn_moves\) x paths x \(2 x max_particles x latent size \+ 25000 a step\) = "
         r"2000 x 21 x 1 x \(512 x 16384 \+ 25000\) .* lower paths, steps or pcn_moves \(at these, even one particle",
         lib="kwargs", args={"method": "langevin", "algorithm": "smc", "particles": 256, "max_particles": 256, "steps": 2000,
                             "pcn_moves": 20, "latent_shape": (4, 64, 64)}, needs="langevin"),
    Case("langevin-work-names-the-particles-that-fit", r"= 1e\+09, above this server's limit of 5e\+08: "
         r"lower max_particles \(at most 119 here\)", lib="kwargs",
         args={"method": "langevin", "algorithm": "smc", "particles": 250, "max_particles": 250, "steps": 500, "pcn_moves": 0,
               "latent_shape": (4, 32, 32)}, needs="langevin"),
    Case("langevin-work-within-the-limit", None, lib="kwargs",
         args={"method": "langevin", "algorithm": "smc", "particles": 256, "max_particles": 256, "steps": 2000, "pcn_moves": 3,
               "latent_shape": (64,)}, needs="langevin"),
    # The particle sampler's defaults (one round of 2,048 particles a path) fit a 64-number latent, even for 8 paths.
    Case("langevin-smc-defaults-at-poses-size", None, lib="kwargs",
         args={"method": "langevin", "algorithm": "smc", "latent_shape": (64,)}, needs="langevin"),
    Case("langevin-smc-defaults-8-paths-at-poses-size", None, lib="kwargs",
         args={"method": "langevin", "algorithm": "smc", "latent_shape": (64,), "paths": 8}, needs="langevin"),
    # The chains' defaults with the fitted mixture fit poses' 64 numbers, even for 8 paths.
    Case("langevin-chains-mixture-8-paths-at-poses-size", None, lib="kwargs",
         args={"method": "langevin", "prior": "mixture", "algorithm": "path-mcmc", "latent_shape": (64,), "paths": 8},
         needs="langevin"),
    # What auto runs for the fitted mixture (path-smc) does not fit: refused, saying why and what instead.
    Case("langevin-defaults-mixture-at-poses-size", r"langevin with a mixture prior runs path-smc \(algorithm auto: .*\) = "
         r"\d\.\de\+10 is about 1\d\d times this server's limit of 5e\+08: use ou with the fitted prior .* set algorithm "
         r"path-mcmc", lib="kwargs", args={"method": "langevin", "prior": "mixture", "latent_shape": (64,)},
         api=("/interpolate", {"method": "langevin", "prior": "mixture"}), needs="langevin",
         api_message=r"langevin with a mixture prior runs path-smc \(algorithm auto: .* times this server's limit"),
    # A mixture at SD latent size: each of 2,048 coordinate blocks re-evaluates the whole path.
    Case("langevin-work-mixture-at-sd-latent-size", r"Langevin work \(chains x rungs x sweeps x coordinate blocks x time "
         r"steps x latent size, LangevinBridge.work_units\) = .* lower sweeps, steps, blocks, rungs or paths, or use "
         r"ou with the fitted prior", lib="kwargs",
         args={"method": "langevin", "prior": "mixture", "algorithm": "path-mcmc", "latent_shape": (4, 32, 32)},
         needs="langevin"),
    # A parameter of the other algorithm would be ignored: refused.
    Case("langevin-particles-without-smc", r"particles is a parameter of algorithm 'smc'; with algorithm 'path-mcmc' "
         r"\(what 'auto' runs for a prior that is not a mixture\) it has no effect",
         args={"method": "langevin", "particles": 16}, needs="langevin"),
    Case("langevin-sweeps-with-a-mixture", r"sweeps is a parameter of algorithm 'path-mcmc'; with algorithm 'path-smc' "
         r"\(what 'auto' runs for a mixture prior of several components\) it has no effect: leave it out, or set "
         r"algorithm='path-mcmc'", args={"method": "langevin", "prior": "mixture", "sweeps": 50}, needs="langevin"),
    # Each path is its own particle system: the work counts the paths.
    # A step costs something with one particle too, and a mixture prior's components count.
    Case("langevin-work-counts-the-steps-and-the-prior", r"x prior factor x \(2 x max_particles x latent size \+ "
         r"25000 a step\) = 2000 x 21 x 1 x 3 \(the prior\) x \(2 x 64 \+ 25000\) = 3\.2e\+09", lib="kwargs",
         args={"method": "langevin", "algorithm": "smc", "particles": 1, "max_particles": 1, "steps": 2000, "pcn_moves": 20,
               "prior": "mixture", "components": 64, "latent_shape": (64,)}, needs="langevin"),
    Case("langevin-work-counts-the-paths", r"= 200 x 1 x 8 x \(4096 x 128 \+ 25000\) = 8\.8e\+08, above "
         r"this server's limit of 5e\+08: lower max_particles \(at most 1123 here\), paths", lib="kwargs",
         args={"method": "langevin", "algorithm": "smc", "steps": 200, "latent_shape": (128,), "paths": 8},
         needs="langevin"),
    # Models.
    Case("unknown-model", r"unknown model 'mnist': give one of digits", lib="load", args={"source": "mnist"},
         api=("/interpolate", {"model": "mnist"}), api_message=APP_MODELS),
    Case("hub-model-not-cached-offline", r"not in the local Hugging Face cache and HF_HUB_OFFLINE is set",
         lib="load", args={"source": NOT_CACHED}, api=("/interpolate", {"model": NOT_CACHED}),
         # the app checks a typed repo id on the Hub's file list first: offline, that is refused
         api_message=r"cannot check '[^']+': the Hub is switched off here \(HF_HUB_OFFLINE is set\)",
         cli=["interpolate", "good.png", "other.png", "--model", NOT_CACHED]),
    Case("hub-alias-not-cached-offline", r"model 'madebyollin/taesdxl' is not in the local Hugging Face cache "
         r"and HF_HUB_OFFLINE is set: connect to the internet and unset HF_HUB_OFFLINE, or download it "
         r"beforehand while connected with `hf download madebyollin/taesdxl`", lib="load",
         args={"source": "taesdxl", "cache": None}, api=("/interpolate", {"model": "taesdxl"}),
         needs="uncached:madebyollin/taesdxl"),
    Case("repo-id-path-traversal", r"not a valid Hub repo id: '\.\./\.\./etc'", lib="load",
         args={"source": "../../etc"}, api=("/random_walk", {"model": "../../etc"}), api_message=APP_MODELS),
    Case("repo-id-with-spaces", r"not a valid Hub repo id: 'some org/some vae'", lib="load",
         args={"source": "some org/some vae"}),
    Case("repo-id-url", r"give the Hub repo id \('org/name'\), not a URL", lib="load",
         args={"source": "https://huggingface.co/madebyollin/taesd"},
         cli=["interpolate", "good.png", "other.png", "--model", "https://huggingface.co/madebyollin/taesd"]),
    Case("repo-without-safetensors", r"has no safetensors weights .*found only diffusion_pytorch_model\.bin.*"
         r"never pickle", lib="load", args={"source": "latent-bridge-tests/pickled", "cache": "pickled"}),
    Case("config-of-unsupported-class", r"holds a UNet2DConditionModel; supported VAE classes are AutoencoderKL",
         lib="load", args={"source": "latent-bridge-tests/unet", "cache": "unet"}),
]
IDS = [case.id for case in CASES]
assert len(CASES) >= 25 and len(set(IDS)) == len(IDS)


def params(cases):
    return [pytest.param(c, id=c.id, marks=[pytest.mark.xfail(reason=c.xfail, strict=True)] if c.xfail else [])
            for c in cases]

HUB_REPOS = {
    "pickled": {"config.json": json.dumps({"_class_name": "AutoencoderKL"}).encode(),
                "diffusion_pytorch_model.bin": b"\x80\x04 pickled weights would run code when read"},
    "unet": {"config.json": json.dumps({"_class_name": "UNet2DConditionModel"}).encode(),
             "diffusion_pytorch_model.safetensors": b"{}"},
}


# ------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    return write_inputs(tmp_path_factory.mktemp("inputs"))


@pytest.fixture(scope="module")
def vae():
    return lb.models.load_cached(MODEL)


def requires(case: Case, api: bool = False):
    """Skip a case whose premise does not hold here: a sampler not registered yet, or (for the
    running app, which uses the default Hugging Face cache) a repo that is cached after all."""
    if not case.needs:
        return
    if case.needs.startswith("uncached:"):
        from huggingface_hub import try_to_load_from_cache

        repo = case.needs.removeprefix("uncached:")
        if api and isinstance(try_to_load_from_cache(repo, "config.json"), str):
            pytest.skip(f"{repo} is in this machine's Hugging Face cache")
    elif case.needs not in lb.registry.available():
        pytest.skip(f"the {case.needs!r} sampler is not registered yet")


@pytest.fixture(scope="module")
def client(app_server):
    """A gradio_client Client of the module's server. It stands for the catalogue's many
    visitors, all from one address: its uploads and results within a minute can pass one
    visitor's share of fresh files (``LIMITS.visitor_files``, kept for ``CacheIndex.own_age``),
    so this server's index gives that address ten shares (the share itself is tested in
    test_fair_server.py)."""
    pytest.importorskip("gradio_client")
    from gradio_client import Client

    index = upload_budget_layer(app_server[0]).index
    index.visitor_files *= 10
    yield Client(app_server[1], verbose=False, analytics_enabled=False)
    index.visitor_files //= 10


# ------------------------------------------------------------------------------------------
# The three ways in


def run_library(case: Case, inputs, vae, tmp_path):
    """Run ``case`` through the library; returns the result."""
    args = dict(case.args)
    if case.lib == "load":
        source = args.pop("source")
        if "cache" in args:  # a cache of our own: the named fake repo, or empty
            repo = args.pop("cache")
            cache = hub_cache(tmp_path / "hub", source, HUB_REPOS[repo]) if repo else tmp_path / "empty"
            return lb.models.load(source, cache_dir=cache)
        return lb.models.load(source, allow_local_folder=False)
    if case.lib == "kwargs":  # a method's parameters as the app reads them from a request
        from latent_bridge.app import controls

        method, latent_shape, paths = args.pop("method"), args.pop("latent_shape", None), args.pop("paths", 1)
        return controls.method_kwargs(method, args, latent_shape, paths=paths)
    if case.lib == "decode":  # the app's bound on decoding time
        from latent_bridge.app import costs

        return costs.check_decode_time(**args)
    if case.lib == "output":  # what the media writers can lay out
        return lb.media.check_output_size(**args)
    if case.lib in ("choice", "methods", "memory"):  # the app's reading of values sent to it
        from latent_bridge.app import costs, limits

        if case.lib == "choice":
            return limits.check_choice(**args)
        if case.lib == "methods":
            return limits.check_methods(args["value"], lb.registry.available())
        sampler = lb.registry.get("langevin", algorithm=args["algorithm"], particles=args["particles"],
                                  max_particles=args["max_particles"])
        return costs.check_sampler_memory(sampler, args["frames"], args["latent_shape"], args.get("paths", 1))
    if case.lib == "request":  # what a server accepts: the app's limits
        from latent_bridge.app import limits

        sizes = {"frames": SMALL["frames"], "paths": 1, **args}
        return limits.check_request(frames=sizes["frames"], paths=sizes["paths"], image_side=vae.image_size)
    method = args.pop("method", "linear")
    images = {key: inputs[args.pop(key, default)] for key, default in (("image_a", "good.png"),
                                                                        ("image_b", "other.png"))}
    run = dict(frames=args.pop("frames", 4), n_paths=args.pop("n_paths", 1), seed=args.pop("seed", 0))
    sampler = lb.registry.get(method, **args)
    return lb.interpolate(vae, images["image_a"], images["image_b"], sampler, **run)


def api_request(api_name: str, overrides: dict, examples: dict) -> dict:
    """A valid request to ``api_name`` with ``overrides``; image names refer to ``examples``."""
    from gradio_client import handle_file

    request = {"model": MODEL, "method": "ou", **SMALL}
    images = ["image"] if api_name == "/random_walk" else ["image_a", "image_b"]
    for key, default in zip(images, ("good.png", "other.png")):
        request[key] = handle_file(str(examples[overrides.get(key, default)]))
    if api_name == "/random_walk":
        request.update(method="gp", kernel="periodic", T=4.0, period=4.0)
    if api_name == "/compare":
        request["methods"] = ["linear", "ou"]
        del request["method"]
    request.update({k: v for k, v in overrides.items() if k not in images})
    request["t"] = request.pop("T")  # the API's name of T (gradio_client prints names in lower case)
    return request


def cli(*args, cwd, monkeypatch, capsys) -> tuple[int, str]:
    """Run the command line's ``main`` here, offline, in ``cwd``: (exit code, stderr). In this
    process, so the catalogue costs no interpreter start per case; tests/test_cli.py runs the
    same entry point in a subprocess, as a shell does."""
    import huggingface_hub.constants

    monkeypatch.chdir(cwd)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    if "--model" not in args:  # the catalogue's sizes are MODEL's; the default follows the machine's cache
        args = (*args, "--model", MODEL)
    capsys.readouterr()
    try:
        code = lb.cli.main([*map(str, args), "--quiet"])
    except SystemExit as exit_:  # argparse's own refusals
        code = exit_.code
    return code, capsys.readouterr().err


# ------------------------------------------------------------------------------------------
# Tests


@pytest.mark.parametrize("case", params(c for c in CASES if c.lib))
def test_library(case, inputs, vae, tmp_path):
    requires(case)
    if case.message is None:
        result = run_library(case, inputs, vae, tmp_path)
        if case.lib == "kwargs":  # the parameters pass, as given
            assert all(result[name] == value for name, value in case.args.items() if name in result)
            return
        if case.lib in ("output", "choice", "methods", "memory"):  # accepted: nothing raised
            return
        assert result.frames.shape[:2] == (1, 4) and result.frames.dtype == np.uint8
        return
    with pytest.raises(ValueError, match=case.message):
        run_library(case, inputs, vae, tmp_path)


@pytest.mark.parametrize("case", params(c for c in CASES if c.api))
def test_api_answers_with_our_message_then_keeps_serving(case, client, inputs):
    from gradio_client.exceptions import AppError

    requires(case, api=True)
    api_name, overrides = case.api
    request = api_request(api_name, overrides, inputs)
    if case.message is None:
        video, *_ = client.predict(**request, api_name=api_name)
        assert Path(video).stat().st_size > 0
        return
    with pytest.raises(AppError, match=case.api_message or case.message):
        client.predict(**request, api_name=api_name)
    # The server keeps serving: the next valid request succeeds.
    video, *_ = client.predict(**api_request("/interpolate", {}, inputs), api_name="/interpolate")
    assert Path(video).stat().st_size > 0


@pytest.mark.parametrize("case", params(c for c in CASES if c.cli))
def test_cli_exits_2_with_one_line(case, inputs, monkeypatch, capsys):
    requires(case)
    folder = next(iter(inputs.values())).parent  # image names are relative to the inputs folder
    code, stderr = cli(*case.cli, cwd=folder, monkeypatch=monkeypatch, capsys=capsys)
    assert code == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    assert lines[0].startswith("latent-bridge: error: ")
    assert re.search(case.message, lines[0]), lines[0]


EXTREME = [  # inside the allowed ranges, at the far ends of float64
    pytest.param("ou", {"T": 1e300}, id="ou-T-1e300"),
    pytest.param("ou", {"T": 1e-300}, id="ou-T-1e-300"),
    pytest.param("gp", {"beta": 1e300}, id="gp-beta-1e300"),
    pytest.param("gp", {"kernel": "periodic", "period": 1e-300}, id="gp-period-1e-300"),
    pytest.param("gp", {"kernel": "matern", "length_scale": 1e-300}, id="gp-matern-length-scale-1e-300"),
    pytest.param("gp", {"kernel": "periodic", "length_scale": 1e-300}, id="gp-periodic-length-scale-1e-300"),
    pytest.param("gp", {"kernel": "locally-periodic", "length_scale": 1e-300, "beta": 1e300},
                 id="gp-locally-periodic-1e-300-1e300"),
    pytest.param("gp", {"kernel": "matern", "nu": 1.5, "length_scale": 1e300}, id="gp-matern-length-scale-1e300"),
]


@pytest.mark.parametrize("method, values", EXTREME)
def test_extreme_allowed_values_give_finite_paths_or_a_value_error(method, values):
    # Anything but a ValueError reaches the app as a generic error and the CLI as a traceback.
    z0, z1 = torch.zeros(2), torch.ones(2)
    try:
        sampler = lb.registry.get(method, **values)
        paths = sampler.sample(z0, z1, frames=6, generator=torch.Generator().manual_seed(0))
    except ValueError as error:
        assert str(error)
        return
    assert torch.isfinite(paths).all()


def test_api_refuses_to_read_a_server_file(app_server):
    """A request naming a file on the server (not uploaded), or a URL on the server's own
    network, is refused before our code runs, and nothing of it comes back."""
    import httpx

    app, url = app_server
    # Server paths, and URLs the server would fetch itself (its own address, a cloud metadata one).
    for path in ("/etc/passwd", str(ROOT / "app.py"), "file:///etc/passwd", f"{url}gradio_api/file=/etc/passwd",
                 "http://169.254.169.254/latest/meta-data/"):
        data = [MODEL, {"path": path, "url": path, "meta": {"_type": "gradio.FileData"}}, None, "ou"]
        data += [SMALL[name] for name in ("T", "frames", "paths", "seed", "fps")]
        data += [controls.PARAMS[name].default for name in controls.ADVANCED]
        with httpx.Client(base_url=url, timeout=60) as http:
            posted = http.post("gradio_api/call/interpolate", json={"data": data})
            if path.startswith("http"):  # refused before Gradio reads the request (guards.EventBodies)
                assert posted.status_code == 400 and "not given as a URL" in posted.text, (path, posted.text)
                continue
            posted.raise_for_status()
            answer = http.get(f"gradio_api/call/interpolate/{posted.json()['event_id']}").text
        assert "event: error" in answer, (path, answer)
        # Refused by Gradio before our handler: had a file reached lb.data, its message would show.
        assert "could not read the image" not in answer and "upload an image" not in answer, (path, answer)
        assert "root:" not in answer and "import gradio" not in answer


def test_keyframes_api_refuses_a_gallery_naming_a_server_file(app_server, inputs):
    """A Keyframes gallery whose items name server files (not uploads) is refused by Gradio
    before our handler, as a single image is; the same request with uploaded files runs."""
    import httpx

    app, url = app_server

    def request(files):
        items = [{"image": {"path": f, "url": None, "meta": {"_type": "gradio.FileData"}}, "caption": None}
                 for f in files]
        data = [MODEL, items, "gp", 2.0, 6, 1, 0, 8] + [controls.PARAMS[name].default for name in controls.ADVANCED]
        return call_raw(url, "keyframes", data + [True, 0, "linear", 0, 256, False])

    with httpx.Client(base_url=url, timeout=60) as http:
        uploads = []
        for name in ("good.png", "other.png"):
            with open(inputs[name], "rb") as f:
                uploads.append(http.post("gradio_api/upload", files={"files": (name, f, "image/png")}).json()[0])
    assert "event: complete" in request(uploads)
    for path in ("/etc/passwd", str(ROOT / "app.py")):
        answer = request([uploads[0], path])
        assert "event: error" in answer, (path, answer[-300:])
        assert "could not read the image" not in answer and "upload an image" not in answer, (path, answer)
        assert "root:" not in answer and "import gradio" not in answer


def test_upload_over_the_size_limit_is_refused_by_the_server(app_server, tmp_path):
    """gradio_client checks max_file_size itself; a raw upload meets the server's own check:
    a file of exactly the limit is stored, one byte more is refused (HTTP 413)."""
    import httpx

    app, url = app_server
    limit = app.demo.max_file_size  # in bytes, as app.launch gave it to Gradio
    assert limit is not None, "app.launch set no upload limit"
    with httpx.Client(base_url=url, timeout=60) as http:
        for size, status in ((limit, 200), (limit + 1, 413)):
            big = tmp_path / f"{size}.png"
            big.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(size - 8))
            with big.open("rb") as f:
                answer = http.post("gradio_api/upload", files={"files": ("big.png", f, "image/png")})
            assert answer.status_code == status, (size, answer.status_code, answer.text[:300])


def test_api_refuses_a_file_route_outside_the_cache(app_server):
    """Gradio's file route serves only uploads and outputs: not the app's source, not /etc."""
    import httpx

    _, url = app_server
    with httpx.Client(base_url=url, timeout=30) as http:
        for path in ("/etc/passwd", str(ROOT / "app.py"), str(ROOT / "checkpoints" / MODEL / "config.json")):
            answer = http.get(f"gradio_api/file={path}")
            assert answer.status_code in (403, 404), (path, answer.status_code)


# ------------------------------------------------------------------------------------------
# Hostile clients: raw requests a browser never sends


def raw_get(url: str, path: str, read_seconds: float = 1.0) -> None:
    """GET ``path`` sent exactly as written (no normalisation of ``..``), read for a moment,
    then drop the connection (what a closed tab does to Gradio's heartbeat stream)."""
    import http.client
    from urllib.parse import urlparse

    parts = urlparse(url)
    # The answer's headers may take a while on a busy machine (a 1 s limit timed out there);
    # only the read of the stream is meant to be short.
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.putrequest("GET", path, skip_accept_encoding=True)
        connection.endheaders()
        response = connection.getresponse()
        connection.sock.settimeout(read_seconds)
        try:
            response.read(16)
        except (TimeoutError, OSError):
            pass
    finally:
        connection.close()


def call_raw(url: str, api_name: str, data: list, session_hash=None, timeout: float = 120) -> str:
    """POST /gradio_api/call/<api_name> with ``data`` (and a session hash of our choosing),
    then read the event stream to its end: the text of the stream."""
    import httpx

    body = {"data": data} if session_hash is None else {"data": data, "session_hash": session_hash}
    with httpx.Client(base_url=url, timeout=timeout) as http:
        posted = http.post(f"gradio_api/call/{api_name}", json=body)
        posted.raise_for_status()
        return http.get(f"gradio_api/call/{api_name}/{posted.json()['event_id']}").text


def raw_request(app, inputs, **overrides) -> list:
    """The positional data of a valid /interpolate request, files uploaded first."""
    from gradio_client import handle_file  # noqa: F401  (files go up through the upload route)
    import httpx

    url = overrides.pop("url")
    uploaded = []
    with httpx.Client(base_url=url, timeout=60) as http:
        for name in ("good.png", "other.png"):
            with open(inputs[name], "rb") as f:
                answer = http.post("gradio_api/upload", files={"files": (name, f, "image/png")})
            answer.raise_for_status()
            uploaded.append({"path": answer.json()[0], "meta": {"_type": "gradio.FileData"}})
    values = {"model": MODEL, "image_a": uploaded[0], "image_b": uploaded[1], "method": "ou", **SMALL,
              **{name: controls.PARAMS[name].default for name in controls.ADVANCED}}
    values.update(overrides)
    values = {"resolution": 256, "fast_preview": False, **values}
    names = ["model", "image_a", "image_b", "method"] + controls.MAIN + controls.ADVANCED + ["resolution", "fast_preview"]
    return [values[name] for name in names]


def files_under(folder: Path) -> set[Path]:
    return {p for p in Path(folder).rglob("*") if p.is_file()}


CRAFTED_SESSIONS = ["..", ".", "../..", "%2e%2e", "x/../..", ""]


def test_heartbeat_with_a_crafted_session_deletes_nobody_s_files(app_server, client, inputs):
    """Leaving the page runs the unload handler with the session hash from the heartbeat URL;
    whatever it is (each of ``CRAFTED_SESSIONS``), no folder but that session's own (named by
    the server) is removed."""
    import time

    app, url = app_server
    video, *_ = client.predict(**api_request("/interpolate", {}, inputs), api_name="/interpolate")
    root = handlers.outputs_root()
    before = files_under(root)
    assert Path(video).exists() and before
    for session in CRAFTED_SESSIONS:
        raw_get(url, f"/gradio_api/heartbeat/{session}")
    time.sleep(1.5)  # the unload handlers run in the background once the streams are dropped
    assert root.is_dir()
    assert before <= files_under(root), f"files of other sessions were deleted (one of {CRAFTED_SESSIONS})"
    for image in app_models.example_images(MODEL):  # the examples still work
        assert Path(image).is_file()


def test_output_urls_do_not_reveal_the_session_hash(client, inputs):
    """The folder in an output URL is a keyed hash: knowing it does not let anyone name the
    session in a heartbeat URL and have its files deleted."""
    job = client.submit(**api_request("/interpolate", {}, inputs), api_name="/interpolate")
    video, *_ = job.result()
    assert client.session_hash not in str(video)
    assert client.session_hash not in json.dumps(job.outputs(), default=str)


@pytest.mark.parametrize("session", ["/var/tmp/latent-bridge-attack", "../../latent-bridge-attack",
                                     "..", "a/../../../b", "x" * 5000])
def test_session_hash_never_becomes_a_folder(app_server, inputs, session, tmp_path):
    """A raw API call naming its own session hash: the outputs land in a server-named folder
    inside the app's folder, nothing is written where the hash points."""
    app, url = app_server
    answer = call_raw(url, "interpolate", raw_request(app, inputs, url=url), session_hash=session)
    assert "event: complete" in answer, answer[-500:]
    assert not Path("/var/tmp/latent-bridge-attack").exists()
    cache = Path(app.demo.GRADIO_CACHE)
    assert not (cache.parent / "latent-bridge-attack").exists() and not (cache / "b").exists()
    written = re.findall(r'"path": ?"([^"]+\.mp4)"', answer)
    assert written, answer[-500:]
    for path in written:
        assert Path(path).resolve().is_relative_to(handlers.outputs_root().resolve()), path


def test_session_folders_are_inside_the_root_and_distinct(tmp_path):
    from latent_bridge.app import storage

    names = ["..", ".", "", None, ["a"], {"b": 1}, "/etc", "a/b", "\x00", "é" * 100, "x" * 10_000]
    folders = [storage.session_folder(tmp_path, name) for name in names]
    for folder in folders:
        assert folder.parent == tmp_path.resolve() and len(folder.name) == 32
    # Different strings, different folders ("", None and non-strings all mean "no session").
    strings = [f for n, f in zip(names, folders) if isinstance(n, str) and n]
    assert len(set(strings)) == len(strings)
    with pytest.raises(ValueError, match="outside the app's own folder"):
        storage.inside(tmp_path, tmp_path / ".." / "x")
    with pytest.raises(ValueError, match="outside the app's own folder"):
        storage.inside(tmp_path, tmp_path)
    link = tmp_path / "link"
    link.symlink_to("/etc")
    with pytest.raises(ValueError, match="outside the app's own folder"):
        storage.inside(tmp_path, link / "passwd")


def ui_events(url: str) -> list[tuple[int, dict]]:
    """(fn_index, dependency) of every unqueued event of the page (the private UI events)."""
    import httpx

    config = httpx.get(url + "config", timeout=30).json()
    return [(i, d) for i, d in enumerate(config["dependencies"]) if d.get("queue") is False]


HOSTILE_VALUES = [["ou", 10**7], ["gp", 8000], [{"a": 1}, "zz"], [["linear", "ou"], -5], [None, None],
                  [999999, "nan"], ["x" * 10_000, 1e308], [True, [1, 2]]]


def test_private_ui_events_bound_their_work_and_never_answer_500(app_server):
    """Every unqueued event, sent what no browser would (10^7 frames, dicts, lists, huge
    strings, a bad example index): 200 within a second, the server's memory unchanged."""
    import time

    import httpx
    import psutil

    app, url = app_server
    process = psutil.Process()
    rss = process.memory_info().rss
    events = ui_events(url)
    assert len(events) >= 10
    with httpx.Client(base_url=url, timeout=60) as http:
        for index, dependency in events:
            width = len(dependency["inputs"])
            for values in HOSTILE_VALUES:
                data = (values * width)[:width]
                body = json.dumps({"fn_index": index, "data": data, "session_hash": "hostile"})
                start = time.perf_counter()
                answer = http.post("gradio_api/run/predict", content=body,
                                   headers={"content-type": "application/json"})
                took = time.perf_counter() - start
                # Above the size of any page's request, the body is refused before Gradio reads it.
                expected = 413 if len(body) > limits.LIMITS.event_request_bytes else 200
                assert answer.status_code == expected, (dependency.get("api_name"), data, answer.text[:300])
                assert took < 5, (dependency.get("api_name"), data, took)
    assert process.memory_info().rss - rss < 200 * 2**20
    # The live line says what is wrong with too many frames instead of computing.
    line = controls.smoothness_line(["ou"], {"T": 1.0}, 10**7)
    assert "frames must be at most 240 on this server" in line


def test_event_bodies_are_bounded_and_name_no_url_or_file(app_server, inputs):
    """A file given by URL would be downloaded by Gradio itself (no size or time bound, outside
    the upload budget), a huge body kept in memory per session, a multipart body taken by a
    recording route: each is refused before Gradio reads it, and the next request works."""
    import httpx

    app, url = app_server
    data = raw_request(app, inputs, url=url)
    limit = limits.LIMITS.event_request_bytes
    with httpx.Client(base_url=url, timeout=60) as http:
        for address in ("http://127.0.0.1:9/big.bin", " HTTPS://example.org/x.png"):
            hostile = [data[0], {"path": address, "meta": {"_type": "gradio.FileData"}}] + data[2:]
            for route in ("gradio_api/call/interpolate", "gradio_api/queue/join"):
                answer = http.post(route, json={"data": hostile, "fn_index": 0, "session_hash": "h"})
                assert answer.status_code == 400 and "uploaded, not given as a URL" in answer.text
        answer = http.post("gradio_api/call/interpolate", json={"data": data[:-1] + ["x" * (2 * limit)]})
        assert answer.status_code == 413 and "at most 64 KB" in answer.text
        answer = http.post("gradio_api/process_recording", files={"files": ("a.webm", b"0" * 1000, "video/webm")})
        assert answer.status_code == 415
    assert "event: complete" in call_raw(url, "interpolate", data)
    assert guards.names_a_url(b'{"data": [[{"a": {"path": "http://x"}}]]}')
    assert not guards.names_a_url(b'{"data": [{"path": "/tmp/gradio/x.png"}, "http://x"]}')
    assert not guards.names_a_url(b"[" * 100_000)  # not JSON (too deep): Gradio refuses it


def test_a_render_whose_client_left_stops_at_the_next_chunk(app_server, inputs, monkeypatch):
    """A client that drops its event stream mid-render: the render stops at its next progress
    report (a decoded chunk) instead of holding the only worker, and writes no files. The
    render is a stand-in of 40 chunks of 0.1 s, so the test does not depend on machine speed."""
    import threading
    import time

    import httpx

    app, url = app_server
    chunks, finished = [], threading.Event()

    def slow_render(job, vae, progress):
        try:
            for done in range(40):
                time.sleep(0.1)
                chunks.append(done)
                progress(done + 1, 40, "decoding")
            raise AssertionError("the render ran to its end for a client that had left")
        finally:
            finished.set()

    monkeypatch.setattr(jobs, "render", slow_render)
    before = files_under(handlers.outputs_root())
    data = raw_request(app, inputs, url=url)
    with httpx.Client(base_url=url, timeout=30) as http:
        event = http.post("gradio_api/call/interpolate", json={"data": data}).json()["event_id"]
        with http.stream("GET", f"gradio_api/call/interpolate/{event}"):
            deadline = time.monotonic() + 20
            while len(chunks) < 3 and time.monotonic() < deadline:
                time.sleep(0.02)
            # the client leaves: the stream is closed here, three chunks into the render
    assert finished.wait(30), "the abandoned render is still running"
    assert len(chunks) < 20, f"{len(chunks)} of 40 chunks ran after the client left"
    assert not files_under(handlers.outputs_root()) - before  # nothing new (other servers share the folder)
    monkeypatch.undo()
    from gradio_client import Client

    video, *_ = Client(url, verbose=False).predict(**api_request("/interpolate", {}, inputs), api_name="/interpolate")
    assert Path(video).stat().st_size > 0


def test_leaving_the_page_removes_that_visitor_s_files(app_server, inputs):
    """The mechanism the crafted heartbeats above must not abuse: a visitor's own folder goes
    when its heartbeat stream ends."""
    import time

    from gradio_client import Client

    app, url = app_server
    visitor = Client(url, verbose=False)
    video, *_ = visitor.predict(**api_request("/interpolate", {}, inputs), api_name="/interpolate")
    assert Path(video).exists()
    folder = storage.session_folder(handlers.outputs_root(), visitor.session_hash)
    assert folder.is_dir() and any(folder.rglob("*.mp4"))
    raw_get(url, f"/gradio_api/heartbeat/{visitor.session_hash}")
    for _ in range(50):
        if not folder.exists():
            break
        time.sleep(0.1)
    assert not folder.exists()


def test_every_accepted_seed_gives_its_own_paths():
    """Seeds that agree in their low 32 bits were once the same draw; now the range is 32 bits
    and each accepted seed differs: 0, 1, 2**31 and 2**32 - 1 all give distinct paths."""
    sampler = lb.registry.get("ou", T=1.0)
    z0, z1 = torch.zeros(16), torch.ones(16)
    draws = []
    for seed in (0, 1, 2**31, 2**32 - 1):
        generator = torch.Generator().manual_seed(lb.pipeline.check_seed(seed))
        draws.append(sampler.sample(z0, z1, frames=6, generator=generator))
    for i in range(len(draws)):
        for j in range(i):
            assert not torch.equal(draws[i], draws[j])
    for bad in (2**32, 2**53 + 1, -1, 1.5, "12a", True, None, [1]):
        with pytest.raises(ValueError, match=r"seed must be a whole number from 0 to 4294967295"):
            lb.pipeline.check_seed(bad)
    assert lb.pipeline.check_seed("4294967295") == 2**32 - 1 and lb.pipeline.check_seed(7.0) == 7


def test_the_cache_stays_within_its_disk_budget(tmp_path):
    """CacheIndex: its first reservation walks the cache (empty folders older than a minute go);
    over budget, the oldest files go first, never fresh ones nor the kept (example) files."""
    import time

    now = time.time()
    old, fresh, kept = tmp_path / "a" / "old.bin", tmp_path / "b" / "fresh.bin", tmp_path / "c" / "example.png"
    for path, age in ((old, 7200), (fresh, 5), (kept, 7200)):
        path.parent.mkdir()
        path.write_bytes(bytes(1000))
        os.utime(path, (now - age, now - age))
    empty = tmp_path / "empty"
    empty.mkdir()
    os.utime(empty, (now - 120, now - 120))
    index = cache.CacheIndex(lambda: tmp_path, budget=3500, most_files=100, visitor_bytes=10**6,
                             visitor_files=100, keep=lambda: {str(kept)})
    index.release(index.reserve("a visitor", 500, 1))
    assert index.usage() == (3000, 3) and not empty.exists()
    index.reserve("a visitor", 1000, 1)
    assert index.usage() == (3000, 3)
    assert not old.exists() and fresh.exists() and kept.exists()
    with pytest.raises(cache.Refused) as refused:
        index.reserve("a visitor", 1000, 1)
    assert refused.value.status == 507


def test_uploads_are_bounded_in_size_and_in_total(app_server, tmp_path, monkeypatch):
    """In front of Gradio's upload route: a request must state its size, one request carries at
    most 80 MB, and the cache as a whole stays within its budget (HTTP 507 past it)."""
    import http.client
    from urllib.parse import urlparse

    import httpx

    app, url = app_server
    parts = urlparse(url)

    def announced(headers: dict) -> tuple[int, str]:
        """Status and text of an upload that announces itself with ``headers`` (no body sent)."""
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        try:
            connection.putrequest("POST", "/gradio_api/upload")
            for name, value in {"Content-Type": "multipart/form-data; boundary=x", **headers}.items():
                connection.putheader(name, value)
            connection.endheaders()
            response = connection.getresponse()
            return response.status, response.read().decode()
        finally:
            connection.close()

    assert announced({"Transfer-Encoding": "chunked"})[0] == 411
    status, text = announced({"Content-Length": str(100 * 2**20)})
    assert status == 413 and "at most 84 MB" in text
    with httpx.Client(base_url=url, timeout=30) as http_client:
        # A full cache of fresh files (none old enough to evict): uploads are refused with a
        # message. The middleware's index covers a folder of our own here, holding one fresh file.
        middleware = upload_budget_layer(app)
        full = tmp_path / "cache"
        full.mkdir()
        (full / "fresh.bin").write_bytes(bytes(5000))
        monkeypatch.setattr(middleware, "index", cache.CacheIndex(lambda: full, budget=5100, most_files=100,
                                                                  visitor_bytes=10**6, visitor_files=100))
        small = tmp_path / "small.png"
        Image.fromarray(noise()).save(small)
        with small.open("rb") as f:
            answer = http_client.post("gradio_api/upload", files={"files": ("small.png", f, "image/png")})
        assert answer.status_code == 507 and "upload space is full" in answer.text
        monkeypatch.undo()
        with small.open("rb") as f:
            answer = http_client.post("gradio_api/upload", files={"files": ("small.png", f, "image/png")})
        assert answer.status_code == 200


def upload_budget_layer(app):
    """The running server's UploadBudget middleware."""
    layer = app.demo.server_app.middleware_stack
    while layer is not None and not isinstance(layer, guards.UploadBudget):
        layer = getattr(layer, "app", None)
    assert layer is not None, "UploadBudget is not in front of the app"
    return layer
