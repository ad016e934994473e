"""The app's models: the list (embedded, the operator's folders, the Hub's), the one the page
opens on, loading through a bounded cache (typed repo ids included), and each model's decode
time per frame where renders run.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import huggingface_hub.constants

import latent_bridge as lb

from . import hub_repos
from .costs import decode_seconds_per_frame, scale_decode_seconds
from .limits import check_choice
from .zerogpu import ZERO_GPU, gpu

MODEL_FOLDERS_VARIABLE = "LATENT_BRIDGE_MODEL_FOLDERS"


def model_folders(environ=os.environ, taken=()) -> dict[str, tuple[Path, str]]:
    """Checkpoint folders the operator adds to the app's list (``latent-bridge train`` writes
    them): ``LATENT_BRIDGE_MODEL_FOLDERS``, folders separated by ``os.pathsep``. Returns
    {folder name: (folder, description from its config.json)}; a ValueError for a folder that
    is missing or holds no config.json, or a name already ``taken`` (or given twice)."""


    found: dict[str, tuple[Path, str]] = {}
    for text in filter(None, (part.strip() for part in environ.get(MODEL_FOLDERS_VARIABLE, "").split(os.pathsep))):
        folder = Path(text).expanduser().resolve()
        if not (folder / "config.json").is_file():
            raise ValueError(f"{MODEL_FOLDERS_VARIABLE}: {text!r} is not a checkpoint folder (no config.json); "
                             "give folders written by `latent-bridge train`")
        name = folder.name
        if name in found or name in taken:
            raise ValueError(f"{MODEL_FOLDERS_VARIABLE}: two models would be called {name!r}; rename a folder")
        try:
            description = str(json.loads((folder / "config.json").read_text()).get("description") or "")
        except (ValueError, AttributeError):
            description = ""
        found[name] = (folder, description or f"a VAE from the folder {name!r}")
    return found




def in_local_cache(alias: str) -> bool:
    """Whether a listed Hub model's config and weights are in the local Hugging Face cache (a
    Space's ``preload_from_hub`` puts them there at build time): looked up on disk, no request."""
    return lb.models.hub.in_local_cache(*lb.models.hub.HUB_ALIASES[alias][:2])


def _listed_models() -> tuple[dict[str, tuple[str, str]], dict[str, Path]]:
    """({name: (description, kind)} in page order: embedded, the operator's folders, Hub;
    {name: folder} of the operator's folders)."""
    found = {name: (text, kind) for name, text, kind in lb.models.available()}
    folders = model_folders(taken=found)
    listed = {**{n: m for n, m in found.items() if m[1] == "embedded"},
              **{name: (text, "embedded") for name, (_, text) in folders.items()},
              **{n: m for n, m in found.items() if m[1] != "embedded"}}
    return listed, {name: folder for name, (folder, _) in folders.items()}


MODELS, LOCAL_FOLDERS = _listed_models()
HUB_MODELS = [name for name, (_, kind) in MODELS.items() if kind == "hub"]
# Hub VAEs load with the device and precision policy's defaults ("auto"), the KL-VAEs with their
# tiny decoder for fast previews; the embedded models on the CPU (they decode in microseconds).
ON_CPU = not ZERO_GPU and lb.models.pick_device("auto").type == "cpu"


def _fast_decoder_at_hand(alias: str) -> bool:
    """Whether a KL-VAE's tiny decoder can be had: in the local cache, or downloadable."""
    tiny = lb.models.hub.FAST_DECODER_FOR.get(lb.models.hub.HUB_ALIASES[alias][0])
    return tiny is not None and (in_local_cache(tiny) or not huggingface_hub.constants.HF_HUB_OFFLINE)


def model_options(name: str) -> dict:
    """How a listed model loads: a KL-VAE with its tiny decoder for fast previews, when that can
    be had (asked at each load: a cache filled after start-up counts)."""
    return {"fast_decoder": True} if name in HUB_MODELS and _fast_decoder_at_hand(name) else {}
# Where the Hub models decode on the CPU, fast preview starts ticked so that every tab's defaults
# fit the decode-time bound: SD's decoder takes 1.8 s a 256 px frame on 2 cores with native
# bfloat16 (6 s without); TAESD's 0.1 to 0.4 s.
FAST_PREVIEW_DEFAULT = ON_CPU
# Models that read photographs (the Hub's diffusers VAEs); the embedded ones know one kind of image.
PHOTO_MODELS = ("sd-vae", "taesd")
ANY_REPO = hub_repos.allow_any_repo()
# Repos never trimmed from the Hugging Face cache: the listed models' (and their tiny decoders').
LISTED_REPOS = frozenset(repo for repo, _, _ in lb.models.hub.HUB_ALIASES.values())
# Typed repos this process downloaded (not in the cache before): the only ones it may trim.
DOWNLOADED: set[str] = set()


# The model the page opens on: the library's choice, shared with the command line
# (``lb.models.best_local_model``): a photo model already on disk, else the embedded poses.
DEFAULT_MODEL = lb.models.best_local_model(cuda=not ON_CPU)
if DEFAULT_MODEL not in MODELS:
    DEFAULT_MODEL = next(iter(MODELS))


def usable_photo_models() -> list[str]:
    """The photo models that run here without a download (looked up on disk, no request)."""
    return [name for name in PHOTO_MODELS if name in MODELS and in_local_cache(name)]


def photo_model_usable() -> bool:
    """Whether a photo model runs here without a download (then the photo examples show)."""
    return bool(usable_photo_models())


def is_photo_model(name) -> bool:
    """A diffusers VAE (listed or a typed repo checked to hold one): it takes photos of any shape."""
    return isinstance(name, str) and (name in HUB_MODELS or hub_repos.typed_repo_kind(name) == "diffusers")


def check_model(value) -> str:
    """A listed model's name, or (where ``ANY_REPO``) a Hub repo id that passed the checks on the
    Hub's file list; a ValueError for anything else. Never a path: a typed value is only a repo id."""
    if (isinstance(value, str) and value in MODELS) or not ANY_REPO:
        return check_choice("model", value, MODELS)
    listed = f"model must be one of {', '.join(MODELS)}, or a Hub repo id"
    if not isinstance(value, str) or "/" not in value:
        raise ValueError(f"{listed} ('org/name'); got {lb.checks.shown(value)!r}")
    try:
        hub_repos.typed_repo_id(value)
    except ValueError as error:
        raise ValueError(f"{listed}: {error}") from None
    return hub_repos.check_typed_repo(value).repo_id


def has_latent_map(vae) -> bool:
    """Latents in the plane can be drawn as they are (the digits model)."""
    return tuple(vae.latent_shape) == (2,)


# Embedded models load in milliseconds; those with a 2-D latent get a latent map (typed repos
# join when loaded, at most MAP_MODELS_MOST in all).
MAP_MODELS = {name for name, (_, kind) in MODELS.items()
              if kind == "embedded" and has_latent_map(lb.models.load_cached(LOCAL_FOLDERS.get(name, name)))}
MAP_MODELS_MOST = 256


def load_model(name):
    """A VAE from the per-process bounded cache: a listed model, or a typed Hub repo id loaded at
    the commit whose file list was checked (``hub_repos.check_typed_repo``), never from a folder."""
    name = check_model(name)
    if name in LOCAL_FOLDERS:
        return lb.models.load_cached(LOCAL_FOLDERS[name])
    if name in MODELS:
        return lb.models.load_cached(name, **model_options(name))
    remote = hub_repos.check_typed_repo(name)
    options = {**remote.load_options(), "allow_local_folder": False}
    if remote.repo_id in lb.models.hub.FAST_DECODER_FOR:
        options["fast_decoder"] = True
    if not hub_repos.cached_before(remote):
        DOWNLOADED.add(remote.repo_id)
    vae = lb.models.load_cached(remote.repo_id, **options)
    if has_latent_map(vae) and len(MAP_MODELS) < MAP_MODELS_MOST:
        MAP_MODELS.add(remote.repo_id)  # a typed repo with a 2-D latent: its map shows too
    hub_repos.trim_typed_repos(hub_repos.LIMITS.typed_repos_bytes, DOWNLOADED,
                               keep=LISTED_REPOS | set(lb.models.cached_sources()))
    return vae


@functools.cache
def example_images(model_name: str) -> list[str]:
    """The model's shipped example images; none (with a note) when its checkpoint is missing."""
    try:
        return [str(p) for p in load_model(model_name).example_images()]
    except ValueError as error:  # a checkpoint not trained yet: the page still starts
        print(f"no examples for {model_name}: {error}")
        return []


# Decode times measured per (model, fast decoder), at the model's loaded shape: by the GPU
# worker itself on ZeroGPU (``measure_decoding``), in this process elsewhere.
MEASURED: dict[tuple[str, bool], float] = {}


@gpu(duration=60)
def measure_decoding(model: str, fast: bool) -> float:
    """Seconds a frame of ``model`` takes to decode where renders run (inside the GPU context
    on ZeroGPU), at the model's loaded shape."""
    return decode_seconds_per_frame(load_model(model), fast)


def seconds_per_frame(model: str, vae, shape: tuple[int, int], fast: bool) -> float:
    """The decode time per frame of ``model`` at ``shape`` on the device it runs on."""
    if (model, fast) not in MEASURED:
        if len(MEASURED) >= 64:  # typed repo ids: keep the table bounded
            MEASURED.pop(next(iter(MEASURED)))
        MEASURED[(model, fast)] = measure_decoding(model, fast)
    return scale_decode_seconds(MEASURED[(model, fast)], vae.image_shape, shape, lb.models.hub.TILING_ABOVE)


def load_all_on_zero_gpu() -> None:
    """ZeroGPU wants every model on CUDA at import (its workers inherit them; the Hub ones are
    preloaded at build): load each listed model once, with a cache that holds them all."""
    lb.models.CACHE_SIZE = max(lb.models.CACHE_SIZE, len(MODELS) + 1)
    for name in MODELS:
        try:
            load_model(name)
        except ValueError as error:
            print(f"model {name} not loaded at start: {error}")
