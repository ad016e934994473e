"""scikit-learn's 8 x 8 handwritten digits, upsampled to 32 x 32: the ``digits`` model's data.

The images ship inside scikit-learn, so nothing is downloaded.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["load_digits"]


def _split(images: torch.Tensor, part: str, test_fraction: float, seed: int) -> torch.Tensor:
    """The "train" or "test" part of ``images`` under a fixed random permutation (``seed``)."""
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    n_test = int(round(len(images) * test_fraction))
    return images[order[n_test:]] if part == "train" else images[order[:n_test]]


def load_digits(split: str = "train") -> torch.Tensor:
    """The 1,797 digits, 10 % held out ("test"): float32 (N, 1, 32, 32) in [0, 1].

    The 17 grey levels (0-16) are scaled to [0, 1] and upsampled bilinearly.
    """
    from sklearn.datasets import load_digits as sklearn_digits

    images = torch.from_numpy(sklearn_digits().images.astype(np.float32) / 16.0)[:, None]
    images = F.interpolate(images, size=(32, 32), mode="bilinear", align_corners=False).clamp(0, 1)
    return _split(images, split, 0.1, seed=0)
