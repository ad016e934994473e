"""Checkpoint folders onto the Hugging Face Hub: ``push_checkpoint(folder, "org/name")``, and
``push_embedded("org")`` for the three shipped models (``org/latent-bridge-digits``, ...).

Each push creates the model repo (if it is not there yet) and uploads the folder as one commit
with huggingface_hub; ``lb.models.load("org/name")`` then loads it anywhere. ``api`` is the
``HfApi`` to use (tests pass a stand-in); without a token or a network each push ends in one
ValueError saying what to do.
"""

from __future__ import annotations

from pathlib import Path

from .checkpoints import CHECKPOINTS_DIR
from .models import EMBEDDED, ModelUnavailableError, resolve_repo_id
from .models.remote import network_errors

__all__ = ["EMBEDDED_REPO_PREFIX", "embedded_repo_id", "push_checkpoint", "push_embedded"]

EMBEDDED_REPO_PREFIX = "latent-bridge-"
# Files of a checkpoint folder that go to the Hub (what ``load`` reads, the card and the grid).
UPLOADED = ["config.json", "model.safetensors", "latents.safetensors", "metrics.json", "README.md",
            "examples/*.png", "preview.png"]


def embedded_repo_id(org: str, name: str) -> str:
    """The repo id the embedded model ``name`` is published under: "org/latent-bridge-NAME"."""
    return resolve_repo_id(f"{org}/{EMBEDDED_REPO_PREFIX}{name}")


def push_checkpoint(folder: str | Path, repo_id: str, *, api=None, private: bool = False,
                    message: str = "Upload a latent-bridge VAE") -> str:
    """Create ``repo_id`` (a model repo) if needed and upload the checkpoint ``folder`` to it.

    folder: a checkpoint written by ``latent_bridge.train`` (config.json, model.safetensors, ...).
    Returns the repo's URL. Raises ValueError for a malformed repo id or a folder that is not a
    checkpoint, ModelUnavailableError (a ValueError) without a token or a network.
    """
    from huggingface_hub.errors import HfHubHTTPError, LocalTokenNotFoundError, OfflineModeIsEnabled

    repo_id = resolve_repo_id(repo_id)
    folder = Path(folder)
    missing = [name for name in ("config.json", "model.safetensors") if not (folder / name).is_file()]
    if missing:
        raise ValueError(f"{str(folder)!r} is not a checkpoint folder: it lacks {', '.join(missing)}")
    if api is None:
        from huggingface_hub import HfApi, get_token

        if get_token() is None:
            raise ModelUnavailableError(f"cannot push to {repo_id!r}: no Hugging Face token here; log in with "
                                        "`hf auth login` or set HF_TOKEN (a token with write access)")
        api = HfApi()
    try:
        url = api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        api.upload_folder(repo_id=repo_id, folder_path=str(folder), repo_type="model",
                          allow_patterns=UPLOADED, commit_message=message)
    except LocalTokenNotFoundError:
        raise ModelUnavailableError(f"cannot push to {repo_id!r}: no Hugging Face token here; log in with "
                                    "`hf auth login` or set HF_TOKEN") from None
    except OfflineModeIsEnabled:
        raise ModelUnavailableError(f"cannot push to {repo_id!r}: HF_HUB_OFFLINE is set; unset it and connect") \
            from None
    except HfHubHTTPError as error:
        status = getattr(getattr(error, "response", None), "status_code", None)
        why = ("the token may not write there (check the organisation and the token's rights)"
               if status in (401, 403) else f"the Hub answered {status}")
        raise ModelUnavailableError(f"cannot push to {repo_id!r}: {why}") from None
    except network_errors() as error:  # connection refused, no route, DNS
        raise ModelUnavailableError(f"cannot push to {repo_id!r}: the Hugging Face Hub could not be reached "
                                    f"({type(error).__name__}); connect and try again") from None
    return str(url)


def push_embedded(org: str, *, api=None, private: bool = False, names=None) -> dict[str, str]:
    """Publish the shipped models (``names``, default all three) as "org/latent-bridge-NAME";
    returns {name: repo id}."""
    names = list(EMBEDDED) if names is None else list(names)
    repos = {name: embedded_repo_id(org, name) for name in names}  # every id checked before any upload
    for name, repo_id in repos.items():
        if name not in EMBEDDED:
            raise ValueError(f"unknown embedded model {name!r}; they are {', '.join(EMBEDDED)}")
        push_checkpoint(CHECKPOINTS_DIR / name, repo_id, api=api, private=private,
                        message=f"Upload the latent-bridge {name} VAE")
    return repos
