"""The training datasets of the embedded models by name, all available offline.

- ``digits``: scikit-learn's 8 x 8 handwritten digits, upsampled to 32 x 32 (``digits``).
- ``fashion``: Fashion-MNIST from Debian's ``dataset-fashion-mnist`` (``fashion``), 32 x 32.
- ``poses``: figures rendered by ``poses``, 64 x 64.

Each loader returns float32 images (N, 1, H, W) in [0, 1] for a split, "train" or "test";
the test split is never used for training.
"""

from __future__ import annotations

import torch

from .digits import load_digits
from .fashion import load_fashion
from .poses import load_poses

__all__ = ["DATASETS", "load_dataset"]

DATASETS = {"digits": load_digits, "fashion": load_fashion, "poses": load_poses}


def load_dataset(name: str, split: str = "train") -> torch.Tensor:
    """Images float32 (N, 1, H, W) in [0, 1] of dataset ``name`` ("digits", "fashion", "poses")."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    return DATASETS[name](split)
