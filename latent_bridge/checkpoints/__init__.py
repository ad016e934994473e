"""The embedded models' checkpoints, one folder per name (``digits``, ``fashion``, ``poses``).

Each folder holds what ``python -m latent_bridge.train NAME`` writes: ``config.json`` and
``model.safetensors`` (the weights), the model card ``README.md``, ``metrics.json``,
``examples/*.png`` (held-out images) and ``latents.safetensors`` (the encoded training set).
They ship inside the package, so an installed wheel finds them wherever it is run from.
"""

from pathlib import Path

__all__ = ["CHECKPOINTS_DIR"]

CHECKPOINTS_DIR = Path(__file__).resolve().parent
