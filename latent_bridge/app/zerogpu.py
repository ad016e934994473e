"""ZeroGPU on a Space: a function decorated with ``gpu`` holds a GPU for its duration, in
another process that receives its arguments and returns its results pickled. Elsewhere the
decorator does nothing.
"""

from __future__ import annotations

import importlib.util
import os

try:
    import spaces

    gpu = spaces.GPU
except ImportError:
    def gpu(fn=None, duration=None):
        return fn if fn is not None else (lambda f: f)


def on_zero_gpu() -> bool:
    """Whether this process runs on a ZeroGPU Space: the ``spaces`` package is importable and
    ``SPACES_ZERO_GPU`` is set. There, CUDA is attached only inside functions decorated with
    ``spaces.GPU``."""
    return bool(os.environ.get("SPACES_ZERO_GPU")) and importlib.util.find_spec("spaces") is not None


ZERO_GPU = on_zero_gpu()
