"""latent-bridge: stochastic interpolation and looping random walks in VAE latent spaces.

The sampler modules are imported here, so every sampler is registered (``lb.registry``) as
soon as any part of the package is. Other submodules load on first use (``lb.models``,
``lb.media``, ``lb.plots``, ...): the samplers work without the heavier image and Hub dependencies.
"""

import importlib

from . import bridges, langevin, sde  # noqa: F401 - importing them registers the samplers

__version__ = "0.1.0"

_SUBMODULES = {
    "checks", "registry", "kernels", "bridges", "sde", "langevin", "path_mcmc", "testing", "priors", "models", "data", "pipeline", "metrics", "media",
    "plots", "train", "publish", "cli",
}
_PIPELINE_FUNCTIONS = {"interpolate", "random_walk", "compare", "keyframes"}

__all__ = sorted(_SUBMODULES | _PIPELINE_FUNCTIONS)


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _PIPELINE_FUNCTIONS:
        return getattr(importlib.import_module(f"{__name__}.pipeline"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return __all__
