"""Training datasets of the embedded models, all available offline.

- ``digits``: scikit-learn's 8 x 8 handwritten digits, upsampled to 32 x 32.
- ``fashion``: Fashion-MNIST from Debian's ``dataset-fashion-mnist`` package (IDX files),
  padded from 28 x 28 to 32 x 32. ``LATENT_BRIDGE_FASHION_DIR`` overrides the folder.
- ``poses``: stick figures rendered by :mod:`latent_bridge.data.poses`, 64 x 64.

Each loader returns float32 images (N, 1, H, W) in [0, 1] for a split, "train" or "test";
the test split is never used for training.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["DATASETS", "load_dataset", "FASHION_DIR"]

FASHION_DIR = Path(os.environ.get("LATENT_BRIDGE_FASHION_DIR", "/usr/share/datasets/fashion-mnist"))


def _split(images: torch.Tensor, split: str, test_fraction: float, seed: int) -> torch.Tensor:
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    n_test = int(round(len(images) * test_fraction))
    return images[order[n_test:]] if split == "train" else images[order[:n_test]]


def load_digits(split: str = "train") -> torch.Tensor:
    """scikit-learn's digits (1,797 images), 10 % held out, upsampled to (N, 1, 32, 32)."""
    from sklearn.datasets import load_digits as sklearn_digits

    images = torch.from_numpy(sklearn_digits().images.astype(np.float32) / 16.0)[:, None]
    images = F.interpolate(images, size=(32, 32), mode="bilinear", align_corners=False).clamp(0, 1)
    return _split(images, split, 0.1, seed=0)


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load_fashion(split: str = "train") -> torch.Tensor:
    """Fashion-MNIST (60,000 train / 10,000 test), padded to (N, 1, 32, 32)."""
    prefix = "train" if split == "train" else "t10k"
    path = FASHION_DIR / f"{prefix}-images-idx3-ubyte.gz"
    if not path.is_file():
        raise ValueError(
            f"Fashion-MNIST not found at {path}: install Debian's dataset-fashion-mnist package "
            "or set LATENT_BRIDGE_FASHION_DIR to a folder with its IDX files"
        )
    images = torch.from_numpy(_read_idx(path).astype(np.float32) / 255.0)[:, None]
    return F.pad(images, (2, 2, 2, 2))


def load_poses(split: str = "train", n: int | None = None) -> torch.Tensor:
    """Generated figures: 30,000 for training (seed 0), 2,000 for testing (seed 1), (N, 1, 64, 64)."""
    from .poses import render_poses

    count = n or (30_000 if split == "train" else 2_000)
    return torch.from_numpy(render_poses(count, size=64, seed=0 if split == "train" else 1))[:, None]


DATASETS = {"digits": load_digits, "fashion": load_fashion, "poses": load_poses}


def load_dataset(name: str, split: str = "train") -> torch.Tensor:
    """Images float32 (N, 1, H, W) in [0, 1] of dataset ``name`` ("digits", "fashion", "poses")."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    return DATASETS[name](split)
