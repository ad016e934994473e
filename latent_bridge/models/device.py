"""Where a model runs and in what precision: one policy for the library, the CLI and the app.

``pick_device("auto")`` is CUDA when there is a GPU, else the CPU. ``pick_dtype("auto", ...)``
chooses the fastest precision that keeps decoded frames within 40 dB PSNR of float32:

- on CUDA, float16 for VAEs made safe in it (TAESD and TAESDXL; the SDXL "fp16-fix" VAE; any
  diffusers VAE whose config says ``force_upcast: false``), bfloat16 for the others (SD's KL-VAE
  ``stabilityai/sd-vae-ft-mse`` and SDXL's original VAE, whose activations overflow float16's
  range of 65,504 and decode to NaN or black frames; bfloat16 has float32's range);
- on a CPU with native bfloat16 arithmetic (AVX512-BF16 or AMX), bfloat16; on every CPU,
  channels_last memory (together 2.3x float32's decoding speed for SD's decoder and for TAESD
  at 256 px, 3x to 4x at 512 px, on 2 cores of an AMD EPYC with AVX512-BF16;
  ``benchmarks/bench_models.py``);
- float32 everywhere else (a CPU without native bfloat16 emulates it: SD's decoder took 9x
  float32's time on an AVX2 EPYC, where channels_last alone gave 1.0x to 1.3x).

``float32`` stays one argument away: ``lb.models.load("sd-vae", dtype="float32")``.
"""

from __future__ import annotations

import functools

import torch

__all__ = ["DTYPES", "Precision", "cpu_has_native_bfloat16", "pick_device", "pick_dtype", "pick_precision"]

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@functools.cache
def cpu_has_native_bfloat16() -> bool:
    """Whether this CPU computes in bfloat16 natively (AVX512-BF16 or AMX-BF16), as oneDNN's
    convolutions need to run faster in bfloat16 than in float32."""
    try:
        capabilities = torch.cpu.get_capabilities()
    except (AttributeError, RuntimeError):  # an older torch: no way to tell, so no
        return False
    return bool(capabilities.get("avx512_bf16") or capabilities.get("amx_bf16"))


def pick_device(device) -> torch.device:
    """The torch device for ``device``: None (CPU), "cpu", "cuda", "cuda:N" or "auto" (CUDA when
    there is a GPU). A CUDA device this machine lacks is a ValueError, not a failure later."""
    if device is None:
        return torch.device("cpu")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto'; got {device!r}") from None
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto'; got {str(device)!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but no CUDA GPU is available; use device='cpu'")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"device {str(device)!r} does not exist: this machine has "
                         f"{torch.cuda.device_count()} CUDA GPU(s), cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    return device


def pick_dtype(dtype, device: torch.device, *, float16_safe: bool = False) -> torch.dtype:
    """The weights' precision for ``dtype``: None or "float32", "bfloat16", "float16" (CUDA
    only), a torch dtype, or "auto" (see the module docstring). float16_safe: whether the
    model decodes correctly in float16 (decides "auto" on CUDA)."""
    if dtype is None:
        return torch.float32
    if dtype == "auto":
        if device.type == "cuda":
            if float16_safe:
                return torch.float16
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
        return torch.bfloat16 if cpu_has_native_bfloat16() else torch.float32
    if isinstance(dtype, str):
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be 'auto' or one of {', '.join(DTYPES)}; got {dtype!r}")
        dtype = DTYPES[dtype]
    if dtype not in DTYPES.values():
        raise ValueError(f"dtype must be 'auto' or one of {', '.join(DTYPES)}; got {dtype!r}")
    # Half-precision convolutions on CPU are slow or missing; float16 is a CUDA option.
    if dtype == torch.float16 and device.type != "cuda":
        raise ValueError(f"dtype float16 needs a CUDA device; got device {device.type!r} "
                         "(use float32 or bfloat16 on a CPU)")
    return dtype


class Precision:
    """What a model was loaded with: ``device``, ``dtype`` and whether its activations use
    ``channels_last`` memory. ``str(precision)`` reads "cpu bfloat16 channels_last"."""

    __slots__ = ("device", "dtype", "channels_last")

    def __init__(self, device: torch.device, dtype: torch.dtype, channels_last: bool):
        self.device, self.dtype, self.channels_last = device, dtype, channels_last

    def __repr__(self) -> str:
        return f"Precision({str(self)!r})"

    def __str__(self) -> str:
        name = str(self.dtype).removeprefix("torch.")
        return f"{self.device.type} {name}" + (" channels_last" if self.channels_last else "")

    def as_dict(self) -> dict:
        """JSON-able: {"device": "cpu", "dtype": "bfloat16", "channels_last": true}."""
        return {"device": str(self.device), "dtype": str(self.dtype).removeprefix("torch."),
                "channels_last": self.channels_last}


def pick_precision(device="auto", dtype="auto", channels_last=None, *, float16_safe: bool = False) -> Precision:
    """Device, dtype and memory format together. channels_last: None chooses it where it pays:
    on a CPU, where oneDNN's convolutions run in that layout without reorders (SD's decoder at
    256 px: 1.4x faster in float32, a little in bfloat16)."""
    device = pick_device(device)
    dtype = pick_dtype(dtype, device, float16_safe=float16_safe)
    if channels_last is None:
        channels_last = device.type == "cpu"
    elif not isinstance(channels_last, bool):
        raise ValueError(f"channels_last must be true, false or None (automatic); got {channels_last!r}")
    return Precision(device, dtype, channels_last)
