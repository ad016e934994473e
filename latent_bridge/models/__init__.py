"""VAEs behind one protocol (``base.VAE``): our embedded checkpoints and Hub VAEs.

    vae = lb.models.load("poses")                        # checkpoints/poses, offline
    vae = lb.models.load("sd-vae", fast_decoder="taesd") # stabilityai/sd-vae-ft-mse + TAESD,
                                                         # on CUDA if there is one, in bfloat16 on
                                                         # a CPU with native bfloat16 (device.py)
    vae = lb.models.load("org/name", subfolder="vae")    # any diffusers AutoencoderKL/Tiny repo
    vae = lb.models.load("org/my-vae")                   # a latent-bridge VAE (SmallVAE) on the Hub
    lb.models.available()                                # [(name, description, kind), ...]
    lb.models.best_local_model()                         # "sd-vae" if cached, else "taesd", else "poses"

``load_cached`` keeps the last few loaded models (a bounded LRU, thread-safe) for the app.
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from pathlib import Path

from ..checkpoints import CHECKPOINTS_DIR
from ..checks import quoted
from .base import VAE, check_images, check_latents
from .device import Precision, cpu_has_native_bfloat16, pick_device, pick_precision
from . import hub
from .hub import HUB_ALIASES, HubVAE, ModelUnavailableError, load_hub, resolve_repo_id, resolve_source
from .remote import MAX_REMOTE_BYTES, SMALL_VAE_FILES, RemoteModel, check_remote

__all__ = [
    "VAE", "HubVAE", "ModelUnavailableError", "EMBEDDED", "CHECKPOINTS_DIR", "available", "load",
    "load_cached", "clear_cache", "check_images", "check_latents", "resolve_repo_id", "Precision",
    "cpu_has_native_bfloat16", "pick_device", "pick_precision", "check_remote", "RemoteModel", "MAX_REMOTE_BYTES",
    "SMALL_VAE_FILES", "kind_of_config", "cached_sources", "DEFAULT_MODEL", "best_local_model",
]

# Our own small VAEs, shipped in CHECKPOINTS_DIR/NAME (package data, written by
# `python -m latent_bridge.train NAME`).
EMBEDDED: dict[str, str] = {
    "digits": "Handwritten digits (scikit-learn 8x8, upsampled), 2-D latent: the latent space is a map",
    "fashion": "Fashion-MNIST clothing (28x28 padded to 32x32, grayscale), 32-D latent",
    "poses": "Stick figures in random poses (generated, 64x64), high-dimensional latent",
}

# The model the app and the command line start with when nothing better is at hand
# (``best_local_model``): embedded, so always there, offline.
DEFAULT_MODEL = "poses"

CACHE_SIZE = 3
# The keys a SmallVAE config.json has (its constructor's arguments); the first four are needed.
SMALL_VAE_KEYS = ("image_size", "channels", "latent_dim", "widths", "name", "description")


def available() -> list[tuple[str, str, str]]:
    """Every model loadable by a short name: ``(name, description, kind)``, kind "embedded" or "hub".

    The embedded models come first, in a fixed order; any other Hub repo id loads too.
    """
    embedded = [(name, text, "embedded") for name, text in EMBEDDED.items()]
    return embedded + [(alias, text, "hub") for alias, (_, _, text) in HUB_ALIASES.items()]


def best_local_model(cuda: bool | None = None) -> str:
    """The model to start with on this machine, chosen without any download: a photo VAE
    whose weights are already in the local Hugging Face cache, else ``DEFAULT_MODEL``.

    "sd-vae" when it is cached, on a CPU only with "taesd" cached too: there its decoder takes
    seconds a frame, and fast previews decode its latents with TAESD instead
    (``load(..., fast_decoder=True)``); else "taesd" when cached; else ``DEFAULT_MODEL``
    ("poses"). cuda: whether a CUDA GPU will run the model (default: whether torch sees one).
    Reads the cache only (``HF_HUB_CACHE``, else ``HF_HOME``'s hub/), even with the Hub
    reachable.
    """
    if cuda is None:
        cuda = pick_device("auto").type == "cuda"
    sd, tiny = (hub.in_local_cache(*HUB_ALIASES[alias][:2]) for alias in ("sd-vae", "taesd"))
    if sd and (cuda or tiny):
        return "sd-vae"
    return "taesd" if tiny else DEFAULT_MODEL


def kind_of_config(config: dict) -> str | None:
    """Which loader a config.json is for: "diffusers" (it names a ``_class_name``), "latent-bridge"
    (the arguments of ``SmallVAE``, nothing else), or None."""
    if "_class_name" in config:
        return "diffusers"
    if set(SMALL_VAE_KEYS[:4]) <= set(config) <= set(SMALL_VAE_KEYS):
        return "latent-bridge"
    return None


def _is_diffusers_folder(folder: Path) -> bool:
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and kind_of_config(config) == "diffusers"


def _load_small_vae(folder: Path, name: str, device=None, **options) -> VAE:
    """A SmallVAE saved with ``save_pretrained`` in ``folder`` (config.json + model.safetensors),
    its weights read straight onto ``device`` ("cpu" by default, "cuda", "cuda:N" or "auto")."""
    if options:
        raise ValueError(
            f"option(s) {', '.join(sorted(options))} apply to diffusers VAEs only; {name!r} takes only device"
        )
    device = pick_device(device)
    if not (folder / "config.json").is_file():
        raise ValueError(f"{name!r}: folder {folder.name!r} has no config.json, so it holds no saved model")
    from .small_vae import SmallVAE

    # from_pretrained on an existing folder reads it directly: no Hub call.
    return SmallVAE.from_pretrained(folder, map_location=str(device))


def _load_repo(repo_id: str, *, subfolder=None, revision=None, cache_dir=None, **options) -> VAE:
    """A Hub repo holding a diffusers VAE or a latent-bridge VAE, told apart by its config.json,
    which is fetched first (and alone): the class is checked before any weights are downloaded."""
    hub.check_subfolder(subfolder)
    folder = hub.fetch(repo_id, ["config.json"], subfolder, revision, cache_dir)
    config = hub.read_config(folder, repo_id)
    kind = kind_of_config(config)
    if kind == "latent-bridge":
        folder = hub.fetch(repo_id, SMALL_VAE_FILES, subfolder, revision, cache_dir)
        if not (folder / "model.safetensors").is_file():
            raise ValueError(f"{quoted(repo_id)} has no safetensors weights (model.safetensors); latent-bridge loads "
                             "safetensors only and never pickle files, which can run code when read")
        return _load_small_vae(folder, repo_id, **options)
    if kind is None:
        raise ValueError(f"{quoted(repo_id)} holds neither a diffusers VAE (config.json without _class_name) nor a "
                         f"latent-bridge VAE (whose config.json has {', '.join(SMALL_VAE_KEYS[:4])}); supported "
                         f"diffusers classes are {', '.join(hub.SUPPORTED_CLASSES)}")
    hub.check_class(config, repo_id)
    return load_hub(repo_id, subfolder=subfolder, revision=revision, cache_dir=cache_dir,
                    allow_local_folder=False, **options)


def load(source: str | os.PathLike, *, allow_local_folder: bool = True, **options) -> VAE:
    """Load a VAE by embedded name, Hub alias, Hub repo id ("org/name") or local folder.

    source: "digits", "fashion", "poses" (embedded, offline); "sd-vae", "taesd", "sdxl-vae",
        "taesdxl" (Hub aliases); any Hub repo id holding a diffusers AutoencoderKL or
        AutoencoderTiny or a latent-bridge VAE (``SmallVAE.save_pretrained`` /
        ``latent-bridge train``; the kind is read from its config.json); or a folder saved by
        SmallVAE or by diffusers.
    allow_local_folder: False refuses folders (for text typed into an app, which must not
        reach the file system).
    options: subfolder, revision and cache_dir for any Hub repo; for diffusers models those of
        ``hub.load_hub`` (subfolder, revision, image_size, device,
        dtype, channels_last, tiling, slicing, fast_decoder, cache_dir); device and dtype are
        "auto" by default there (``models/device.py``: CUDA when there is a GPU, the fastest safe
        precision; ``dtype="float32"`` for full precision). Our VAEs (embedded, in a folder or a
        latent-bridge repo) take only device
        ("cpu" by default, "cuda", "cuda:N" or "auto"; a CUDA device without a GPU is a
        ValueError, as for Hub models).

    Raises ValueError for an unknown name or a malformed repo id, ModelUnavailableError (a
    ValueError) when a Hub model is neither cached nor downloadable.
    """
    if isinstance(source, str) and source in EMBEDDED:
        folder = CHECKPOINTS_DIR / source
        if not (folder / "config.json").is_file():
            raise ValueError(
                f"the embedded model {source!r} is missing (checkpoints/{source}); "
                f"train it with `python -m latent_bridge.train {source}`"
            )
        return _load_small_vae(folder, source, **options)
    kind, where = resolve_source(source, allow_local_folder=allow_local_folder,
                                 names=[name for name, _, _ in available()])
    if kind == "folder" and not _is_diffusers_folder(where / (options.get("subfolder") or "")):
        return _load_small_vae(where, where.name, **options)
    if kind == "repo":
        return _load_repo(where, **options)
    return load_hub(where, allow_local_folder=allow_local_folder, **options)


_cache: OrderedDict = OrderedDict()
_cache_lock = threading.Lock()
_loading: dict = {}


def load_cached(source: str | os.PathLike, **options) -> VAE:
    """``load`` with a per-process LRU of the last ``CACHE_SIZE`` models (thread-safe).

    Two threads asking for the same model load it once; a slow download of one model does
    not block hits on the others. Options must be hashable.
    """
    key = (str(source), tuple(sorted(options.items())))
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
        key_lock = _loading.setdefault(key, threading.Lock())
    with key_lock:
        with _cache_lock:
            if key in _cache:
                _cache.move_to_end(key)
                return _cache[key]
        try:
            vae = load(source, **options)
        except BaseException:
            with _cache_lock:
                _loading.pop(key, None)
            raise
        with _cache_lock:
            _cache[key] = vae
            _loading.pop(key, None)
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
        return vae


def cached_sources() -> list[str]:
    """The sources (names, repo ids, folders as text) of the models ``load_cached`` holds now."""
    with _cache_lock:
        return [source for source, _ in _cache]


def clear_cache() -> None:
    """Forget every model ``load_cached`` holds."""
    with _cache_lock:
        _cache.clear()
