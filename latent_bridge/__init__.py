"""latent-bridge: stochastic interpolation and looping random walks in VAE latent spaces.

Submodules load on first use (``lb.models``, ``lb.media``, ``lb.plots``, ...), so
``import latent_bridge`` stays cheap and the samplers work without the heavier image and Hub
dependencies.
"""

import importlib

__version__ = "0.1.0"

_SUBMODULES = {
    "kernels", "bridges", "sde", "priors", "models", "data", "pipeline", "metrics", "media", "plots",
    "train", "cli",
}
_PIPELINE_FUNCTIONS = {"interpolate", "random_walk", "compare"}

__all__ = sorted(_SUBMODULES | _PIPELINE_FUNCTIONS)


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _PIPELINE_FUNCTIONS:
        return getattr(importlib.import_module(f"{__name__}.pipeline"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return __all__
