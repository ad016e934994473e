"""Checks on a Hub repo before anything of it is downloaded, for repo ids typed by a visitor.

``check_remote("org/name")`` asks the Hub for the repo's file list with sizes
(``HfApi.model_info(..., files_metadata=True)``, one small request) and refuses, with a message
saying why, a malformed id, a repo without safetensors weights of a VAE latent-bridge loads (a
diffusers ``AutoencoderKL`` / ``AutoencoderTiny``, or a latent-bridge VAE), a repo holding only
pickle weights, and one whose files to download exceed ``max_bytes`` (1 GB by default). The
answer, a ``RemoteModel``, pins the commit it describes: ``load(repo_id, **remote.load_options())``
then downloads exactly the files that were checked, and the config's class is read before the
weights are fetched (``models.load``).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from ..checks import quoted
from .hub import (
    DIFFUSERS_FILES, PICKLE_SUFFIXES, WEIGHTS_INDEX_NAME, WEIGHTS_NAME, ModelUnavailableError, resolve_repo_id,
)

__all__ = ["MAX_REMOTE_BYTES", "MAX_REMOTE_FILES", "REMOTE_TIMEOUT", "SMALL_VAE_FILES", "RemoteModel", "check_remote",
           "network_errors"]

# The most a checked repo may download: SD's KL-VAE is 335 MB, SDXL's 335 MB, TAESD 10 MB.
MAX_REMOTE_BYTES = 10**9
REMOTE_TIMEOUT = 10.0  # seconds for the Hub's answer
# Files one load may download: a config, weights (sharded ones too) and a few example images.
MAX_REMOTE_FILES = 64
# What a latent-bridge VAE repo holds (``SmallVAE.save_pretrained`` and ``latent_bridge.train``):
# the weights and config, and what metrics, the latent map, fitted priors and the app's examples
# read (the encoded training set, the measured numbers, held-out example images) where present.
SMALL_VAE_FILES = ["config.json", "model.safetensors", "latents.safetensors", "metrics.json", "examples/*.png"]


@dataclass(frozen=True)
class RemoteModel:
    """What the Hub said about a repo that passed ``check_remote``.

    repo_id: "org/name". commit: the commit the file list describes (loads pin it).
    kind: "diffusers" or "latent-bridge". subfolder: where the VAE sits ("vae" in a pipeline
    repo), or None. files: {name: bytes} of the files a load downloads; download_bytes their sum.
    """

    repo_id: str
    commit: str
    kind: str
    subfolder: str | None
    files: tuple[tuple[str, int], ...]
    download_bytes: int

    def load_options(self) -> dict:
        """Options for ``lb.models.load(repo_id, **options)``: this commit, this subfolder."""
        return {"revision": self.commit, **({"subfolder": self.subfolder} if self.subfolder else {})}


def _kind(names: set[str], prefix: str) -> str | None:
    if prefix + "config.json" not in names:
        return None
    if prefix + WEIGHTS_NAME in names or prefix + WEIGHTS_INDEX_NAME in names:
        return "diffusers"
    if prefix + "model.safetensors" in names:
        return "latent-bridge"
    return None


def _matching(sizes: dict, patterns: list[str], prefix: str) -> dict:
    return {name: size for name, size in sizes.items()
            if any(fnmatch.fnmatchcase(name, prefix + pattern) for pattern in patterns)}


def network_errors() -> tuple[type, ...]:
    """What a failed request raises: OS-level errors, the Hub's HTTP errors, and the HTTP
    client's own (huggingface_hub's, whichever it uses)."""
    from huggingface_hub.errors import HfHubHTTPError

    errors: tuple[type, ...] = (OSError, HfHubHTTPError)
    for module in ("httpx2", "httpx", "requests"):
        try:
            errors += (__import__(module).HTTPError if module != "requests"
                       else __import__(module).RequestException,)
        except (ImportError, AttributeError):
            pass
    return errors


def _ask_hub(api, repo_id: str, revision: str | None, timeout: float):
    from huggingface_hub.errors import (
        GatedRepoError, OfflineModeIsEnabled, RepositoryNotFoundError, RevisionNotFoundError,
    )

    try:
        return api.model_info(repo_id, revision=revision, files_metadata=True, timeout=timeout)
    except (RepositoryNotFoundError, GatedRepoError):
        raise ModelUnavailableError(f"the Hub has no public model {quoted(repo_id)} (or it is private or gated): "
                                    "check the repo id") from None
    except RevisionNotFoundError:
        raise ValueError(f"repo {quoted(repo_id)} has no revision {revision!r}") from None
    except OfflineModeIsEnabled:
        raise ModelUnavailableError(f"cannot check {quoted(repo_id)}: the Hub is switched off here (HF_HUB_OFFLINE is "
                                    "set); use one of the listed models") from None
    except network_errors() as error:
        raise ModelUnavailableError(f"cannot check {quoted(repo_id)}: the Hugging Face Hub could not be reached "
                                    f"({type(error).__name__}); try again later or use one of the listed "
                                    "models") from None


def check_remote(repo_id: str, *, revision: str | None = None, api=None, max_bytes: int = MAX_REMOTE_BYTES,
                 timeout: float = REMOTE_TIMEOUT) -> RemoteModel:
    """Check a Hub repo from its file list before downloading anything of it.

    repo_id: "org/name", checked (``resolve_repo_id``) before the Hub is asked. revision: a
    branch, tag or commit (default: the main branch). api: what answers ``model_info`` (default
    ``huggingface_hub.HfApi()``; tests pass a stand-in). max_bytes: the most the load may
    download (and at most ``MAX_REMOTE_FILES`` files). timeout: seconds to wait for the Hub.

    Returns a ``RemoteModel``. Raises ValueError (what the repo lacks, or what is too large) or
    ModelUnavailableError (a ValueError: unknown, private or gated repo, Hub unreachable or
    switched off).
    """
    repo_id = resolve_repo_id(repo_id)
    if revision is not None and (not isinstance(revision, str) or not 0 < len(revision) <= 128
                                 or any(c.isspace() for c in revision)):
        raise ValueError(f"revision must be a branch, tag or commit name; got {revision!r}")
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi()
    info = _ask_hub(api, repo_id, revision, timeout)
    sizes = {sibling.rfilename: sibling.size for sibling in (getattr(info, "siblings", None) or [])}
    names = set(sizes)
    for subfolder in (None, "vae"):
        prefix = f"{subfolder}/" if subfolder else ""
        kind = _kind(names, prefix)
        if kind is not None:
            break
    else:
        pickles = sorted(name for name in names if name.endswith(PICKLE_SUFFIXES))
        if pickles:
            raise ValueError(f"{quoted(repo_id)} has weights only in pickle files ({', '.join(pickles[:3])}), which can run "
                             "code when read: latent-bridge loads safetensors only")
        raise ValueError(f"{quoted(repo_id)} holds no VAE latent-bridge can load: it needs config.json with "
                         f"{WEIGHTS_NAME} (a diffusers AutoencoderKL or AutoencoderTiny) or model.safetensors "
                         "(a latent-bridge VAE), at its top or in vae/")
    files = _matching(sizes, DIFFUSERS_FILES if kind == "diffusers" else SMALL_VAE_FILES, prefix)
    if len(files) > MAX_REMOTE_FILES:
        raise ValueError(f"{quoted(repo_id)} would download {len(files)} files, more than {MAX_REMOTE_FILES}: not a VAE "
                         "latent-bridge loads")
    unknown = sorted(name for name, size in files.items() if size is None)
    if unknown:
        raise ValueError(f"the Hub gave no size for {', '.join(unknown[:3])} of {quoted(repo_id)}: cannot bound the "
                         "download, so it is refused")
    total = sum(files.values())
    if total > max_bytes:
        raise ValueError(f"{quoted(repo_id)} would download {total / 1e6:,.0f} MB, above this limit of "
                         f"{max_bytes / 1e6:,.0f} MB: pick a smaller VAE")
    commit = getattr(info, "sha", None) or revision
    return RemoteModel(repo_id=repo_id, commit=commit, kind=kind, subfolder=subfolder,
                       files=tuple(sorted(files.items())), download_bytes=total)
