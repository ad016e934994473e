"""Data for the models: user images in and decoded images out (``images``) and, for training,
datasets.

Data is generated or read from packaged files, never downloaded at run time.
"""

from .images import MAX_PIXELS, MIN_SIDE, load_image, to_uint8

__all__ = ["MAX_PIXELS", "MIN_SIDE", "load_image", "to_uint8"]
