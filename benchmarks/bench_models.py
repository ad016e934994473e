"""Encode and decode time per frame of the Hub VAE architectures in each precision, and the error
each precision costs; our embedded VAEs beside them.

    python benchmarks/bench_models.py                        # CPU: 256 and 512 px
    python benchmarks/bench_models.py --device cuda --batches 1 8 --sizes 512

The SD KL-VAE (stabilityai/sd-vae-ft-mse's architecture) and TAESD are built from their
diffusers configs with random weights: they cost the same as trained ones, and nothing is
downloaded. Each precision is the same weights cast: float32, float32 with channels_last
memory, bfloat16, bfloat16 with channels_last, float16 (CUDA only) and "auto" (what
``lb.models.load`` picks here, ``latent_bridge/models/device.py``). Prints, per model, size and
batch: the median ms per frame of encode and decode, the ratio to float32, and the PSNR of the
decoded frames (uint8) to float32's. The precisions are timed in turn within each round
(``interleaved``), so the ratios stand on a machine busy with other work.
"""

from __future__ import annotations

import argparse
import functools
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from diffusers import AutoencoderKL, AutoencoderTiny

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout: `python benchmarks/bench_models.py`

import latent_bridge as lb  # noqa: E402
from latent_bridge.models.device import pick_precision  # noqa: E402
from latent_bridge.models.hub import HubVAE, float16_safe  # noqa: E402


def sd_kl_vae() -> AutoencoderKL:
    """The Stable Diffusion 1.x/2.x VAE architecture (stabilityai/sd-vae-ft-mse's config)."""
    torch.manual_seed(0)
    return AutoencoderKL(
        block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, layers_per_block=2, latent_channels=4, sample_size=256,
    ).eval()


def taesd() -> AutoencoderTiny:
    torch.manual_seed(0)
    return AutoencoderTiny().eval()


def variants(device: str, with_bfloat16: bool) -> dict[str, tuple]:
    """{label: (dtype or "auto", channels_last)} for this device. with_bfloat16: include the CPU's
    bfloat16 rows (without native bfloat16 they are emulated: 9x to 10x slower than float32 on an
    AVX2 AMD EPYC, minutes a table row, and "auto" never picks them there)."""
    if device == "cpu":
        chosen = {"float32": ("float32", False), "channels_last": ("float32", True)}
        if with_bfloat16:
            chosen |= {"bfloat16": ("bfloat16", False), "bfloat16 + channels_last": ("bfloat16", True)}
    else:
        chosen = {"float32": ("float32", False), "bfloat16": ("bfloat16", False), "float16": ("float16", False)}
    chosen["auto"] = ("auto", None)
    return chosen


def interleaved(functions: dict, repeats: int, device: str) -> dict:
    """Median seconds of each ``functions[label]()`` over ``repeats`` rounds, after one warm-up
    each. Every round calls each function once in turn, so load from other work on the machine
    falls on all of them alike and their ratios hold even when the absolute times do not."""
    for function in functions.values():
        function()
    seconds = {label: [] for label in functions}
    for _ in range(repeats):
        for label, function in functions.items():
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            function()
            if device == "cuda":
                torch.cuda.synchronize()
            seconds[label].append(time.perf_counter() - start)
    return {label: statistics.median(values) for label, values in seconds.items()}


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--batches", type=int, nargs="+", default=[1])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--models", nargs="+", default=["sd-kl-vae", "taesd"], choices=["sd-kl-vae", "taesd"])
    parser.add_argument("--emulated-bfloat16", action="store_true",
                        help="time bfloat16 on a CPU without native bfloat16 too (emulated: very slow)")
    args = parser.parse_args()
    with_bfloat16 = args.device == "cuda" or lb.models.cpu_has_native_bfloat16() or args.emulated_bfloat16
    name = torch.cuda.get_device_name() if args.device == "cuda" else torch.cpu.get_capabilities().get("cpu_name", "")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.device} ({name}); "
          f"native bfloat16 on the CPU: {lb.models.cpu_has_native_bfloat16()}")

    builders = {"sd-kl-vae": sd_kl_vae, "taesd": taesd}
    print("\n| model | px | batch | precision | encode ms/frame | decode ms/frame | decode vs float32 | PSNR to float32 (dB) |")
    print("|---|---|---|---|---|---|---|---|")
    for model_name in args.models:
        base = builders[model_name]()
        safe = float16_safe(base.config)
        for size in args.sizes:
            for batch in args.batches:
                generator = torch.Generator().manual_seed(0)
                images = torch.rand(batch, 3, size, size, generator=generator)
                latents = torch.randn(batch, 4, size // 8, size // 8, generator=generator)
                vaes = {}
                for label, (dtype, channels_last) in variants(args.device, with_bfloat16).items():
                    precision = pick_precision(args.device, dtype, channels_last, float16_safe=safe)
                    model = builders[model_name]().to(precision.device, precision.dtype)
                    if precision.channels_last:
                        model = model.to(memory_format=torch.channels_last)
                    vaes[label] = HubVAE(model, name=model_name, description="", image_size=size, precision=precision)
                with torch.inference_mode():
                    encode = interleaved({label: functools.partial(vae.encode, images) for label, vae in vaes.items()},
                                         args.repeats, args.device)
                    decode = interleaved({label: functools.partial(vae.decode, latents) for label, vae in vaes.items()},
                                         args.repeats, args.device)
                    frames = {label: lb.data.to_uint8(vae.decode(latents)) for label, vae in vaes.items()}
                for label, vae in vaes.items():
                    quality = "-" if label == "float32" else f"{psnr(frames['float32'], frames[label]):.1f}"
                    shown = f"{label} ({vae.precision})" if label == "auto" else label
                    print(f"| {model_name} | {size} | {batch} | {shown} | {encode[label] / batch * 1e3:.0f} | "
                          f"{decode[label] / batch * 1e3:.0f} | {decode['float32'] / decode[label]:.2f}x | {quality} |",
                          flush=True)
                del vaes
    print()
    for name in ("digits", "fashion", "poses"):
        vae = lb.models.load(name)
        latents = torch.randn(16, *vae.latent_shape)
        seconds = interleaved({name: functools.partial(vae.decode, latents)}, args.repeats, "cpu")[name] / 16
        print(f"{name}: {seconds * 1e3:.2f} ms a frame at {vae.image_size} px (float32, CPU)")


if __name__ == "__main__":
    main()
