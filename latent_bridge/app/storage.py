"""Files on the server: every folder name comes from the server, and every write and delete is
checked to stay inside the app's own folder (the cache's budget and index: ``cache``).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path
from typing import Any

# A key made at start-up: a session's folder is named by a keyed hash of Gradio's session hash
# (a string the client chooses), so no client value becomes a path, and a folder name seen in
# an output URL does not reveal the session hash that would let someone else delete it.
_SESSION_KEY = secrets.token_bytes(32)


def inside(root: str | os.PathLike, path: str | os.PathLike) -> Path:
    """``path`` resolved (symbolic links followed), if it lies strictly inside ``root``;
    otherwise a ValueError. Use it before every write or delete under ``root``."""
    base = Path(os.path.realpath(root))
    resolved = Path(os.path.realpath(path))
    if resolved == base or not resolved.is_relative_to(base):
        raise ValueError("refused: a file path outside the app's own folder")
    return resolved


def session_folder(root: str | os.PathLike, session_hash: Any) -> Path:
    """The folder under ``root`` for one visitor's files: 32 hex digits from a keyed hash of
    ``session_hash`` (whatever the client sent: "..", "/var/tmp/x", None, a list), so two
    sessions never share a folder and none lies outside ``root``."""
    text = session_hash if isinstance(session_hash, str) else ""
    digest = hmac.new(_SESSION_KEY, text.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
    return inside(root, Path(root) / digest[:32])


def folder_size(root: str | os.PathLike) -> int:
    """Bytes of the regular files under ``root`` (links not followed); 0 if it is missing."""
    total = 0
    for folder, _, files in os.walk(root):
        for name in files:
            try:
                info = os.lstat(os.path.join(folder, name))
            except OSError:
                continue
            total += info.st_size if stat.S_ISREG(info.st_mode) else 0
    return total


def walk(base: Path, now: float) -> list[tuple[float, int, str]]:
    """(mtime, bytes, path) of every file under ``base``; removes the empty folders older than a
    minute on the way (what Gradio's ``delete_cache`` leaves behind)."""
    files = []
    for folder, subfolders, names in os.walk(base, topdown=False):
        for name in names:
            path = os.path.join(folder, name)
            try:
                info = os.lstat(path)
            except OSError:
                continue
            files.append((info.st_mtime, info.st_size, path))
        if folder != str(base) and not subfolders and not names:
            try:
                if now - os.lstat(folder).st_mtime > 60:
                    os.rmdir(folder)
            except OSError:
                pass
    return files
