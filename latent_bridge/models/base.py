"""The VAE protocol every model in latent-bridge follows, and the input checks they share.

A VAE here is anything with these attributes and methods (our ``SmallVAE`` and the diffusers
wrapper ``HubVAE`` both are)::

    vae.name            str, what it was loaded as ("digits", "sd-vae", "org/repo")
    vae.description     str, one line for a UI
    vae.image_size      int, the longer side of the images in pixels
    vae.image_shape     (height, width) of the images: (B, channels, height, width); square for
                        our small VAEs; a Hub VAE (``resizable``) gives other shapes through
                        ``with_image_shape(h, w)`` and ``shape_for(width, height)``
    vae.channels        int, 1 (grayscale) or 3 (RGB)
    vae.latent_shape    tuple of int, one latent code is (*latent_shape)
    vae.device, vae.dtype   where and in what precision the weights live
    vae.precision       device, dtype and memory format as loaded (``models.device.Precision``)
    vae.has_fast_decoder    bool, whether decode(z, fast=True) uses a cheaper decoder
    vae.encode(images, sample=False, generator=None) -> latents
    vae.decode(latents, fast=False) -> images
    vae.training_latents()  float32 (N, *latent_shape) of the training set, or None
    vae.example_images()    list of image paths shipped with the model (may be empty)

Latents are always on the prior's scale (a standard normal prior), so the bridge samplers
never need to know which model made them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import torch

__all__ = ["VAE", "check_images", "check_latents"]


@runtime_checkable
class VAE(Protocol):
    """What a latent-bridge model offers; see the module docstring for each attribute."""

    name: str
    description: str
    image_size: int
    image_shape: tuple[int, int]
    channels: int
    latent_shape: tuple[int, ...]
    has_fast_decoder: bool

    @property
    def device(self) -> torch.device: ...

    @property
    def dtype(self) -> torch.dtype: ...

    def encode(
        self, images: torch.Tensor, sample: bool = False, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """images: float (B, channels, *image_shape) in [0, 1].

        Returns float32 (B, *latent_shape) on the prior's scale, on the images' device: the
        posterior mean, or one draw from the posterior when ``sample`` is true.
        """
        ...

    def decode(self, latents: torch.Tensor, fast: bool = False) -> torch.Tensor:
        """latents: float (B, *latent_shape) on the prior's scale.

        Returns float32 (B, channels, *image_shape) in [0, 1], on the latents'
        device. ``fast`` asks for the cheaper decoder where there is one (a preview).
        """
        ...

    def training_latents(self) -> torch.Tensor | None: ...

    def example_images(self) -> list[Path]: ...


def check_images(images: torch.Tensor, channels: int, image_shape: int | tuple[int, int]) -> None:
    """Raise a ValueError unless ``images`` is a finite float batch (B, channels, H, W) in [0, 1]
    with (H, W) = ``image_shape`` (an int: a square of that side)."""
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"images must be a torch.Tensor of shape (B, C, H, W); got {type(images).__name__}")
    height, width = (image_shape, image_shape) if isinstance(image_shape, int) else image_shape
    expected = (channels, height, width)
    if images.ndim != 4 or tuple(images.shape[1:]) != expected:
        raise ValueError(
            f"images must have shape (B, {channels}, {height}, {width}) for this model; "
            f"got {tuple(images.shape)} (prepare them with latent_bridge.data.load_image)"
        )
    if images.shape[0] == 0:
        raise ValueError("images must hold at least one image; got an empty batch")
    if not images.is_floating_point():
        raise ValueError(f"images must be floating point in [0, 1]; got dtype {images.dtype}")
    low, high = images.aminmax()
    if not (torch.isfinite(low) and torch.isfinite(high)):
        raise ValueError("images must be finite; got NaN or infinite values")
    # A little slack for values that went through a float16 round trip.
    if low < -1e-3 or high > 1 + 1e-3:
        raise ValueError(f"images must be in [0, 1]; got values in [{low:.3g}, {high:.3g}]")


def check_latents(latents: torch.Tensor, latent_shape: tuple[int, ...]) -> None:
    """Raise a ValueError unless ``latents`` is a finite float batch (B, *latent_shape)."""
    if not isinstance(latents, torch.Tensor):
        raise ValueError(
            f"latents must be a torch.Tensor of shape (B, *latent_shape); got {type(latents).__name__}"
        )
    if latents.ndim != len(latent_shape) + 1 or tuple(latents.shape[1:]) != tuple(latent_shape):
        raise ValueError(
            f"latents must have shape (B, {', '.join(map(str, latent_shape))}) for this model; got {tuple(latents.shape)}"
        )
    if latents.shape[0] == 0:
        raise ValueError("latents must hold at least one code; got an empty batch")
    if not latents.is_floating_point():
        raise ValueError(f"latents must be floating point; got dtype {latents.dtype}")
    if not torch.isfinite(latents).all():
        raise ValueError("latents must be finite; got NaN or infinite values")
