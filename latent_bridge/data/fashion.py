"""Fashion-MNIST from Debian's ``dataset-fashion-mnist`` package: the ``fashion`` model's data.

The package installs the four gzipped IDX files in ``/usr/share/datasets/fashion-mnist``;
the environment variable ``LATENT_BRIDGE_FASHION_DIR`` points elsewhere (a folder holding
``train-images-idx3-ubyte.gz`` and ``t10k-images-idx3-ubyte.gz``). Nothing is downloaded.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["DEFAULT_FASHION_DIR", "fashion_dir", "load_fashion", "read_idx"]

DEFAULT_FASHION_DIR = "/usr/share/datasets/fashion-mnist"
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def fashion_dir() -> Path:
    """The folder of the IDX files: ``LATENT_BRIDGE_FASHION_DIR`` or Debian's location."""
    return Path(os.environ.get("LATENT_BRIDGE_FASHION_DIR", DEFAULT_FASHION_DIR))


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzipped or not) as a numpy array of the shape and dtype its header gives."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(f"{Path(path).name} is not an IDX file (bad magic number)")
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=_IDX_DTYPES[data[2]], offset=4 + 4 * dims).reshape(shape)


def load_fashion(split: str = "train") -> torch.Tensor:
    """Fashion-MNIST's own split, 60,000 "train" or 10,000 "test" images: float32
    (N, 1, 32, 32) in [0, 1], zero-padded from 28 x 28 (the VAE halves sizes down to 4)."""
    prefix = "train" if split == "train" else "t10k"
    path = fashion_dir() / f"{prefix}-images-idx3-ubyte.gz"
    if not path.is_file():
        raise ValueError(
            f"Fashion-MNIST not found: no {path.name} in {path.parent}. Install Debian's "
            "dataset-fashion-mnist package (apt-get install dataset-fashion-mnist) or set "
            "LATENT_BRIDGE_FASHION_DIR to a folder holding its IDX files"
        )
    images = torch.from_numpy(read_idx(path).astype(np.float32) / 255.0)[:, None]
    return F.pad(images, (2, 2, 2, 2))
