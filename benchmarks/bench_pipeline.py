"""Pipeline overhead, streaming memory and video-writing speed.

    python benchmarks/bench_pipeline.py            # everything (about 6 minutes on 2 CPU cores)
    python benchmarks/bench_pipeline.py --quick    # poses only

1. End-to-end ``lb.interpolate`` time over decode-only time for the same frames (every frame's
   latent through ``vae.decode`` in the pipeline's chunk size; target <= 1.10), for the embedded
   ``poses`` model (64 px, 64-D latent) and for Stable Diffusion's KL-VAE architecture at 256 px
   (diffusers ``AutoencoderKL`` with the sd-vae-ft-mse config and random weights, wrapped by
   ``lb.models.hub.HubVAE``: decoding costs the same as with trained weights, and nothing is
   downloaded). End to end includes encoding both images, sampling and every path metric.
2. Peak resident memory (VmHWM) of a streamed run written to an mp4 (``keep_frames=False``,
   ``write_video(result.iter_frames())``) for a short and a 10x longer video, each in a fresh
   process (target: long / short <= 1.2). Also the growth over the process's resident memory
   once the model is loaded, which shows what the run itself holds.
3. Frames per second of ``write_video`` (H.264) and ``write_gif`` on frames already decoded.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]  # run from a checkout: `python benchmarks/bench_pipeline.py`

import latent_bridge as lb  # noqa: E402
from latent_bridge import pipeline  # noqa: E402

SD = "sd-kl-256"


def load(model: str):
    if model != SD:
        return lb.models.load(model)
    from bench_models import sd_kl_vae

    from latent_bridge.models.hub import HubVAE

    torch.manual_seed(0)  # the random weights
    return HubVAE(sd_kl_vae(), name=SD, description="SD KL architecture, random weights", image_size=256)


def endpoints(vae) -> tuple:
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


def streamed(vae, a, b, sampler, frames: int, n_paths: int) -> None:
    """The streaming route: nothing kept, every frame decoded once through iter_frames."""
    result = lb.interpolate(vae, a, b, sampler, frames=frames, n_paths=n_paths, seed=0, keep_frames=False)
    for _ in result.iter_frames():
        pass


def overhead(vae, frames: int, n_paths: int, repeats: int):
    """Median seconds of (in memory, streamed, decode only) and the in-memory result."""
    a, b = endpoints(vae)
    sampler = lb.registry.get("ou")
    lb.interpolate(vae, a, b, sampler, frames=3, n_paths=1)  # warm-up
    kept, streams, decodes, result = [], [], [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = lb.interpolate(vae, a, b, sampler, frames=frames, n_paths=n_paths, seed=0)
        kept.append(time.perf_counter() - start)
        start = time.perf_counter()
        streamed(vae, a, b, sampler, frames, n_paths)
        streams.append(time.perf_counter() - start)
        decodes.append(decode_only(vae, result.latents))
    return statistics.median(kept), statistics.median(streams), statistics.median(decodes), result


def _status_kib(key: str) -> int:
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def peak_rss_worker(model: str, frames: int, n_paths: int) -> None:
    """One streamed interpolation written to an mp4; prints RSS figures (MiB) as JSON."""
    vae = load(model)
    a, b = endpoints(vae)
    lb.interpolate(vae, a, b, lb.registry.get("ou"), frames=3)  # warm-up: allocator, kernels
    baseline = _status_kib("VmRSS") / 1024
    result = lb.interpolate(vae, a, b, lb.registry.get("ou"), frames=frames, n_paths=n_paths,
                            keep_frames=False)
    with tempfile.TemporaryDirectory() as folder:
        lb.media.write_video(result.iter_frames(), Path(folder) / "stream.mp4")
    # VmHWM, not ru_maxrss: a child's ru_maxrss starts from its parent's peak.
    peak = _status_kib("VmHWM") / 1024
    print(json.dumps({"baseline_mib": baseline, "peak_mib": peak}))


def peak_rss(model: str, frames: int, n_paths: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--worker", model, str(frames), str(n_paths)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def writing_speed(result, repeats: int = 3) -> tuple[float, float]:
    """Median frames (of the result, all paths side by side) per second for mp4 and GIF."""
    speeds = {"mp4": [], "gif": []}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(repeats):
            for kind, write in (("mp4", lb.media.write_video), ("gif", lb.media.write_gif)):
                start = time.perf_counter()
                write(result, Path(folder) / f"out.{kind}")
                written = result.n_frames if kind == "mp4" else min(result.n_frames, lb.media.GIF_MAX_FRAMES)
                speeds[kind].append(written / (time.perf_counter() - start))
    return statistics.median(speeds["mp4"]), statistics.median(speeds["gif"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", nargs=3, metavar=("MODEL", "FRAMES", "PATHS"), help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="the poses model only")
    args = parser.parse_args()
    if args.worker:
        model, frames, paths = args.worker
        return peak_rss_worker(model, int(frames), int(paths))

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")
    # The SD KL decoder takes ~2 s per 256-px frame here: fewer frames, one repeat.
    runs = [("poses", 48, 4, args.repeats), ("poses", 480, 4, args.repeats)]
    if not args.quick:
        runs.append((SD, 24, 1, 1))
    print(f"\nend-to-end / decode-only (median of runs; {args.repeats} for poses). in memory: "
          "interpolate() with every metric, SSIM of each adjacent pair included; streamed: "
          "keep_frames=False + iter_frames (no SSIM)")
    print(f"{'model':10s} {'frames':>6s} {'paths':>5s} {'decode s':>9s} {'in-mem s':>9s} {'ratio':>6s} "
          f"{'stream s':>9s} {'ratio':>6s}")
    kept = {}
    for model, frames, paths, repeats in runs:
        vae = load(model)
        memory, stream, dec, kept[model, frames] = overhead(vae, frames, paths, repeats)
        print(f"{model:10s} {frames:6d} {paths:5d} {dec:9.3f} {memory:9.3f} {memory / dec:6.2f} "
              f"{stream:9.3f} {stream / dec:6.2f}")

    print("\npeak RSS of a streamed run written to mp4 (keep_frames=False), fresh process each")
    print(f"{'model':10s} {'paths':>5s} {'frames':>11s} {'peak MiB':>17s} {'ratio':>6s} "
          f"{'growth MiB':>15s}")
    memory_runs = [("poses", 48, 480, 4)] + ([] if args.quick else [(SD, 8, 80, 1)])
    for model, short, long, paths in memory_runs:
        small, big = peak_rss(model, short, paths), peak_rss(model, long, paths)
        grow_small = small["peak_mib"] - small["baseline_mib"]
        grow_big = big["peak_mib"] - big["baseline_mib"]
        print(f"{model:10s} {paths:5d} {short:4d} / {long:4d} {small['peak_mib']:7.0f} / "
              f"{big['peak_mib']:7.0f} {big['peak_mib'] / small['peak_mib']:6.2f} "
              f"{grow_small:6.0f} / {grow_big:6.0f}")
    print(f"(for scale: 480 poses frames x 4 paths kept as uint8 RGB are "
          f"{480 * 4 * 64 * 64 * 3 / 2**20:.0f} MiB; 80 SD frames at 256 px {80 * 256 * 256 * 3 / 2**20:.0f} MiB)")

    print("\nwriting decoded frames (frames per second of the result, paths side by side)")
    print(f"{'model':10s} {'paths':>5s} {'frames':>6s} {'video size':>11s} {'mp4 fps':>8s} {'gif fps':>8s}")
    for (model, frames), result in kept.items():
        if model == "poses" and frames != 480:
            continue
        mp4, gif = writing_speed(result)
        width = result.n_paths * 256 + (result.n_paths - 1) * lb.media.GAP
        print(f"{model:10s} {result.n_paths:5d} {frames:6d} {f'{width}x256':>11s} {mp4:8.0f} {gif:8.0f}")
    return None


if __name__ == "__main__":
    main()
