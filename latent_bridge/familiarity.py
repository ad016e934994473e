"""Whether a model can represent an image: its round trip (encode, decode) against what the
model's held-out images do, and its colours against a model that knows only grey.

A VAE trained on stick figures turns a photo into a stick-figure blob; the paths between two
such codes say nothing about the photos. ``familiarity`` lets a caller say so before a
render instead of returning a video of junk. Models that record no held-out figures (the
Hub's photo VAEs, trained on millions of photos) are taken to know any image.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["Familiarity", "familiarity", "round_trip_error", "colourfulness", "ERROR_FACTOR", "COLOUR_LEVEL"]

# An image is unfamiliar when its round trip errs this many times more than the held-out
# images' 99th percentile. Measured on the embedded models: the four example photos err
# 17-40x poses' (0.095-0.22 against 0.0055), 1.2-4.7x fashion's and 1.4-2.6x digits'; the
# held-out images' own largest are 2.3x, 2.2x and 1.4x.
ERROR_FACTOR = 2.5
# Mean distance of a pixel's channels from their grey, in [0, 1]: a colour photo is at
# 0.05-0.2; a grey image at 0 (JPEG noise: below 0.01).
COLOUR_LEVEL = 0.03


@dataclass(frozen=True)
class Familiarity:
    """error: mean squared error per pixel value of the image's round trip; typical: the held-out
    images' 99th percentile of the same (None: not recorded); colour: the image's colourfulness
    (``colourfulness``) where the model knows only grey, else 0."""

    error: float
    typical: float | None
    colour: float = 0.0

    @property
    def familiar(self) -> bool:
        too_far = self.typical is not None and self.error > ERROR_FACTOR * self.typical
        return not too_far and self.colour <= COLOUR_LEVEL

    def reason(self) -> str:
        """Plain words for why the image is unfamiliar ("" when it is not)."""
        parts = []
        if self.colour > COLOUR_LEVEL:
            parts.append("it is in colour and the model knows only grey")
        if self.typical is not None and self.error > ERROR_FACTOR * self.typical:
            parts.append(f"the model redraws it {self.error / self.typical:.0f}x worse than its own test images")
        return "; ".join(parts)


def round_trip_error(vae, image: torch.Tensor) -> float:
    """Mean squared error per pixel value between ``image`` float32 (1, C, H, W) in [0, 1] (at
    the model's shape) and ``vae.decode(vae.encode(image))``."""
    with torch.inference_mode():
        redrawn = vae.decode(vae.encode(image)).float().cpu()
    return float((redrawn - image.float().cpu()).pow(2).mean())


def colourfulness(rgb: torch.Tensor) -> float:
    """Mean absolute distance of each pixel's channels from their mean: float (1, 3, H, W) in [0, 1]."""
    return float((rgb - rgb.mean(dim=1, keepdim=True)).abs().mean())


def familiarity(vae, image: torch.Tensor, rgb: torch.Tensor | None = None) -> Familiarity:
    """How well ``vae`` represents ``image`` (float32 (1, C, H, W) in [0, 1], at the model's shape).
    rgb: the same picture in three channels (any size), to tell a colour photo given to a
    model of one channel."""
    heldout = getattr(vae, "heldout_metrics", lambda: {})()
    typical = heldout.get("heldout_mse_p99")
    colour = colourfulness(rgb) if rgb is not None and getattr(vae, "channels", 3) == 1 else 0.0
    return Familiarity(error=round_trip_error(vae, image), typical=float(typical) if typical else None, colour=colour)
