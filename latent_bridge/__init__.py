"""latent-bridge: stochastic interpolation and looping random walks in VAE latent spaces.

The sampler modules are imported here, so every sampler is registered (``lb.registry``) as
soon as any part of the package is. Other submodules load on first use (``lb.models``,
``lb.media``, ``lb.plots``, ...): the samplers work without the heavier image and Hub dependencies.
"""

import importlib
import importlib.util
import sys
from pathlib import Path


def _import_checkpoints():
    """``latent_bridge.checkpoints``: inside the package in a wheel (pyproject.toml's package-dir
    maps the repository's top-level ``checkpoints/`` there); in a source checkout, that folder,
    registered under the same name, so the code imports it one way in both."""
    name = f"{__name__}.checkpoints"
    if importlib.util.find_spec(name) is None:
        folder = Path(__file__).resolve().parents[1] / "checkpoints"
        spec = importlib.util.spec_from_file_location(name, folder / "__init__.py",
                                                      submodule_search_locations=[str(folder)])
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return importlib.import_module(name)


checkpoints = _import_checkpoints()

from . import bridges, langevin, sde  # noqa: E402, F401 - importing them registers the samplers

__version__ = "0.1.0"

_SUBMODULES = {
    "checks", "checkpoints", "registry", "kernels", "bridges", "sde", "langevin", "path_mcmc", "testing", "priors",
    "models", "data", "pipeline", "metrics", "media", "familiarity", "plots", "train", "publish", "cli",
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
