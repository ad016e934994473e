"""The embedded models' checkpoints, one folder per name (``digits``, ``fashion``, ``poses``).

Each folder holds what ``python -m latent_bridge.train NAME`` writes: ``config.json`` and
``model.safetensors`` (the weights), the model card ``README.md``, ``metrics.json``,
``examples/*.png`` (held-out images) and ``latents.safetensors`` (the encoded training set).

This folder sits at the repository's top and is imported as ``latent_bridge.checkpoints``: the
wheel carries it inside the package (pyproject.toml maps it there with ``package-dir``), so an
installed copy finds the models wherever it runs; in a source checkout ``latent_bridge``
registers this folder under the same name when it is imported.
"""

from pathlib import Path

__all__ = ["CHECKPOINTS_DIR"]

CHECKPOINTS_DIR = Path(__file__).resolve().parent
