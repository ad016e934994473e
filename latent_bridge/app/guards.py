"""ASGI middleware in front of Gradio's routes: the bounds a request meets before Gradio reads it.
Every route is matched by its exact path (``/gradio_api/upload`` itself, not any path ending in
``/upload``), so a route cannot be reached under another's rules.

- ``Visitors`` (outermost): names the visitor (``visitors.visitor_of``), bounds their requests
  in flight, keeps count of the streams they hold open (pages, results), and refuses a file
  route given a URL (``/gradio_api/file=https://...``: Gradio would fetch it itself);
- ``UploadBudget``: the upload route: uploads in flight per visitor, one request's size and
  files, room reserved in the cache's index before a byte is written;
- ``EventBodies``: every other POST: body size, files given by URL, multipart bodies; on a
  Space, renders through the queue only; queued jobs per visitor; a direct call whose client
  hangs up is marked so its render stops.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from urllib.parse import parse_qs

from .cache import Refused
from .visitors import ACTIVITY, on_a_space, queued_jobs, visitor_of

UPLOAD = "/gradio_api/upload"
_RUN = re.compile(r"/gradio_api/(?:run|api)/[^/]+/?")
_JOIN = re.compile(r"/gradio_api/(?:queue/join|call/(?:v2/)?[^/]+)/?")
_HEARTBEAT = re.compile(r"/gradio_api/heartbeat/[^/]+/?")
_RESULTS = re.compile(r"/gradio_api/call/(?:v2/)?[^/]+/([^/]+)/?")
_FETCHING = ("/gradio_api/file=", "/gradio_api/proxy=")
_URL = re.compile(r"\s*https?:", re.IGNORECASE)
VISITOR = "latent_bridge.visitor"  # scope keys set here, read by the handlers
GONE = "latent_bridge.gone"
FINISHED = "latent_bridge.finished"


def visitor(scope) -> str:
    return scope.get(VISITOR) or visitor_of(scope.get("headers") or [], scope.get("client"))


class Visitors:
    """Names the visitor of each request (``scope[VISITOR]``); at most ``most_requests`` of a
    visitor's requests in flight (429 past it: on a Space every connection is the proxy's, so
    this is where one visitor's open streams are bounded); counts open pages (heartbeat
    streams) and result streams (``visitors.ACTIVITY``); refuses ``file=<URL>`` (400) and
    ``proxy=`` (404) on every method."""

    def __init__(self, app, *, most_requests: int):
        self.app, self.most = app, most_requests

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path.startswith(_FETCHING[0]) and _URL.match(path[len(_FETCHING[0]):]):
            await _answer(send, 400, "a file must be uploaded, not given as a URL")
            return
        if path.startswith(_FETCHING[1]):
            await _answer(send, 404, "not served here")
            return
        who = scope[VISITOR] = visitor(scope)
        ACTIVITY.seen(who)
        if not ACTIVITY.enter(ACTIVITY.requests, who, self.most):
            await _answer(send, 429, f"too many requests open at once from your address (at most {self.most}): "
                                     "close some of the app's tabs")
            return
        streams = []
        if scope["method"] == "GET":
            if _HEARTBEAT.fullmatch(path):
                streams.append((ACTIVITY.pages, who))
            elif path.rstrip("/") == "/gradio_api/queue/data":
                session = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("session_hash", [""])[0]
                streams.append((ACTIVITY.sessions, session))
            elif match := _RESULTS.fullmatch(path):
                streams.append((ACTIVITY.events, match.group(1)))
        for counter, key in streams:
            ACTIVITY.enter(counter, key)
        try:
            await self.app(scope, receive, send)
        finally:
            for counter, key in streams:
                ACTIVITY.leave(counter, key)
            ACTIVITY.leave(ACTIVITY.requests, who)
            ACTIVITY.seen(who)
            scope.setdefault(FINISHED, threading.Event()).set()


class UploadBudget:
    """The upload route (which runs outside the queue). A request must state its size (411),
    carry at most ``most_per_request`` bytes (413) and ``most_files`` files (413: counted as
    the body streams by; past it the body is cut short so Gradio's parser fails and removes
    what it wrote); a visitor has at most ``most_uploads`` in flight (429). Before Gradio reads
    the body, its size and ``most_files`` files are reserved in ``index`` (``cache.CacheIndex``:
    the visitor's share, then the cache's budget, making room by eviction; 429 or 507 past
    them); when Gradio answers, the files it stored are indexed as the visitor's."""

    def __init__(self, app, *, index, most_per_request: int, most_files: int, most_uploads: int):
        self.app, self.index = app, index
        self.most, self.most_files, self.most_uploads = most_per_request, most_files, most_uploads

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"].rstrip("/") != UPLOAD:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length", b"").decode("latin-1").strip()
        if not length.isdigit():
            await _answer(send, 411, "uploads must state their size (Content-Length)")
            return
        size = int(length)
        if size > self.most:
            await _answer(send, 413, f"one upload request may carry at most {self.most / 1e6:.0f} MB; "
                                     f"got {size / 1e6:.1f} MB")
            return
        who = visitor(scope)
        if not ACTIVITY.enter(ACTIVITY.uploads, who, self.most_uploads):
            await _answer(send, 429, f"at most {self.most_uploads} uploads at once from one visitor: wait for "
                                     "yours to finish")
            return
        try:
            await self._upload(scope, receive, send, who, size, headers)
        finally:
            ACTIVITY.leave(ACTIVITY.uploads, who)

    async def _upload(self, scope, receive, send, who, size, headers):
        try:
            reservation = await _to_thread(self.index.reserve, who, size, self.most_files)
        except Refused as refusal:
            text = refusal.text if refusal.status == 429 else (
                "the server's upload space is full (its files are kept for a while for the visitors who made "
                "them): try again in a few minutes")
            await _answer(send, refusal.status, text)
            return
        parts = PartCounter(_boundary(headers.get(b"content-type", b"")), self.most_files)
        answer = {"status": 500, "headers": [], "body": b""}

        async def counted():
            message = await receive()
            if message["type"] == "http.request" and not parts.over:
                message = {**message, "body": parts.feed(message.get("body", b""))}
                if parts.over:
                    message["more_body"] = False
            elif parts.over:
                message = {"type": "http.request", "body": b"", "more_body": False}
            return message

        async def kept(message):  # Gradio's answer is a short JSON list: held until it is whole
            if message["type"] == "http.response.start":
                answer.update(status=message["status"], headers=message.get("headers", []))
            elif message["type"] == "http.response.body":
                answer["body"] += message.get("body", b"")

        stored = []
        try:
            await self.app(scope, counted, kept)
            if answer["status"] == 200:
                stored = [p for p in json.loads(answer["body"]) if isinstance(p, str)]
        finally:
            await _to_thread(self.index.settle, reservation, stored)
        if parts.over:
            await _answer(send, 413, f"one upload request may carry at most {self.most_files} files")
            return
        await send({"type": "http.response.start", "status": answer["status"], "headers": answer["headers"]})
        await send({"type": "http.response.body", "body": answer["body"]})


class PartCounter:
    """Counts the parts of a multipart body as it streams by (``feed`` each chunk; the
    delimiter may straddle two chunks). Once more than ``most`` parts have begun, ``over`` is
    set and ``feed`` returns the chunk up to that delimiter followed by a delimiter with a
    malformed header: the multipart parser fails there and deletes the files it wrote."""

    def __init__(self, boundary: bytes, most: int):
        self.delimiter, self.most = b"\r\n--" + boundary, most
        self.tail = b"\r\n"  # the body opens with a delimiter that has no CRLF before it
        self.seen, self.over = 0, False

    def feed(self, chunk: bytes) -> bytes:
        data, start = self.tail + chunk, 0
        while (found := data.find(self.delimiter, start)) >= 0:
            self.seen += 1
            if self.seen > self.most + 1:  # the last delimiter closes the body: parts = seen - 1
                self.over = True
                return chunk[:max(0, found - len(self.tail))] + self.delimiter + b"\r\n:\r\n"
            start = found + len(self.delimiter)
        self.tail = data[-(len(self.delimiter) - 1):]
        return chunk


def _boundary(content_type: bytes) -> bytes:
    match = re.search(rb'boundary="?([^";]+)"?', content_type, re.IGNORECASE)
    return match.group(1) if match else b"\x00no boundary"


class EventBodies:
    """Every POST but the upload route (the events: ``queue/join``, ``call/...``, ``run/...``),
    whose bodies Gradio reads whole and keeps per session:

    - a body above ``most`` bytes is refused (413): a page's request is a few kilobytes (files
      travel through the upload route, by reference), and without a bound a client sending
      20 MB strings under fresh session hashes grew the server by 900 MB a round;
    - a file given by URL (a FileData whose ``path`` is ``http(s)://...``) is refused (400):
      Gradio would download it before any handler of ours runs, unbounded, into its cache;
    - a multipart body is refused (415): files reach the app through the upload route only
      (Gradio's ``process_recording`` route would otherwise take them and run ffmpeg);
    - on a Space, ``run/...`` and ``api/...`` (which run outside the queue) take only the
      unqueued UI events (``unqueued(fn_index)``): a render must join the queue (403);
    - a visitor has at most ``most_jobs`` events queued or running (429), counted in Gradio's
      queue (``queue()``) and among the joins in progress;
    - a direct call (``run/...``) is watched for its client hanging up: ``scope[GONE]`` is set
      then, and ``handlers.still_wanted`` stops its render.

    others: exact paths with a guard of their own (the MCP route: ``mcp_guard.McpCalls``)."""

    def __init__(self, app, *, most: int, most_jobs: int, queue=lambda: None, unqueued=lambda index: False,
                 others=()):
        self.app, self.most, self.most_jobs, self.queue, self.unqueued = app, most, most_jobs, queue, unqueued
        self.others = frozenset(others)

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "")  # a lifespan scope has none
        if (scope["type"] != "http" or scope["method"] != "POST" or path.rstrip("/") == UPLOAD
                or path in self.others):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if headers.get(b"content-type", b"").decode("latin-1").lower().startswith("multipart/"):
            await _answer(send, 415, "files are sent through the upload route only")
            return
        body, too_big = await read_body(receive, self.most)
        if body is None:
            return
        if too_big:
            await _answer(send, 413, f"a request may carry at most {self.most // 1024} KB of values "
                                     "(upload images as files)")
            return
        if names_a_url(body):
            await _answer(send, 400, "a file must be uploaded, not given as a URL")
            return
        direct, joins = bool(_RUN.fullmatch(path)), bool(_JOIN.fullmatch(path))
        if direct and on_a_space() and not self.unqueued(_fn_index(body)):
            await _answer(send, 403, "on this Space renders go through the queue: POST /gradio_api/call/<name> "
                                     "and read its events (gradio_client does this)")
            return
        who = visitor(scope)
        if joins:
            if queued_jobs(self.queue(), who) + ACTIVITY.joining[who] >= self.most_jobs:
                await _answer(send, 429, f"you have {self.most_jobs} renders queued or running, the most one "
                                         "visitor may have: wait for one to finish")
                return
            ACTIVITY.enter(ACTIVITY.joining, who)
        gone = scope.setdefault(GONE, threading.Event())

        async def watch():  # the body is read: the next message is the client hanging up
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        watcher = asyncio.ensure_future(watch()) if direct else None
        try:
            await self.app(scope, replaying(body, receive), send)
        finally:
            if watcher is not None:
                watcher.cancel()
            if joins:
                ACTIVITY.leave(ACTIVITY.joining, who)


async def read_body(receive, most: int) -> tuple[bytes | None, bool]:
    """(a request's body, whether it went past ``most`` bytes: then only its start is read);
    the body is None when the client left."""
    body, more = b"", True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None, False
        body += message.get("body", b"")
        more = message.get("more_body", False)
        if len(body) > most:
            return body, True
    return body, False


def replaying(body: bytes, receive):
    """A ``receive`` that gives ``body`` whole first (it was read already), then what comes next."""
    replayed = False

    async def replay():
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _fn_index(body: bytes):
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return None
    index = value.get("fn_index") if isinstance(value, dict) else None
    return index if isinstance(index, int) and not isinstance(index, bool) else None


def names_a_url(body: bytes) -> bool:
    """Whether a JSON request body holds a file given by URL: a dict whose ``path`` is an
    http(s) address, at any depth. A body that is not JSON is left to Gradio to refuse."""
    try:
        pending = [json.loads(body)]
    except (ValueError, RecursionError):
        return False
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            path = value.get("path")
            if isinstance(path, str) and _URL.match(path):
                return True
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return False


async def _answer(send, status: int, text: str) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
    await send({"type": "http.response.body", "body": text.encode()})


async def _to_thread(function, *args):
    import anyio

    return await anyio.to_thread.run_sync(function, *args)
