"""The cache's index: which files the app's uploads and results hold, whose they are, and room
reserved before anything is written, so the disk budget holds however many requests arrive at
once and no request walks the whole cache.

Making room, in this order (a file no page needs goes before one a page may still show):

1. past a visitor's own share, that visitor's own files older than a minute go, oldest first
   (their fresh upload or result stays); still past it: HTTP 429 for them alone;
2. past the cache's budget, files whose every owner has left (no page open, no request for two
   minutes: ``Activity.holds_a_page``) go, oldest first; then files older than ten minutes,
   anyone's, oldest first; never the example images. Still past it: HTTP 507.

Files the app did not index (Gradio's own copies of results, files left by a crash) are found
by a walk of the cache at most every five minutes, and count from then on, owned by nobody.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .storage import walk, inside


# The running server's index (``ui.launch`` sets it): None where no server guards the cache.
CURRENT: "CacheIndex | None" = None


class Refused(Exception):
    """A request the cache cannot take: ``status`` (429: the visitor's share; 507: the cache)
    and a message for the visitor."""

    def __init__(self, status: int, text: str):
        super().__init__(text)
        self.status, self.text = status, text


@dataclass
class Entry:
    size: int
    mtime: float
    owners: set = field(default_factory=set)


@dataclass
class Reservation:
    """Room held for files not written yet: ``size`` bytes and ``files`` files for ``visitor``;
    ``folder`` and ``done`` for a render's results (measured once ``done()`` is true)."""

    visitor: str
    size: int
    files: int
    folder: Path | None = None
    done: Callable[[], bool] | None = None


class CacheIndex:
    """The files under ``root()`` (a function: Gradio's cache is known once it runs).

    budget, most_files: the whole cache; visitor_bytes, visitor_files: one visitor's share;
    keep: a function returning paths never evicted (the examples); holds: a function telling
    whether a visitor still has a page open (``Activity.holds_a_page``)."""

    def __init__(self, root: Callable[[], str | os.PathLike], *, budget: int, most_files: int,
                 visitor_bytes: int, visitor_files: int, keep=lambda: (), holds=lambda visitor: False,
                 rescan_seconds: float = 300.0, min_age: float = 600.0, own_age: float = 60.0):
        self.root, self.keep, self.holds = root, keep, holds
        self.budget, self.most_files = budget, most_files
        self.visitor_bytes, self.visitor_files = visitor_bytes, visitor_files
        self.rescan_seconds, self.min_age, self.own_age = rescan_seconds, min_age, own_age
        self.entries: dict[str, Entry] = {}
        self.reservations: list[Reservation] = []
        self.total = 0  # bytes of the entries
        self.owned: dict[str, list[int]] = {}  # visitor: [bytes, files] of their entries
        self.lock = threading.Lock()
        self.last_scan = -float("inf")
        self.peak = 0

    # -- what is used

    def usage(self) -> tuple[int, int]:
        """(bytes, files) of the indexed files and the room reserved."""
        return (self.total + sum(r.size for r in self.reservations),
                len(self.entries) + sum(r.files for r in self.reservations))

    def share(self, visitor: str) -> tuple[int, int]:
        """(bytes, files) ``visitor`` holds: their files and their reservations."""
        size, files = self.owned.get(visitor, (0, 0))
        held = [r for r in self.reservations if r.visitor == visitor]
        return size + sum(r.size for r in held), files + sum(r.files for r in held)

    def owns(self, visitor: str, path: str | os.PathLike) -> bool:
        entry = self.entries.get(os.path.realpath(path))
        return entry is not None and visitor in entry.owners

    def readable_by(self, visitor: str, path: str | os.PathLike) -> bool:
        """Whether ``visitor`` may have ``path`` read for them: outside the cache, yes (Gradio
        has already refused what it does not serve); inside it, only their own uploads and the
        examples. Decided without touching the file, so whether a file exists there says
        nothing to anyone else."""
        resolved = os.path.realpath(path)
        if not Path(resolved).is_relative_to(os.path.realpath(self.root())):
            return True
        return self.owns(visitor, resolved) or resolved in {os.path.realpath(p) for p in self.keep()}

    # -- reserving, settling

    def reserve(self, visitor: str, size: int, files: int, folder=None, done=None) -> Reservation:
        """Room for ``size`` bytes in ``files`` files, made by evicting if needed (see the
        module's docstring); a ``Refused`` when there is none."""
        with self.lock:
            self._settle_finished()
            if time.monotonic() - self.last_scan > self.rescan_seconds:
                self._rescan()
            now = time.time()
            if not self._fits_share(visitor, size, files):
                self._evict(lambda p, e: visitor in e.owners and now - e.mtime > self.own_age,
                            lambda: self._fits_share(visitor, size, files))
            if not self._fits_share(visitor, size, files):
                used, count = self.share(visitor)
                raise Refused(429, f"your share of the server's disk is full ({used / 1e6:.0f} MB in {count} "
                                   f"files; at most {self.visitor_bytes / 1e6:.0f} MB and {self.visitor_files} "
                                   "files a visitor): wait a minute, or close the app's other tabs")
            kept = {os.path.realpath(p) for p in self.keep()}
            for evictable in (lambda p, e: not any(self.holds(o) for o in e.owners) and e.owners,
                              lambda p, e: now - e.mtime > self.min_age):
                if not self._fits(size, files):
                    self._evict(lambda p, e: p not in kept and evictable(p, e), lambda: self._fits(size, files))
            if not self._fits(size, files):
                raise Refused(507, "the server's space for files is full (its files are kept for a while for "
                                   "the visitors who made them): try again in a few minutes")
            reservation = Reservation(visitor, size, files, folder, done)
            self.reservations.append(reservation)
            self.peak = max(self.peak, self.usage()[0])
            return reservation

    def settle(self, reservation: Reservation, paths) -> None:
        """The reserved files are written (``paths``): index them for the visitor instead."""
        with self.lock:
            self._drop(reservation)
            self._add(reservation.visitor, paths)

    def release(self, reservation: Reservation) -> None:
        with self.lock:
            self._drop(reservation)

    def forget(self, paths) -> None:
        """Files removed by the caller (a refused upload's): out of the index."""
        with self.lock:
            for path in paths:
                self._remove(os.path.realpath(path))

    # -- inside the lock

    def _fits(self, size: int, files: int) -> bool:
        used, count = self.usage()
        return used + size <= self.budget and count + files <= self.most_files

    def _fits_share(self, visitor: str, size: int, files: int) -> bool:
        used, count = self.share(visitor)
        return used + size <= self.visitor_bytes and count + files <= self.visitor_files

    def _drop(self, reservation: Reservation) -> None:
        if reservation in self.reservations:
            self.reservations.remove(reservation)

    def _add(self, visitor: str | None, paths) -> None:
        for path in paths:
            path = os.path.realpath(path)
            try:
                info = os.lstat(path)
            except OSError:
                continue
            owners = self._remove(path) | ({visitor} if visitor is not None else set())
            self._put(path, Entry(info.st_size, info.st_mtime, owners))
        self.peak = max(self.peak, self.usage()[0])

    def _put(self, path: str, entry: Entry) -> None:
        self.entries[path] = entry
        self.total += entry.size
        for owner in entry.owners:
            counts = self.owned.setdefault(owner, [0, 0])
            counts[0] += entry.size
            counts[1] += 1

    def _remove(self, path: str) -> set:
        """Out of the index (the file is left as it is); returns its owners."""
        entry = self.entries.pop(path, None)
        if entry is None:
            return set()
        self.total -= entry.size
        for owner in entry.owners:
            counts = self.owned[owner]
            counts[0] -= entry.size
            counts[1] -= 1
            if counts[1] <= 0:
                del self.owned[owner]
        return entry.owners

    def _settle_finished(self) -> None:
        for reservation in [r for r in self.reservations if r.done is not None and r.done()]:
            self._drop(reservation)
            if reservation.folder is not None and Path(reservation.folder).is_dir():
                self._add(reservation.visitor, [p for p in Path(reservation.folder).rglob("*") if p.is_file()])

    def _evict(self, evictable, enough) -> None:
        """Delete evictable entries, oldest first, until ``enough()``."""
        base = Path(os.path.realpath(self.root()))
        for path, entry in sorted(self.entries.items(), key=lambda item: item[1].mtime):
            if enough():
                return
            if not evictable(path, entry):
                continue
            try:
                os.unlink(inside(base, path))
            except FileNotFoundError:
                pass
            except (OSError, ValueError):
                continue
            self._remove(path)

    def _rescan(self) -> None:
        """Walk the cache once: index the files nobody indexed, forget the ones gone."""
        self.last_scan = time.monotonic()
        base = Path(os.path.realpath(self.root()))
        found = {path: (mtime, size) for mtime, size, path in walk(base, time.time())}
        for path in [p for p in self.entries if p not in found]:
            self._remove(path)
        for path, (mtime, size) in sorted(found.items(), key=lambda item: item[1][0]):
            if path not in self.entries:
                self._put(path, Entry(size, mtime))
        self.peak = max(self.peak, self.usage()[0])
