"""Our small convolutional VAE: the embedded, offline models in ``checkpoints/``.

The constructor's arguments are the model's config: ``save_pretrained(folder)`` writes them
to ``config.json`` beside ``model.safetensors`` (huggingface_hub's ``PyTorchModelHubMixin``),
and ``SmallVAE.from_pretrained(folder)`` reads both back, strictly, from safetensors only.

Encoder: stride-2 convolutions halving the image down to 4 x 4, then a linear layer to the
posterior mean and log-variance. Decoder: the mirror image with nearest upsampling (no
checkerboard artefacts) and a sigmoid. The prior is a standard normal, so latents are on
the prior's scale as they come.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from huggingface_hub import PyTorchModelHubMixin, constants, hf_hub_download
from safetensors.torch import load_file, load_model
from torch import nn

from .base import check_images, check_latents
from .device import Precision

__all__ = ["SmallVAE"]


def _down(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.GroupNorm(8, c_out), nn.SiLU())


def _up(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Upsample(scale_factor=2, mode="nearest"),
        nn.Conv2d(c_in, c_out, 3, padding=1), nn.GroupNorm(8, c_out), nn.SiLU(),
    )


class SmallVAE(nn.Module, PyTorchModelHubMixin, library_name="latent-bridge", tags=["vae", "latent-bridge"]):
    """A convolutional VAE with a standard normal prior.

    image_size: square input side in pixels, a power of two >= 8 (e.g. 32, 64).
    channels: 1 (grayscale) or 3. latent_dim: size n of the latent vector.
    widths: channels of the down blocks, one per halving down to 4 x 4.
    """

    has_fast_decoder = False
    resizable = False  # images are image_size x image_size: the linear layers fix the shape

    def __init__(
        self,
        image_size: int = 64,
        channels: int = 1,
        latent_dim: int = 64,
        widths: tuple[int, ...] = (16, 32, 64, 128),
        name: str = "small-vae",
        description: str = "",
    ):
        super().__init__()
        widths = tuple(int(w) for w in widths)
        if image_size != 4 * 2 ** len(widths):
            raise ValueError(
                f"image_size must be 4 * 2**len(widths) = {4 * 2 ** len(widths)} for widths {widths}; got {image_size}"
            )
        self.image_size, self.channels, self.latent_dim = int(image_size), int(channels), int(latent_dim)
        self.latent_shape = (self.latent_dim,)
        self.name, self.description = name, description
        self.folder: Path | None = None
        chans = (channels,) + widths
        self.encoder = nn.Sequential(*[_down(a, b) for a, b in zip(chans[:-1], chans[1:])], nn.Flatten())
        self.to_posterior = nn.Linear(widths[-1] * 16, 2 * latent_dim)
        self.from_latent = nn.Linear(latent_dim, widths[-1] * 16)
        rev = widths[::-1]
        self.decoder = nn.Sequential(
            *[_up(a, b) for a, b in zip(rev[:-1], rev[1:])],
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(rev[-1], channels, 3, padding=1),
        )
        self._top = widths[-1]

    # -- the VAE protocol -----------------------------------------------------------------

    @property
    def image_shape(self) -> tuple[int, int]:
        """(height, width): square, ``image_size`` a side."""
        return (self.image_size, self.image_size)

    @property
    def precision(self) -> Precision:
        """Where the weights live, in float32 (this model is small: a frame decodes in well
        under a millisecond, and reduced precision would buy nothing)."""
        return Precision(self.device, self.dtype, False)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def posterior(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance, each (B, latent_dim), for images (B, C, H, W) in [0, 1]."""
        h = self.to_posterior(self.encoder(images * 2.0 - 1.0))
        mean, logvar = h.chunk(2, dim=1)
        return mean, logvar.clamp(-12.0, 6.0)

    def decode_logits(self, latents: torch.Tensor) -> torch.Tensor:
        """Pre-sigmoid decoder output (B, C, H, W) for latents (B, latent_dim)."""
        h = self.from_latent(latents).view(-1, self._top, 4, 4)
        return self.decoder(h)

    @torch.no_grad()
    def encode(self, images: torch.Tensor, sample: bool = False, generator: torch.Generator | None = None) -> torch.Tensor:
        """images (B, C, H, W) float in [0, 1] -> latents float32 (B, latent_dim): the posterior
        mean, or one draw from the posterior when ``sample``."""
        check_images(images, self.channels, self.image_size)
        mean, logvar = self.posterior(images.to(self.device, self.dtype))
        if sample:
            noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device)
            mean = mean + noise * (0.5 * logvar).exp()
        return mean.float().to(images.device)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, fast: bool = False) -> torch.Tensor:
        """latents (B, latent_dim) -> images float32 (B, C, H, W) in [0, 1]. ``fast`` is
        accepted for the protocol; this model has only one decoder."""
        check_latents(latents, self.latent_shape)
        images = torch.sigmoid(self.decode_logits(latents.to(self.device, self.dtype)))
        return images.float().to(latents.device)

    def training_latents(self) -> torch.Tensor | None:
        """Posterior means of (a subsample of) the training set, float32 (N, latent_dim), from
        ``latents.safetensors`` beside the weights (read once; treat it as read-only); None
        when there is no such file."""
        if not hasattr(self, "_training_latents"):
            path = self.folder / "latents.safetensors" if self.folder else None
            found = load_file(str(path))["latents"].float() if path is not None and path.is_file() else None
            object.__setattr__(self, "_training_latents", found)
        return self._training_latents

    def heldout_metrics(self) -> dict:
        """What ``metrics.json`` beside the weights records of the held-out images (e.g.
        ``heldout_mse``, ``heldout_mse_p99``); empty when there is no such file."""
        path = self.folder / "metrics.json" if self.folder else None
        if path is None or not path.is_file():
            return {}
        try:
            found = json.loads(path.read_text())
        except ValueError:
            return {}
        return found if isinstance(found, dict) else {}

    def example_images(self) -> list[Path]:
        """The example PNGs shipped with the checkpoint (held-out images), sorted by name."""
        if self.folder is None:
            return []
        return sorted((self.folder / "examples").glob("*.png"))

    # -- loading ------------------------------------------------------------------------------

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs) -> "SmallVAE":
        """Load from a folder written by ``save_pretrained``; every weight must match (strict)."""
        kwargs.setdefault("strict", True)
        model = super().from_pretrained(pretrained_model_name_or_path, **kwargs)
        folder = Path(pretrained_model_name_or_path)
        model.folder = folder if folder.is_dir() else None
        return model.eval()

    @classmethod
    def _from_pretrained(cls, *, model_id, revision, cache_dir, force_download, local_files_only, token,
                         map_location="cpu", strict=False, **model_kwargs) -> "SmallVAE":
        # The mixin's own loader prints "Loading weights from local directory" on stdout (into
        # a script's output and the app's log) and falls back to a pickle when a Hub repo has
        # no safetensors; this one is silent and reads safetensors only.
        if os.path.isdir(model_id):
            weights = os.path.join(model_id, constants.SAFETENSORS_SINGLE_FILE)
        else:
            weights = hf_hub_download(model_id, constants.SAFETENSORS_SINGLE_FILE, revision=revision,
                                      cache_dir=cache_dir, force_download=force_download, token=token,
                                      local_files_only=local_files_only)
        model = cls(**model_kwargs)
        load_model(model, weights, strict=strict, device=str(map_location))
        return model
