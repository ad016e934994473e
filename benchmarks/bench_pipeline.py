"""Pipeline overhead and streaming memory.

    python benchmarks/bench_pipeline.py

1. End-to-end ``lb.interpolate`` time over decode-only time for the same frames (every frame's
   latent through ``vae.decode`` in the pipeline's chunk size; target <= 1.10), for the embedded
   ``digits`` model and for Stable Diffusion's KL-VAE architecture at 256 px (random weights:
   decoding costs the same as with trained ones, and nothing is downloaded).
2. Peak resident memory of a streamed run (``keep_frames=False``, ``iter_frames`` into a sink
   that keeps nothing) for a short and a 10x longer video, each in a fresh subprocess
   (target: long / short <= 1.2).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import torch

import latent_bridge as lb
from latent_bridge import pipeline


def load(model: str):
    if model == "digits":
        return lb.models.load("digits")
    from bench_models import sd_kl_vae  # beside this file

    from latent_bridge.models.hub import HubVAE

    torch.manual_seed(0)
    return HubVAE(sd_kl_vae(), name="sd-kl-random", description="SD KL architecture, random weights",
                  image_size=256)


def endpoints(vae) -> tuple[torch.Tensor, torch.Tensor]:
    """Two images at the model's size: its examples, or seeded noise for the random model."""
    shipped = vae.example_images()
    if len(shipped) >= 2:
        return shipped[0], shipped[1]
    g = torch.Generator().manual_seed(0)
    shape = (vae.channels, vae.image_size, vae.image_size)
    return torch.rand(shape, generator=g), torch.rand(shape, generator=g)


def decode_only(vae, latents: torch.Tensor) -> float:
    """Seconds to decode every frame of ``latents`` (n_paths, frames, ...) to uint8, time-major,
    in the pipeline's chunk size."""
    flat = latents.transpose(0, 1).reshape(-1, *latents.shape[2:])
    chunk = max(1, pipeline.chunk_size_for(vae) // latents.shape[0]) * latents.shape[0]
    start = time.perf_counter()
    for _ in pipeline.decode_frames(vae, flat, chunk):
        pass
    return time.perf_counter() - start


def overhead(model: str, frames: int, n_paths: int, repeats: int) -> dict:
    vae = load(model)
    a, b = endpoints(vae)
    sampler = lb.bridges.get("ou")
    lb.interpolate(vae, a, b, sampler, frames=3, n_paths=1)  # warm-up
    ends, decodes = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        result = lb.interpolate(vae, a, b, sampler, frames=frames, n_paths=n_paths, seed=0)
        ends.append(time.perf_counter() - start)
        decodes.append(decode_only(vae, result.latents))
    e2e, dec = statistics.median(ends), statistics.median(decodes)
    return {"model": model, "frames": frames, "paths": n_paths, "end_to_end_s": e2e,
            "decode_only_s": dec, "ratio": e2e / dec}


def peak_rss_worker(model: str, frames: int, n_paths: int) -> None:
    """Run one streamed interpolation and print its peak RSS (MiB) as JSON."""
    vae = load(model)
    a, b = endpoints(vae)
    result = lb.interpolate(vae, a, b, lb.bridges.get("ou"), frames=frames, n_paths=n_paths,
                            keep_frames=False)
    checksum = 0
    for chunk in result.iter_frames():
        checksum += int(chunk[..., 0].sum())  # a sink that keeps nothing
    # VmHWM, not ru_maxrss: a forked child's ru_maxrss starts from its parent's peak.
    status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
    peak = int(status["VmHWM"].split()[0]) / 1024  # kB
    print(json.dumps({"peak_rss_mib": peak, "checksum": checksum}))


def peak_rss(model: str, frames: int, n_paths: int) -> float:
    out = subprocess.run([sys.executable, __file__, "--worker", model, str(frames), str(n_paths)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["peak_rss_mib"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", nargs=3, metavar=("MODEL", "FRAMES", "PATHS"), help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory-only", action="store_true", help="skip the timing table")
    args = parser.parse_args()
    if args.worker:
        model, frames, paths = args.worker
        return peak_rss_worker(model, int(frames), int(paths))

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")
    timings = () if args.memory_only else (("digits", 48, 4, args.repeats),
                                           ("digits", 480, 4, args.repeats), ("sd-kl-256", 8, 1, 1))
    if timings:
        print("\nend-to-end / decode-only (median of", args.repeats, "runs)")
        print(f"{'model':14s} {'frames':>6s} {'paths':>5s} {'e2e s':>8s} {'decode s':>9s} {'ratio':>6s}")
    for model, frames, paths, repeats in timings:
        row = overhead(model, frames, paths, repeats)
        print(f"{model:14s} {frames:6d} {paths:5d} {row['end_to_end_s']:8.3f} "
              f"{row['decode_only_s']:9.3f} {row['ratio']:6.2f}")

    print("\npeak RSS (VmHWM) of a streamed run (keep_frames=False, iter_frames into a sink), fresh process each")
    print(f"{'model':14s} {'paths':>5s} {'short':>12s} {'long':>12s} {'long/short':>10s}")
    for model, short, long, paths in (("digits", 48, 480, 4), ("sd-kl-256", 4, 40, 1)):
        small, big = peak_rss(model, short, paths), peak_rss(model, long, paths)
        print(f"{model:14s} {paths:5d} {short:4d}: {small:5.0f} MiB {long:4d}: {big:5.0f} MiB {big / small:10.2f}")
    kept = 480 * 4 * 32 * 32 * 3 / 2**20
    print(f"(for scale: 480 kept digits frames x 4 paths are {kept:.1f} MiB; 40 SD frames at 256 px "
          f"{40 * 256 * 256 * 3 / 2**20:.1f} MiB)")
    return None


if __name__ == "__main__":
    main()
