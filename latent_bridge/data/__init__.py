"""Data for the models: user images in and decoded images out (``images``) and, for training,
datasets and folders of one's own images (``folder``).

Data is generated or read from packaged files, never downloaded at run time.
"""

from . import folder
from .folder import read_image_folder
from .images import MAX_PIXELS, MIN_SIDE, load_image, to_uint8

__all__ = ["MAX_PIXELS", "MIN_SIDE", "folder", "load_image", "read_image_folder", "to_uint8"]
