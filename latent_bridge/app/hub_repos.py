"""Hub repos typed by a visitor: text, never a path; checked on the Hub's file list before any
download (``models.check_remote``), loaded at the checked commit; the disk they take bounded.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from typing import Any

from .. import models
from .limits import LIMITS

ALLOW_ANY_REPO_VARIABLE = "LATENT_BRIDGE_ALLOW_ANY_REPO"
# What answers model_info (None: huggingface_hub.HfApi()); tests put a stand-in here.
HUB_API = None
# Recent checks: {repo id: (RemoteModel, when)}, at most _CHECKED_MOST, each good _CHECKED_SECONDS.
_CHECKED: dict = {}
_CHECKED_MOST, _CHECKED_SECONDS = 64, 600.0
_CHECKED_LOCK = threading.Lock()


def allow_any_repo(environ=os.environ) -> bool:
    """Whether the app takes a Hub repo id typed by a visitor: on unless the variable
    ``LATENT_BRIDGE_ALLOW_ANY_REPO`` is "0", "false", "no" or "off"."""
    return environ.get(ALLOW_ANY_REPO_VARIABLE, "1").strip().lower() not in ("0", "false", "no", "off")


def typed_repo_id(text: Any) -> str:
    """``text`` as a well-formed Hub repo id ('org/name', surrounding spaces dropped), else a
    ValueError: checked before anything else, so a path, a URL or a folder never goes further."""
    if not isinstance(text, str):
        raise ValueError(f"a Hub repo id is text such as 'org/name'; got {type(text).__name__}")
    repo_id = text.strip()
    if len(repo_id) > LIMITS.repo_id_chars:
        raise ValueError(f"a Hub repo id is at most {LIMITS.repo_id_chars} characters ('org/name'); got "
                         f"{len(repo_id)}")
    return models.resolve_repo_id(repo_id)


def check_typed_repo(text: Any, *, api=None) -> "models.RemoteModel":
    """A repo id typed into the app, checked: well formed (never a path, a URL or a folder
    here), and on the Hub a VAE latent-bridge loads, safetensors only, within
    ``LIMITS.repo_bytes``. Answers are remembered a few minutes (a render asks again).

    Raises ValueError (ModelUnavailableError when the Hub cannot be asked) naming what is wrong.
    """
    if not allow_any_repo():
        raise ValueError("this app loads only its listed models (Hub repo ids are switched off here)")
    repo_id = typed_repo_id(text)
    now = time.monotonic()
    with _CHECKED_LOCK:
        found = _CHECKED.get(repo_id)
        if found is not None and now - found[1] < _CHECKED_SECONDS:
            return found[0]
    remote = models.check_remote(repo_id, api=api if api is not None else HUB_API, max_bytes=LIMITS.repo_bytes)
    with _CHECKED_LOCK:
        _CHECKED[repo_id] = (remote, now)
        while len(_CHECKED) > _CHECKED_MOST:
            _CHECKED.pop(next(iter(_CHECKED)))
    return remote


def cached_before(remote: "models.RemoteModel", cache_dir=None) -> bool:
    """Whether the checked repo's config is in the local Hugging Face cache already (then it is
    not the app's download, and ``trim_typed_repos`` must leave it alone)."""
    from huggingface_hub import try_to_load_from_cache

    name = f"{remote.subfolder}/config.json" if remote.subfolder else "config.json"
    return isinstance(try_to_load_from_cache(remote.repo_id, name, cache_dir=cache_dir, revision=remote.commit), str)


def typed_repo_kind(name: Any) -> str | None:
    """"diffusers" or "latent-bridge" for a repo id checked lately, else None (never asks the Hub)."""
    with _CHECKED_LOCK:
        found = _CHECKED.get(name) if isinstance(name, str) else None
    return found[0].kind if found is not None else None


def trim_typed_repos(budget: int, downloaded, keep=frozenset(), cache_dir=None) -> int:
    """Delete the least recently used of the Hub repos in ``downloaded`` (those this app fetched
    for typed repo ids and did not find in the cache before) other than those in ``keep`` (the
    loaded ones), while they take more than ``budget`` bytes; returns the bytes they take after.
    A visitor's repo ids thus cannot fill the disk, and nothing else in the cache (an operator's
    own models) is ever deleted."""
    from huggingface_hub import scan_cache_dir

    try:
        info = scan_cache_dir(cache_dir)
    except (OSError, ValueError):  # no cache yet, or one being written
        return 0
    others = sorted((repo for repo in info.repos if repo.repo_type == "model" and repo.repo_id in downloaded
                     and repo.repo_id not in keep), key=lambda repo: repo.last_accessed)
    total = sum(repo.size_on_disk for repo in others)
    for repo in others:
        if total <= budget:
            break
        # The whole repo folder: a commit hash names a revision in every repo that has it.
        shutil.rmtree(repo.repo_path, ignore_errors=True)
        total -= repo.size_on_disk
    return total
