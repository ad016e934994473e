"""ASGI middleware in front of Gradio's routes: the bounds a request meets before Gradio reads
it (upload sizes and the cache budget, event body sizes, files given by URL, multipart bodies).
"""

from __future__ import annotations

import json
import re
import threading

from .storage import tidy_cache

class UploadBudget:
    """ASGI middleware in front of Gradio's upload route (which runs outside the queue): before
    an upload is stored, the cache is tidied to make room for it (``tidy_cache``), and the
    upload is refused (HTTP 507) when the cache would still exceed ``budget`` bytes, or (413)
    when one request carries more than ``most_per_request`` bytes, or (411) when it does not
    say its size. So the disk the app can be made to use is bounded by ``budget`` plus the
    uploads in flight at one moment.

    root: a function returning the cache folder (known only once Gradio has started);
    keep: a function returning paths never to evict (the example images)."""

    def __init__(self, app, *, root, budget: int, most_per_request: int, keep=lambda: ()):
        self.app, self.root, self.budget, self.most, self.keep = app, root, budget, most_per_request, keep
        self.lock = threading.Lock()

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"].rstrip("/").endswith("/upload"):
            refusal = await _to_thread(self._refusal, dict(scope.get("headers") or []))
            if refusal is not None:
                await _answer(send, *refusal)
                return
        await self.app(scope, receive, send)

    def _refusal(self, headers: dict) -> tuple[int, str] | None:
        length = headers.get(b"content-length", b"").decode("latin-1").strip()
        if not length.isdigit():
            return 411, "uploads must state their size (Content-Length)"
        size = int(length)
        if size > self.most:
            return 413, f"one upload request may carry at most {self.most / 1e6:.0f} MB; got {size / 1e6:.1f} MB"
        with self.lock:  # one tidy at a time; others wait a few milliseconds
            used = tidy_cache(self.root(), self.budget - size, keep=self.keep())
        if used + size > self.budget:
            return 507, ("the server's upload space is full (its files are kept for a while for the "
                         "visitors who made them): try again in a few minutes")
        return None


class EventBodies:
    """ASGI middleware in front of every other POST route (the events: ``queue/join``,
    ``run/...``, ``call/...``), which Gradio reads whole and keeps per session:

    - a body above ``most`` bytes is refused (413): a page's request is a few kilobytes (files
      travel through the upload route, by reference), and Gradio keeps each session's input
      values in memory, so without a bound a client sending 20 MB strings under fresh session
      hashes grew the server by 900 MB a round;
    - a file given by URL (a FileData whose ``path`` is ``http(s)://...``) is refused (400):
      Gradio would download it before any handler of ours runs, with no size or time bound,
      into its cache, outside the upload budget;
    - a multipart body is refused (415): files reach the app through the upload route only
      (Gradio's ``process_recording`` route would otherwise take them and run ffmpeg).

    others: paths with a guard of their own (the MCP route: ``mcp_guard.McpCalls``)."""

    def __init__(self, app, *, most: int, others=()):
        self.app, self.most, self.others = app, most, frozenset(others)

    async def __call__(self, scope, receive, send):
        if (scope["type"] != "http" or scope["method"] != "POST"
                or scope["path"].rstrip("/").endswith("/upload") or scope["path"] in self.others):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if headers.get(b"content-type", b"").decode("latin-1").lower().startswith("multipart/"):
            await _answer(send, 415, "files are sent through the upload route only")
            return
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.most:
                await _answer(send, 413, f"a request may carry at most {self.most // 1024} KB of values "
                                         "(upload images as files)")
                return
        if names_a_url(body):
            await _answer(send, 400, "a file must be uploaded, not given as a URL")
            return
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


_URL = re.compile(r"\s*https?:", re.IGNORECASE)


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
