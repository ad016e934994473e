"""Keyframes: what a loop through 8 keys at 64 frames per segment costs.

    python benchmarks/bench_keyframes.py [--repeats 5] [--paths 4] [--threads 1] [--only sampling,pipeline]

1. ``sample_through`` for every sampler: 8 keys in a loop, 64 frames per segment (8 segments,
   505 frames), 4 paths, at the poses latent size (n = 64) and at an SD latent (4 x 64 x 64 =
   16384 numbers; the SDE samplers only at n = 64), median wall time, against the same
   keys as 8 separate two-point ``sample`` calls (what chaining pairwise bridges costs) and
   ``torch.randn`` of the output's size.
2. ``lb.keyframes`` end to end on the poses model (8 images: its 6 examples and 2 of them
   mirrored; encode, sample, decode 4 x 505 frames, every metric) and writing the mp4.

How smooth the paths are through the keys (the velocity jump, joint against chained) is
measured by ``python -m latent_bridge.reproduce --only keyframes`` (docs/reproduction.md, 8).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image, ImageOps

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]  # run from a checkout: `python benchmarks/bench_keyframes.py`

import latent_bridge as lb  # noqa: E402

KEYS, FRAMES_PER_SEGMENT = 8, 64
SAMPLERS = [
    ("linear", {}),
    ("slerp", {}),
    ("ou", {}),
    ("gp", {}),  # squared exponential, T = 2
    ("gp", {"kernel": "periodic", "length_scale": 0.7, "period": 2.0 * KEYS}),  # closes the loop by itself
    ("gp", {"kernel": "matern", "nu": 2.5}),
    ("ou-sde", {}),
    ("langevin", {}),
]


def median_seconds(fn, repeats: int) -> float:
    return interleaved_medians([fn], repeats)[0]


def interleaved_medians(fns, repeats: int) -> list[float]:
    """Median wall time of each of ``fns``, run in turn (after one warm-up each) so that load from
    other processes on a shared machine hits them alike."""
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, acc in zip(fns, times):
            start = time.perf_counter()
            fn()
            acc.append(time.perf_counter() - start)
    return [statistics.median(acc) for acc in times]


def label(name: str, params: dict) -> str:
    return name + (f" ({params['kernel']})" if "kernel" in params else "")


def sampling_table(n: int, paths: int, repeats: int) -> None:
    g = torch.Generator().manual_seed(0)
    keys = torch.randn(KEYS, n, generator=g)
    frames = KEYS * (FRAMES_PER_SEGMENT - 1) + 1
    print(f"\n{KEYS} keys in a loop, {FRAMES_PER_SEGMENT} frames per segment ({frames} frames), {paths} paths, "
          f"n = {n}, torch threads = {torch.get_num_threads()}")
    print("first: a fresh sampler (a GP bridge factorises the covariance of all frames); again: the same "
          "sampler (factorisation kept); 8 pairs: eight two-point sample() calls")
    print(f"{'sampler':<22} {'first ms':>9} {'again ms':>9} {'8 pairs ms':>11} {'randn ms':>9} {'again/randn':>12}")
    chain = torch.cat([keys, keys[:1]])
    for name, params in SAMPLERS:
        if name in ("ou-sde", "langevin") and n > 64:  # linear in n: tens of seconds here
            continue
        sampler = lb.registry.get(name, **params)
        first, through, pairs, floor = interleaved_medians([
            lambda: lb.registry.get(name, **params).sample_through(keys, FRAMES_PER_SEGMENT, paths, g, loop=True),
            lambda: sampler.sample_through(keys, FRAMES_PER_SEGMENT, paths, g, loop=True),
            lambda: [sampler.sample(chain[j], chain[j + 1], FRAMES_PER_SEGMENT, paths, g) for j in range(KEYS)],
            lambda: torch.randn((paths, frames, n), generator=g),
        ], repeats)
        print(f"{label(name, params):<22} {first * 1e3:>9.1f} {through * 1e3:>9.1f} {pairs * 1e3:>11.1f} "
              f"{floor * 1e3:>9.1f} {through / floor:>12.1f}")


def pipeline_table(paths: int, repeats: int) -> None:
    vae = lb.models.load("poses")
    examples = [Image.open(p).convert("L") for p in vae.example_images()]
    images = examples + [ImageOps.mirror(examples[0]), ImageOps.mirror(examples[1])]
    frames = KEYS * (FRAMES_PER_SEGMENT - 1) + 1
    print(f"\nlb.keyframes on poses: {KEYS} images in a loop, {FRAMES_PER_SEGMENT} frames per segment "
          f"({frames} frames), {paths} paths; then write_video")
    print(f"{'sampler':<22} {'keyframes s':>12} {'mp4 s':>7}")
    folder = Path(tempfile.mkdtemp())
    for name, params in (("gp", {}), ("ou", {}), ("slerp", {})):
        sampler = lb.registry.get(name, **params)
        result = None

        def run():
            nonlocal result
            result = lb.keyframes(vae, images, sampler, frames_per_segment=FRAMES_PER_SEGMENT, n_paths=paths,
                                  loop=True, seed=0)

        seconds = median_seconds(run, repeats)
        video = median_seconds(lambda: lb.media.write_video(result, folder / "keys.mp4", fps=24), repeats)
        print(f"{label(name, params):<22} {seconds:>12.2f} {video:>7.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--paths", type=int, default=4)
    parser.add_argument("--only", default="sampling,pipeline", help="the tables to print")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (one: on a shared machine a multi-threaded eigh slows 10-50x)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tables = set(args.only.split(","))
    if "sampling" in tables:
        for n in (64, 16384):
            sampling_table(n, args.paths, args.repeats)
    if "pipeline" in tables:
        pipeline_table(args.paths, max(1, args.repeats // 2))



if __name__ == "__main__":
    main()
