"""Pretrained VAEs from the Hugging Face Hub (diffusers ``AutoencoderKL`` and ``AutoencoderTiny``).

``load_hub(source)`` takes a repo id or a local diffusers folder, finds the model class in the
folder's ``config.json`` (``_class_name``) and wraps it in ``HubVAE``, which speaks the
latent-bridge protocol (``models/base.py``): images in [0, 1] and latents on the prior's scale.

Safety: weights are read from safetensors only (``use_safetensors=True``); a repo that ships
only pickle files (``.bin``, ``.ckpt``) is refused, and no remote code is ever run.
Offline: a repo that is neither in the local Hugging Face cache nor reachable on the Hub gives
a ``ModelUnavailableError`` naming the repo and the command that pre-downloads it.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import torch

from ..checks import check_whole, quoted
from ..data.images import fit_shape
from .base import check_images, check_latents
from .device import Precision, pick_device, pick_precision

__all__ = ["HUB_ALIASES", "HubVAE", "ModelUnavailableError", "check_class", "check_subfolder", "fetch", "float16_safe",
           "in_local_cache", "load_hub", "pick_device", "read_config", "resolve_repo_id", "resolve_source"]

# Short names for the common VAEs: alias -> (repo id, subfolder, description).
HUB_ALIASES: dict[str, tuple[str, str | None, str]] = {
    "sd-vae": (
        "stabilityai/sd-vae-ft-mse", None,
        "Stable Diffusion 1.x/2.x KL-VAE (fine-tuned, MSE), 4x32x32 latents at 256 px",
    ),
    "taesd": (
        "madebyollin/taesd", None,
        "TAESD: tiny autoencoder in the SD 1.x/2.x latent space, 11x faster to decode on CPU",
    ),
    "sdxl-vae": (
        "madebyollin/sdxl-vae-fp16-fix", None,
        "Stable Diffusion XL KL-VAE (fixed to run in float16), 4x32x32 latents at 256 px",
    ),
    "taesdxl": (
        "madebyollin/taesdxl", None,
        "TAESDXL: tiny autoencoder in the SDXL latent space, about 11x faster to decode",
    ),
}
# The tiny decoder that shares each KL model's latent space (what fast_decoder=True picks).
FAST_DECODER_FOR = {"stabilityai/sd-vae-ft-mse": "taesd", "madebyollin/sdxl-vae-fp16-fix": "taesdxl",
                    "stabilityai/sdxl-vae": "taesdxl"}

SUPPORTED_CLASSES = ("AutoencoderKL", "AutoencoderTiny")
WEIGHTS_NAME = "diffusion_pytorch_model.safetensors"
WEIGHTS_INDEX_NAME = "diffusion_pytorch_model.safetensors.index.json"
DIFFUSERS_FILES = ["config.json", WEIGHTS_NAME, WEIGHTS_INDEX_NAME, "diffusion_pytorch_model-*.safetensors"]
PICKLE_SUFFIXES = (".bin", ".ckpt", ".pt", ".pth", ".pkl")
DEFAULT_IMAGE_SIZE = 256
# Above this size the decoders run tile by tile (diffusers' tiling) to bound memory.
TILING_ABOVE = 512


class ModelUnavailableError(ValueError):
    """The model cannot be had here: not in the local cache and the Hub cannot give it."""


def resolve_repo_id(repo_id: str) -> str:
    """Return ``repo_id`` if it is a well-formed Hub model id ("org/name"), else raise a ValueError.

    Checked before any Hub call, so paths (``../../etc``), URLs and stray spaces never reach
    the network or the cache folder. The rules are huggingface_hub's ``validate_repo_id``, with
    the namespace required: a bare "name" is refused.
    """
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if not isinstance(repo_id, str):
        raise ValueError(f"repo id must be a string such as 'org/name'; got {type(repo_id).__name__}")
    if "://" in repo_id or repo_id.startswith(("huggingface.co/", "hf.co/", "www.")):
        raise ValueError(
            f"give the Hub repo id ('org/name'), not a URL; got {quoted(repo_id)} "
            "(for https://huggingface.co/madebyollin/taesd the id is 'madebyollin/taesd')"
        )
    try:
        validate_repo_id(repo_id)
        valid = repo_id.count("/") == 1
    except HFValidationError:
        valid = False
    if not valid:
        raise ValueError(
            f"not a valid Hub repo id: {quoted(repo_id)}; a repo id is 'org/name' made of letters, digits, "
            "'-', '_' and '.' (no spaces, no '..' or '--', at most 96 characters each part)"
        )
    return repo_id


def resolve_source(source, *, allow_local_folder: bool = True, names=None) -> tuple[str, str | Path]:
    """What a model source names: ``("alias", alias)``, ``("folder", Path)`` or ``("repo", repo id)``.

    In this order: a key of ``HUB_ALIASES``; a ``os.PathLike``, or a string naming an existing
    folder (``~`` expanded); otherwise a Hub repo id, checked by ``resolve_repo_id``.
    allow_local_folder: False refuses a PathLike and reads every string as a name or repo id
        (for text typed into an app, which must not reach the file system).
    names: the short names to list when a string without '/' is none of these (default: the aliases).

    Raises ValueError for an unknown short name, a malformed repo id or a refused folder.
    """
    if isinstance(source, str) and source in HUB_ALIASES:
        return "alias", source
    if isinstance(source, os.PathLike):
        if not allow_local_folder:
            raise ValueError("local folders are not allowed here; give a model name or a Hub repo id")
        return "folder", Path(source).expanduser()
    if not isinstance(source, str):
        raise ValueError(f"model must be a name, a Hub repo id or a folder; got {type(source).__name__}")
    if allow_local_folder and Path(source).expanduser().is_dir():
        return "folder", Path(source).expanduser()
    if "/" not in source:
        listed = ", ".join(HUB_ALIASES if names is None else names)
        raise ValueError(f"unknown model {source!r}: give one of {listed}, a Hub repo id ('org/name') or a folder")
    return "repo", resolve_repo_id(source)


def fetch(repo_id: str, files: list[str], subfolder: str | None = None, revision: str | None = None,
          cache_dir=None) -> Path:
    """Local folder (in the Hugging Face cache) holding those of ``files`` (glob patterns relative
    to ``subfolder``) that the repo has, from the cache or downloaded; nothing else of the repo.

    Raises ModelUnavailableError, naming the repo and the command that fetches it, when the repo
    is neither cached nor reachable (or is private, gated, unknown), ValueError for an unknown
    revision."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError, HfHubHTTPError, IncompleteSnapshotError, LocalEntryNotFoundError, OfflineModeIsEnabled,
        RepositoryNotFoundError, RevisionNotFoundError,
    )

    prefix = f"{subfolder.strip('/')}/" if subfolder else ""
    fetch_command = f"hf download {repo_id}" + (f" --revision {revision}" if revision else "")
    try:
        folder = snapshot_download(repo_id, revision=revision, cache_dir=cache_dir,
                                   allow_patterns=[prefix + name for name in files])
    except (RepositoryNotFoundError, GatedRepoError):
        raise ModelUnavailableError(
            f"the Hub has no model {quoted(repo_id)}, or it is private or gated: check the repo id; for a "
            "private or gated repo log in first (`hf auth login`)"
        ) from None
    except RevisionNotFoundError:
        raise ValueError(f"repo {quoted(repo_id)} has no revision {revision!r}") from None
    except IncompleteSnapshotError:
        raise ModelUnavailableError(
            f"the cached copy of {quoted(repo_id)} is incomplete and the Hub cannot be reached to finish it: "
            f"connect and run `{fetch_command}`"
        ) from None
    except (LocalEntryNotFoundError, OfflineModeIsEnabled, HfHubHTTPError) as error:
        offline = isinstance(error, OfflineModeIsEnabled) or isinstance(error.__cause__, OfflineModeIsEnabled)
        why = ("HF_HUB_OFFLINE is set" if offline else "the Hugging Face Hub could not be reached")
        raise ModelUnavailableError(
            f"model {quoted(repo_id)} is not in the local Hugging Face cache and {why}: connect to the "
            f"internet{' and unset HF_HUB_OFFLINE' if offline else ''}, or download it beforehand "
            f"while connected with `{fetch_command}` ({type(error).__name__})"
        ) from None
    return Path(folder) / prefix


def in_local_cache(repo_id: str, subfolder: str | None = None, revision: str | None = None, cache_dir=None) -> bool:
    """Whether the local Hugging Face cache holds ``repo_id``'s config.json and single-file
    safetensors weights (``WEIGHTS_NAME``) at ``revision`` (default: the main branch), so that
    loading it downloads nothing. Reads the cache only (``HF_HUB_CACHE``, else ``HF_HOME``'s
    hub/, or ``cache_dir``); never asks the Hub."""
    from huggingface_hub import try_to_load_from_cache

    prefix = f"{subfolder.strip('/')}/" if subfolder else ""
    return all(isinstance(try_to_load_from_cache(repo_id, prefix + name, cache_dir=cache_dir, revision=revision), str)
               for name in ("config.json", WEIGHTS_NAME))


def _download(repo_id: str, subfolder: str | None, revision: str | None, cache_dir) -> Path:
    """Local folder holding the repo's config.json and safetensors weights (from the cache or the Hub)."""
    # Only the config and safetensors weights: never pickles, and none of the other files a
    # full pipeline repo holds (unet, text encoder ...).
    return fetch(repo_id, DIFFUSERS_FILES, subfolder, revision, cache_dir)


def check_subfolder(subfolder) -> None:
    """Refuse a ``subfolder`` that is not a relative folder inside a repo (None is fine)."""
    if subfolder is not None and (not isinstance(subfolder, str) or ".." in subfolder.split("/")
                                  or subfolder.startswith("/")):
        raise ValueError(f"subfolder must be a relative folder inside the repo such as 'vae'; got {subfolder!r}")


def read_config(folder: Path, source: str) -> dict:
    """``folder``'s config.json as a dict; a ValueError naming ``source`` when it is missing or not JSON."""
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise ValueError(
            f"{source!r} has no config.json{' in ' + folder.name if folder.name else ''}: not a model "
            "folder (for a full pipeline repo pass subfolder='vae')"
        )
    try:
        config = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"the config.json of {source!r} is not valid JSON: {error}") from None
    if not isinstance(config, dict):
        raise ValueError(f"the config.json of {source!r} is not a JSON object")
    return config


def check_class(config: dict, source: str) -> str:
    """The diffusers class named by ``config`` if it is a supported VAE, else a ValueError."""
    class_name = config.get("_class_name")
    if class_name not in SUPPORTED_CLASSES:
        raise ValueError(
            f"{source!r} holds a {class_name or 'model without _class_name'}; supported VAE classes are "
            f"{', '.join(SUPPORTED_CLASSES)}"
        )
    return class_name


def _check_folder(folder: Path, source: str) -> dict:
    """Read and check ``folder``'s config.json; return it. Refuse folders without safetensors weights."""
    config = read_config(folder, source)
    check_class(config, source)
    if not ((folder / WEIGHTS_NAME).is_file() or (folder / WEIGHTS_INDEX_NAME).is_file()):
        pickles = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
        found = f" (found only {', '.join(pickles)})" if pickles else ""
        raise ValueError(
            f"{source!r} has no safetensors weights ({WEIGHTS_NAME}){found}; latent-bridge loads "
            "safetensors only and never pickle files, which can run code when read"
        )
    return config


def _locate(source, subfolder, revision, cache_dir,
            allow_local_folder: bool) -> tuple[Path, str | None, str, str | None]:
    """(folder holding config.json, repo id or None for a local folder, label, alias description)."""
    kind, where = resolve_source(source, allow_local_folder=allow_local_folder)
    if kind == "alias":
        repo_id, alias_subfolder, description = HUB_ALIASES[where]
        return _download(repo_id, subfolder or alias_subfolder, revision, cache_dir), repo_id, where, description
    if kind == "folder":
        if revision is not None:
            raise ValueError("revision applies to Hub repos, not to a local folder")
        return (where / subfolder if subfolder else where), None, where.name or str(source), None
    return _download(where, subfolder, revision, cache_dir), where, where, None


class HubVAE:
    """A diffusers ``AutoencoderKL`` or ``AutoencoderTiny`` behind the latent-bridge VAE protocol.

    Latents on the prior's scale are ``(z_raw - shift_factor) * scaling_factor`` (per channel
    ``(z_raw - latents_mean) * scaling_factor / latents_std`` where the config has those), the
    transform diffusers' pipelines apply before their diffusion model. Images are [0, 1] here,
    [-1, 1] inside diffusers.

    A convolutional VAE takes images of any shape whose sides are multiples of its
    ``downsampling``: ``image_shape`` is the (height, width) this object encodes and decodes,
    ``image_size`` its longer side, and ``with_image_shape(h, w)`` gives the same model (shared
    weights, nothing copied) at another shape, ``shape_for(width, height)`` the shape that keeps
    a photo's aspect ratio at this longer side.
    """

    resizable = True

    def __init__(self, model, *, name: str, description: str, image_size: int,
                 fast_decoder: "HubVAE | None" = None, precision: Precision | None = None,
                 tiling: bool | None = None):
        self.model = model.eval().requires_grad_(False)
        config = model.config
        self.kind = type(model).__name__
        self.name = name
        self.description = description
        self.channels = int(config.in_channels)
        blocks = config.block_out_channels if self.kind == "AutoencoderKL" else config.encoder_block_out_channels
        self.downsampling = 2 ** (len(blocks) - 1)
        self.latent_channels = int(config.latent_channels)
        self.scaling_factor = float(config.scaling_factor)
        self.shift_factor = float(config.get("shift_factor") or 0.0)
        mean, std = config.get("latents_mean"), config.get("latents_std")
        channel = (1, -1, 1, 1)
        self._latents_mean = None if mean is None else torch.tensor(mean, dtype=torch.float32).view(channel)
        self._latents_std = None if std is None else torch.tensor(std, dtype=torch.float32).view(channel)
        self.precision = precision or Precision(self.device, self.dtype, False)
        self.tiling = tiling
        self.fast_decoder = fast_decoder
        self.has_fast_decoder = fast_decoder is not None
        self._set_shape(image_size, image_size)

    def _set_shape(self, height: int, width: int) -> None:
        for label, side in (("height", height), ("width", width)):
            check_whole(label, side, self.downsampling, why=" (pixels)")
            if side % self.downsampling:
                raise ValueError(
                    f"image {label} must be a multiple of {self.downsampling} for {self.name} (it downsamples "
                    f"{self.downsampling}x); got {side}"
                )
        self.image_shape = (int(height), int(width))
        self.image_size = max(self.image_shape)
        self.latent_shape = (self.latent_channels, height // self.downsampling, width // self.downsampling)

    def with_image_shape(self, height: int, width: int) -> "HubVAE":
        """This model (the same weights) for images of ``height`` x ``width`` pixels, each a
        multiple of ``downsampling``; its fast decoder follows."""
        if (height, width) == self.image_shape:
            return self
        other = copy.copy(self)
        other._set_shape(height, width)
        if self.fast_decoder is not None:
            other.fast_decoder = self.fast_decoder.with_image_shape(height, width)
        return other

    def shape_for(self, width: int, height: int, longest: int | None = None) -> tuple[int, int]:
        """(height, width) for a photo of ``width`` x ``height`` pixels: the longer side
        ``longest`` (default ``image_size``), the shorter one in proportion, both rounded to
        multiples of ``downsampling`` (at least one block)."""
        longest = self.image_size if longest is None else check_whole("image size", longest, self.downsampling)
        return fit_shape(width, height, longest, self.downsampling)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    def __repr__(self) -> str:
        return (f"HubVAE({self.name!r}, {self.kind}, image_shape={self.image_shape}, "
                f"latent_shape={self.latent_shape}, precision={str(self.precision)!r})")

    def to_prior_scale(self, raw: torch.Tensor) -> torch.Tensor:
        """diffusers' raw latent (B, C, h, w) -> the prior's scale (float32)."""
        raw = raw.float()
        if self._latents_mean is not None and self._latents_std is not None:
            mean, std = self._latents_mean.to(raw.device), self._latents_std.to(raw.device)
            return (raw - mean) * self.scaling_factor / std
        return (raw - self.shift_factor) * self.scaling_factor

    def from_prior_scale(self, latents: torch.Tensor) -> torch.Tensor:
        """Inverse of ``to_prior_scale``: latents on the prior's scale -> diffusers' raw latent (float32)."""
        latents = latents.float()
        if self._latents_mean is not None and self._latents_std is not None:
            mean, std = self._latents_mean.to(latents.device), self._latents_std.to(latents.device)
            return latents * std / self.scaling_factor + mean
        return latents / self.scaling_factor + self.shift_factor

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        """An input batch on the model's device, in its dtype and memory format; tiling set
        for this object's shape (it shares its model with its other shapes)."""
        self.model.use_tiling = self.tiling if self.tiling is not None else self.image_size > TILING_ABOVE
        x = x.to(self.device, self.dtype)
        return x.contiguous(memory_format=torch.channels_last) if self.precision.channels_last else x

    @torch.inference_mode()
    def encode(self, images: torch.Tensor, sample: bool = False,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """images: float (B, channels, *image_shape) in [0, 1] -> float32 (B, *latent_shape).

        Latents are on the prior's scale, on the images' device. ``sample=True`` draws from the
        KL posterior with ``generator``; TAESD's encoder is deterministic, so for it ``sample``
        changes nothing.
        """
        check_images(images, self.channels, self.image_shape)
        x = self._prepare(images * 2 - 1)
        if self.kind == "AutoencoderTiny":
            raw = self.model.encode(x).latents
        else:
            posterior = self.model.encode(x).latent_dist
            raw = posterior.mean
            if sample:
                # Noise drawn on the generator's device in float32, so a seed gives the same
                # draw on CPU and GPU.
                noise_device = generator.device if generator is not None else torch.device("cpu")
                noise = torch.randn(raw.shape, generator=generator, device=noise_device, dtype=torch.float32)
                raw = raw.float() + posterior.std.float() * noise.to(raw.device)
        return self.to_prior_scale(raw).to(images.device).contiguous()

    @torch.inference_mode()
    def decode(self, latents: torch.Tensor, fast: bool = False) -> torch.Tensor:
        """latents: float (B, *latent_shape) on the prior's scale -> float32 (B, C, *image_shape) in [0, 1].

        ``fast=True`` decodes with the paired tiny decoder when there is one
        (``has_fast_decoder``), for previews; without one it uses this model's own decoder.
        """
        if fast and self.fast_decoder is not None:
            return self.fast_decoder.decode(latents)
        check_latents(latents, self.latent_shape)
        raw = self._prepare(self.from_prior_scale(latents.to(self.device)))
        images = self.model.decode(raw).sample
        return ((images.float() + 1) / 2).clamp_(0, 1).to(latents.device).contiguous()

    def training_latents(self) -> None:
        """Hub models ship no encoded training set."""
        return None

    def example_images(self) -> list:
        """Hub models ship no example images."""
        return []


def float16_safe(config) -> bool:
    """Whether a diffusers VAE decodes correctly in float16: TAESD-style tiny autoencoders do,
    a KL-VAE only where its config says ``force_upcast: false`` (the fp16-fix SDXL VAE);
    others overflow float16 inside the decoder (diffusers' own pipelines upcast them)."""
    if config.get("_class_name") == "AutoencoderTiny":
        return True
    return config.get("force_upcast", True) is False


def load_hub(source: str | os.PathLike, *, name: str | None = None, description: str | None = None,
             subfolder: str | None = None, revision: str | None = None, image_size: int = DEFAULT_IMAGE_SIZE,
             device="auto", dtype="auto", channels_last: bool | None = None, tiling: bool | None = None,
             slicing: bool = True, fast_decoder: str | bool | None = None,
             cache_dir: str | os.PathLike | None = None, allow_local_folder: bool = True) -> HubVAE:
    """Load a diffusers VAE from a Hub repo id (or alias) or a local folder.

    source: an alias of ``HUB_ALIASES`` ("sd-vae", "taesd", ...), a repo id ("org/name"), or a
        ``pathlib.Path`` / existing folder holding a diffusers ``config.json`` and safetensors weights.
    subfolder: the VAE's folder inside a pipeline repo (e.g. "vae"). revision: branch, tag or commit.
    image_size: side of the square images, a multiple of the model's downsampling (8 for SD);
        ``vae.with_image_shape(h, w)`` gives other shapes without loading again.
    device: "auto" (default: CUDA when there is a GPU), "cpu", "cuda" or "cuda:N".
    dtype: "auto" (default: the fastest precision safe for this VAE on this device, see
        ``models/device.py``), "float32", "bfloat16", or "float16" (CUDA only).
    channels_last: activations in channels-last memory; None (default) where it pays (CPU).
    tiling: decode tile by tile; default on when the longer side > 512. slicing: one image of a
        batch at a time (bounds memory; default on).
    fast_decoder: a tiny VAE in the same latent space ("taesd" for "sd-vae") used by
        ``decode(z, fast=True)``; True picks the known one for the SD and SDXL VAEs.
    cache_dir: the Hugging Face cache to use (default: HF_HUB_CACHE / HF_HOME).
    allow_local_folder: False reads a string as an alias or repo id only, never as a folder.
    """
    from diffusers import AutoencoderKL, AutoencoderTiny

    check_whole("image_size", image_size, 8, why=" (pixels)")
    check_subfolder(subfolder)
    pick_precision(device, "float32" if dtype == "auto" else dtype, channels_last)  # bad options fail first

    folder, repo_id, label, alias_description = _locate(source, subfolder, revision, cache_dir, allow_local_folder)
    description = description or alias_description
    config = _check_folder(folder, label)
    precision = pick_precision(device, dtype, channels_last, float16_safe=float16_safe(config))

    model_class = {"AutoencoderKL": AutoencoderKL, "AutoencoderTiny": AutoencoderTiny}[config["_class_name"]]
    # low_cpu_mem_usage needs accelerate (not a dependency): ask for the plain path, no warning.
    model = model_class.from_pretrained(folder, use_safetensors=True, torch_dtype=precision.dtype,
                                        low_cpu_mem_usage=False)
    model = model.to(precision.device)
    if precision.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if slicing:
        model.enable_slicing()

    paired = None
    if fast_decoder is True:
        fast_decoder = FAST_DECODER_FOR.get(repo_id)
        if fast_decoder is None:
            raise ValueError(f"no known fast decoder for {label!r}; name one, e.g. fast_decoder='taesd'")
    if fast_decoder is not None:
        # The tiny decoder takes its own safe precision (float16 on CUDA where the KL-VAE may not).
        paired = load_hub(fast_decoder, image_size=image_size, device=device, dtype=dtype,
                          channels_last=channels_last, tiling=tiling, slicing=slicing, cache_dir=cache_dir,
                          allow_local_folder=allow_local_folder)
        if paired.kind != "AutoencoderTiny":
            raise ValueError(
                f"fast_decoder must be a tiny autoencoder (AutoencoderTiny); {fast_decoder!r} is {paired.kind}"
            )
    vae = HubVAE(model, name=name or label, description="", image_size=image_size, fast_decoder=paired,
                 precision=precision, tiling=tiling)
    vae.model.use_tiling = tiling if tiling is not None else image_size > TILING_ABOVE
    if paired is not None and (paired.latent_shape != vae.latent_shape or paired.channels != vae.channels):
        raise ValueError(
            f"fast_decoder {fast_decoder!r} does not share {vae.name!r}'s latent space: latents "
            f"{paired.latent_shape} vs {vae.latent_shape}"
        )
    vae.description = description or (
        f"{vae.kind} from {label}, {'x'.join(map(str, vae.latent_shape))} latents at {image_size} px")
    return vae
