"""The attacks of issue 26 ("a fair server"), one function each, for ``load_app.py``'s hostile
mix: each sends its attack to the app at ``url`` (always 127.0.0.1) as the visitor named in
``headers`` and returns None when the app refused it as it must, else what went wrong.

``app`` is an ``App``: the render's fn_index and a builder of a valid /interpolate request.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlparse

import httpx

HEADER_SECONDS = 10.0  # LIMITS.header_seconds: a connection's time to send its headers


@dataclass
class App:
    url: str
    render_index: int  # the fn_index of /interpolate
    data: Callable[[dict], list]  # headers -> a valid /interpolate request, its images uploaded by that visitor


def _http(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, timeout=120)


def run_upload(app: App, headers: dict) -> str | None:
    """``POST /run/upload`` with a render's fn_index: the event bounds apply (413, 403)."""
    with _http(app.url) as http:
        big = http.post("gradio_api/run/upload", headers=headers,
                        json={"fn_index": app.render_index, "data": ["x" * 200_000]})
        small = http.post("gradio_api/run/upload", headers=headers, json={"fn_index": app.render_index, "data": []})
    if (big.status_code, small.status_code) != (413, 403):
        return f"run/upload answered {big.status_code} and {small.status_code}"
    return None


def run_direct(app: App, headers: dict) -> str | None:
    """A render outside the queue (``/run/interpolate``, ``/api/interpolate``): 403 on a Space."""
    with _http(app.url) as http:
        statuses = [http.post(route, headers=headers, json={"data": app.data(headers)}).status_code
                    for route in ("gradio_api/run/interpolate", "gradio_api/api/interpolate")]
    return None if statuses == [403, 403] else f"direct renders answered {statuses}"


def upload_flood(app: App, headers: dict, requests: int = 6, files: int = 8, size: int = 9_000_000) -> str | None:
    """``requests`` uploads of ``files`` x ``size`` bytes: past the visitor's share, 429."""
    blob = b"\x89PNG\r\n\x1a\n" + bytes(size - 8)
    statuses = []
    with _http(app.url) as http:
        for k in range(requests):
            parts = [("files", (f"flood{k}-{i}.png", blob[:-1] + bytes([k * files + i]), "image/png"))
                     for i in range(files)]
            statuses.append(http.post("gradio_api/upload", headers=headers, files=parts).status_code)
    if set(statuses) - {200, 429} or 429 not in statuses:
        return f"an upload flood of {requests * files * size / 1e6:.0f} MB answered {statuses}"
    return None


def tiny_files(app: App, headers: dict) -> str | None:
    """1,000 tiny files in one request: 413."""
    parts = [("files", (f"t{i}.png", b"%d" % i, "image/png")) for i in range(1000)]
    with _http(app.url) as http:
        status = http.post("gradio_api/upload", headers=headers, files=parts).status_code
    return None if status == 413 else f"1,000 files in one request answered {status}"


def call_unread(app: App, headers: dict, count: int = 4) -> str | None:
    """``count`` renders posted to /call/ and never read: past the visitor's 2, 429."""
    data = app.data(headers)
    with _http(app.url) as http:
        statuses = [http.post("gradio_api/call/interpolate", headers=headers, json={"data": data}).status_code
                    for _ in range(count)]
    return None if set(statuses) <= {200, 429} and 429 in statuses else f"unread renders answered {statuses}"


def slowloris(app: App, headers: dict, connections: int = 100) -> str | None:
    """Connections that never finish their headers: closed by the server after its header time."""
    parts = urlparse(app.url)
    held = []
    for _ in range(connections):
        connection = socket.create_connection((parts.hostname, parts.port), timeout=HEADER_SECONDS + 5)
        connection.sendall(b"GET /gradio_api/info HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        held.append(connection)
    time.sleep(HEADER_SECONDS + 1)
    still_open = 0
    for connection in held:
        try:
            still_open += connection.recv(16) != b""
        except TimeoutError:  # nothing came and nothing closed it: held past the time
            still_open += 1
        except OSError:  # reset: closed
            pass
        finally:
            connection.close()
    return None if not still_open else f"{still_open} of {connections} slow connections were still open"


def file_url(app: App, headers: dict) -> str | None:
    """``GET /gradio_api/file=<URL>``: Gradio would fetch it; refused (400) before it can."""
    with _http(app.url) as http:
        status = http.get("gradio_api/file=http://127.0.0.1:9/x.png", headers=headers).status_code
    return None if status == 400 else f"file=<URL> answered {status}"


def others_path(app: App, headers: dict, other: dict) -> str | None:
    """Another visitor's uploaded file (one only they sent) named in a request: read as "not a
    valid image file"."""
    import io
    import os

    import numpy as np
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.frombuffer(os.urandom(32 * 32 * 3), np.uint8).reshape(32, 32, 3)).save(buffer, "PNG")
    data = app.data(headers)
    with _http(app.url) as http:
        uploaded = http.post("gradio_api/upload", headers=other, files={"files": ("theirs.png", buffer.getvalue())})
        data[1] = {"path": uploaded.json()[0], "meta": {"_type": "gradio.FileData"}}
        event = http.post("gradio_api/call/interpolate", headers=headers, json={"data": data}).json()["event_id"]
        stream = http.get(f"gradio_api/call/interpolate/{event}", headers=headers).text
    return None if "not a valid image file" in stream else f"another's file: {stream[-200:]}"


ATTACKS = {"run-upload": run_upload, "run-direct": run_direct, "upload-flood": upload_flood,
           "tiny-files": tiny_files, "call-unread": call_unread, "slowloris": slowloris, "file-url": file_url}
