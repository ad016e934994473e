"""Data for the models: preparing user images (``images``) and, for training, datasets.

Data is generated or read from packaged files, never downloaded at run time.
"""

from .images import MAX_PIXELS, MIN_SIDE, load_image

__all__ = ["MAX_PIXELS", "MIN_SIDE", "load_image"]
