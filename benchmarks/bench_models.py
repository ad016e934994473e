"""Decode time per frame: Stable Diffusion's KL-VAE vs TAESD, and our embedded VAEs.

    python benchmarks/bench_models.py                  # CPU, 256 and 512 px
    python benchmarks/bench_models.py --device cuda --dtype float16

The SD KL-VAE and TAESD are built from their default diffusers configs with random weights:
decoding costs the same as with trained ones, and nothing is downloaded. Our embedded models
(latent_bridge/checkpoints/) are timed at their own image size when their checkpoints exist.
Prints a table of medians and the KL/TAESD ratio per size.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from diffusers import AutoencoderKL, AutoencoderTiny

import latent_bridge as lb
from latent_bridge.models.hub import HubVAE


def sd_kl_vae() -> AutoencoderKL:
    """The Stable Diffusion 1.x/2.x VAE architecture (stabilityai/sd-vae-ft-mse's config)."""
    return AutoencoderKL(
        block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, layers_per_block=2, latent_channels=4, sample_size=256,
    )


def time_decode(vae, batch: int, repeats: int) -> float:
    """Median seconds per frame of vae.decode on a batch of prior draws (after one warm-up call)."""
    z = torch.randn(batch, *vae.latent_shape, generator=torch.Generator().manual_seed(0))
    vae.decode(z[:1])
    seconds = []
    for _ in range(repeats):
        if vae.device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        vae.decode(z)
        if vae.device.type == "cuda":
            torch.cuda.synchronize()
        seconds.append((time.perf_counter() - start) / batch)
    return statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    args = parser.parse_args()
    dtype = getattr(torch, args.dtype)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, {args.dtype}")

    rows, per_frame = [], {}
    hub_models = {"sd-kl-vae": sd_kl_vae(), "taesd": AutoencoderTiny()}
    for size in args.sizes:
        for name, model in hub_models.items():
            # Casting float32 to float32 makes diffusers warn: cast only when asked for another dtype.
            model = model.to(args.device) if dtype == torch.float32 else model.to(args.device, dtype)
            vae = HubVAE(model, name=name, description="", image_size=size)
            # The KL decoder takes seconds per frame on a CPU: one frame per call keeps the run short.
            batch = 1 if name == "sd-kl-vae" and args.device == "cpu" else 4
            per_frame[name, size] = time_decode(vae, batch, args.repeats)
            rows.append((name, size, vae.latent_shape, sum(p.numel() for p in model.parameters()),
                         per_frame[name, size]))
    for name, _, _ in lb.models.available()[:3]:
        try:
            vae = lb.models.load(name, device=args.device)
        except ValueError as error:  # checkpoint not trained yet
            print(f"skipping {name}: {error}")
            continue
        params = sum(p.numel() for p in vae.parameters())
        rows.append((name, vae.image_size, vae.latent_shape, params, time_decode(vae, 16, args.repeats)))

    print(f"\n| model | image px | latent shape | params | ms / frame | frames / s |\n|---|---|---|---|---|---|")
    for name, size, shape, params, seconds in rows:
        shape_text = "x".join(map(str, shape))
        print(f"| {name} | {size} | {shape_text} | {params / 1e6:.2f} M | {seconds * 1e3:.1f} | {1 / seconds:.1f} |")
    print()
    for size in args.sizes:
        ratio = per_frame["sd-kl-vae", size] / per_frame["taesd", size]
        print(f"TAESD decodes {ratio:.1f}x faster than the SD KL-VAE at {size} px")


if __name__ == "__main__":
    main()
