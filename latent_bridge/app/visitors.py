"""Who a request comes from, and what each visitor holds open: the bookkeeping behind the
per-visitor shares (``guards``) and the detection of work nobody waits for (``handlers``).

A visitor is a client address. On a Hugging Face Space (``SPACE_ID`` set) every connection
comes from the Space's proxy, which appends the client's address to ``X-Forwarded-For``: the
last entry is the one the proxy wrote (entries before it are whatever the client sent, so
they are never trusted). Elsewhere the header is the client's own word and is ignored: the
visitor is the socket's address as uvicorn gives it (uvicorn itself takes it from
``X-Forwarded-For`` when the connection comes from a proxy on 127.0.0.1, its
``forwarded_allow_ips`` default: a local user can name themselves as they like).
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter

# An event's results are wanted while a stream is open for its session or event, or for this
# long after it joined the queue (the time a client takes to open its stream after joining).
LISTEN_GRACE_SECONDS = 10.0


def on_a_space() -> bool:
    return bool(os.environ.get("SPACE_ID"))


def visitor_of(headers, client) -> str:
    """The visitor of a request: ``headers`` as ASGI gives them (a list of (bytes, bytes)) or
    a mapping of str; ``client`` the socket's (host, port) or None."""
    if on_a_space():
        if isinstance(headers, list):
            values = [v.decode("latin-1") for k, v in headers if k.lower() == b"x-forwarded-for"]
        else:
            values = [headers.get("x-forwarded-for") or ""]
        entries = [part.strip() for part in ",".join(values).split(",") if part.strip()]
        if entries:
            return entries[-1][:64]
    host = client[0] if client else None
    return str(host or "unknown")


LOOPBACK = frozenset({"127.0.0.1", "::1"})


def visitor_of_request(request) -> str:
    """The visitor of a Starlette / FastAPI request, or of a ``gr.Request``."""
    scope = getattr(getattr(request, "request", None) or request, "scope", None) or {}
    return visitor_of(scope.get("headers") or list(_header_pairs(request)), _client(request))


def _client(request):
    scope = getattr(getattr(request, "request", None) or request, "scope", None) or {}
    client = scope.get("client") or getattr(getattr(request, "client", None), "host", None)
    return (client, 0) if isinstance(client, str) else client


def _header_pairs(request):
    headers = getattr(request, "headers", None) or {}
    for key, value in dict(headers).items():
        yield str(key).lower().encode("latin-1"), str(value).encode("latin-1")


class Activity:
    """What visitors hold open now, counted by the guards as requests start and end:

    - ``requests``: HTTP requests in flight per visitor (event streams included);
    - ``uploads``: upload requests in flight per visitor;
    - ``joining``: queue joins in progress per visitor (counted until Gradio has queued them);
    - ``pages``: open heartbeat streams (a page on screen) per visitor;
    - ``sessions`` and ``events``: open result streams, by session hash and by event id;
    - ``last_seen``: when each visitor last sent a request (monotonic seconds).
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.requests, self.uploads, self.joining, self.pages = Counter(), Counter(), Counter(), Counter()
        self.sessions, self.events = Counter(), Counter()
        self.last_seen: dict[str, float] = {}

    def enter(self, counter: Counter, key, most: int | None = None) -> bool:
        """Count one more under ``key``; False (and nothing counted) when ``most`` are there."""
        with self.lock:
            if most is not None and counter[key] >= most:
                return False
            counter[key] += 1
            return True

    def leave(self, counter: Counter, key) -> None:
        with self.lock:
            counter[key] -= 1
            if counter[key] <= 0:
                del counter[key]

    def seen(self, visitor: str) -> None:
        now = self.last_seen[visitor] = time.monotonic()
        if len(self.last_seen) > 10_000:  # forget visitors quiet for an hour (the dict stays small)
            with self.lock:
                for key in [k for k, when in self.last_seen.items() if now - when > 3600]:
                    self.last_seen.pop(key, None)

    def holds_a_page(self, visitor: str, grace: float = 120.0) -> bool:
        """Whether ``visitor`` has a page open, or sent a request within ``grace`` seconds (an
        API client uploads, then calls)."""
        return (self.pages[visitor] > 0 or self.requests[visitor] > 0
                or time.monotonic() - self.last_seen.get(visitor, -1e9) < grace)

    def listened(self, session_hash, event_id, joined: float) -> bool:
        """Whether someone can receive an event's results: a stream open for its session or
        event, or the event joined the queue less than ``LISTEN_GRACE_SECONDS`` ago."""
        return (self.sessions[session_hash] > 0 or self.events[event_id] > 0
                or time.monotonic() - joined < LISTEN_GRACE_SECONDS)


ACTIVITY = Activity()


def queued_jobs(queue, visitor: str) -> int:
    """Events of ``visitor`` in Gradio's queue, waiting or running (the queue keeps each event
    in ``event_ids_to_events`` from its join to its end)."""
    events = list(getattr(queue, "event_ids_to_events", {}).values())
    return sum(1 for event in events if visitor_of_request(event.request) == visitor)
