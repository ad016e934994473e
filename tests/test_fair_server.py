"""A fair server: one visitor cannot take the Space from the others (issue 26).

The app is served as on a Space (``SPACE_ID`` set before it handles a request) and every
request names its visitor in ``X-Forwarded-For``, as the Space's proxy does. One test per
attack of the issue's table: the attack fails, and a second visitor's upload and render
succeed during or right after it. Every loop is bounded in count and time and only talks to
127.0.0.1. Where a test is about admission, the bounds are made small on the running server
and the render is replaced by a short recorder; the second visitor's render is a real one
(digits, 6 frames).
"""

from __future__ import annotations

import dataclasses
import io
import json
import socket
import struct
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

import latent_bridge as lb
from latent_bridge import checks
from latent_bridge.app import cache, connections, controls, handlers, hub_repos, jobs, visitors
from latent_bridge.data import images
from servers import serving

OTHER = {"X-Forwarded-For": "198.51.100.2"}
attackerS = iter(range(1, 255))


@pytest.fixture
def attacker() -> dict:
    """Headers naming a visitor no other test used."""
    return {"X-Forwarded-For": f"203.0.113.{next(attackerS)}"}
SMALL = dict(T=0.5, frames=6, paths=1, seed=0, fps=8)


@pytest.fixture(scope="module")
def space():
    """app.py served as on a Space: (app module, URL, the running server's cache index)."""
    import app

    with pytest.MonkeyPatch.context() as patch, serving(app) as url:
        patch.setenv("SPACE_ID", "latent-bridge/tests")
        yield app, url, cache.CURRENT


def png(seed: int, side: int = 40) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def upload(http: httpx.Client, headers: dict, files: list[tuple[str, bytes]]) -> httpx.Response:
    return http.post("gradio_api/upload", headers=headers,
                     files=[("files", (name, data, "image/png")) for name, data in files])


def render_data(paths: list[str]) -> list:
    values = {"model": "digits", "method": "ou", **SMALL, "resolution": 256, "fast_preview": False,
              **{name: controls.PARAMS[name].default for name in controls.ADVANCED}}
    values["image_a"], values["image_b"] = ({"path": p, "meta": {"_type": "gradio.FileData"}} for p in paths)
    names = ["model", "image_a", "image_b", "method"] + controls.MAIN + controls.ADVANCED + ["resolution", "fast_preview"]
    return [values[name] for name in names]


def call(http: httpx.Client, headers: dict, data: list) -> str:
    """POST /call/interpolate and read its events to the end: the stream's text (or the refusal)."""
    posted = http.post("gradio_api/call/interpolate", headers=headers, json={"data": data})
    if posted.status_code != 200:
        return f"HTTP {posted.status_code}: {posted.text}"
    return http.get(f"gradio_api/call/interpolate/{posted.json()['event_id']}", headers=headers).text


def other_visitor_is_served(url: str, seed: int = 1) -> None:
    """The second visitor uploads two images and renders: both must succeed."""
    with httpx.Client(base_url=url, timeout=120) as http:
        answer = upload(http, OTHER, [(f"a{seed}.png", png(seed))])
        assert answer.status_code == 200, answer.text
        second = upload(http, OTHER, [(f"b{seed}.png", png(seed + 100))])
        assert second.status_code == 200, second.text
        stream = call(http, OTHER, render_data([answer.json()[0], second.json()[0]]))
    assert "event: complete" in stream, stream[-400:]


def files_in(folder) -> set[Path]:
    return {p for p in Path(folder).rglob("*") if p.is_file()}


@pytest.fixture
def small_shares(space, monkeypatch):
    """The running index with small shares: 3 MB and 40 files a visitor, 8 MB in all; a render
    reserves 0.5 MB."""
    index = space[2]
    for name, value in dict(visitor_bytes=3_000_000, visitor_files=40, budget=index.usage()[0] + 8_000_000,
                            peak=0).items():
        monkeypatch.setattr(index, name, value)
    monkeypatch.setattr(handlers, "LIMITS", dataclasses.replace(handlers.LIMITS, result_bytes=500_000))
    return index


def render_recorder(monkeypatch, seconds: float = 4.0) -> list:
    """jobs.render replaced by a stand-in reporting progress every 0.1 s for ``seconds``: the
    list it returns fills with one item per report."""
    reports = []

    def recorder(job, vae, progress):
        steps = int(seconds / 0.1)
        for done in range(steps):
            time.sleep(0.1)
            reports.append(done)
            progress(done + 1, steps, "decoding")
        raise AssertionError("the recorder ran to its end")

    monkeypatch.setattr(jobs, "render", recorder)
    return reports


# ------------------------------------------------------------------------------------------
# 1, 2: routes matched exactly; renders through the queue only


def test_run_upload_with_fn_index_meets_every_event_bound(space, attacker):
    """``POST /gradio_api/run/upload`` is an event route, not the upload route: a big body gets
    413, a render by fn_index 403 (the queue only, on a Space), a FileData URL 400, multipart 415."""
    app, url, _ = space
    render = next(i for i, fn in app.demo.fns.items() if fn.api_name == "interpolate")
    with httpx.Client(base_url=url, timeout=60) as http:
        big = http.post("gradio_api/run/upload", headers=attacker,
                        json={"fn_index": render, "data": ["x" * 200_000]})
        assert big.status_code == 413
        direct = http.post("gradio_api/run/upload", headers=attacker, json={"fn_index": render, "data": []})
        assert direct.status_code == 403 and "through the queue" in direct.text
        fetch = http.post("gradio_api/run/upload", headers=attacker,
                          json={"fn_index": render, "data": [{"path": "http://127.0.0.1:9/x.png"}]})
        assert fetch.status_code == 400 and "not given as a URL" in fetch.text
        parts = http.post("gradio_api/run/upload", headers=attacker, files={"files": ("a.png", png(0))})
        assert parts.status_code == 415
    other_visitor_is_served(url)


def test_direct_render_calls_are_refused_on_a_space(space, attacker):
    """``/run/<name>`` and ``/api/<name>`` would render outside the queue: refused; the page's
    own unqueued UI events still answer there."""
    app, url, _ = space
    with httpx.Client(base_url=url, timeout=60) as http:
        for route in ("gradio_api/run/interpolate", "gradio_api/api/interpolate", "gradio_api/run/interpolate/"):
            answer = http.post(route, headers=attacker, json={"data": render_data(["a", "b"])})
            assert answer.status_code == 403, (route, answer.status_code)
        ui = next(i for i, fn in app.demo.fns.items() if fn.queue is False and len(fn.inputs) == 1)
        answer = http.post("gradio_api/run/predict", headers=attacker, json={"fn_index": ui, "data": [None]})
        assert answer.status_code == 200, answer.text
    other_visitor_is_served(url)


# ------------------------------------------------------------------------------------------
# 3, 4, 5: uploads


def test_an_upload_flood_fills_only_the_flooder_s_share(space, attacker, small_shares):
    """Uploads of 1 MB one after another: past the visitor's 3 MB, 429 for them alone (their own
    files older than a minute would be evicted first; these are fresh); the other visitor
    uploads and renders."""
    _, url, index = space
    statuses = []
    with httpx.Client(base_url=url, timeout=60) as http:
        for i in range(8):
            answer = upload(http, attacker, [(f"flood{i}.png", png(i) + bytes(1_000_000))])
            statuses.append(answer.status_code)
    assert statuses[:2] == [200, 200] and statuses[-1] == 429, statuses
    assert "your share of the server's disk is full" in answer.text
    assert index.share(attacker["X-Forwarded-For"])[0] <= 3_000_000
    other_visitor_is_served(url)


def test_uploads_sent_at_once_stay_within_the_budget(space, attacker, small_shares):
    """20 uploads of 1 MB at once from one visitor: room is reserved before a byte is written,
    so at most 2 run at once (429 for the rest) and the share and the budget hold."""
    _, url, index = space
    before = files_in(Path(space[0].demo.GRADIO_CACHE))

    def one(i):
        with httpx.Client(base_url=url, timeout=60) as http:
            return upload(http, attacker, [(f"burst{i}.png", png(50 + i) + bytes(1_000_000))]).status_code

    with ThreadPoolExecutor(20) as pool:
        statuses = list(pool.map(one, range(20)))
    assert 1 <= statuses.count(200) <= 2 and set(statuses) <= {200, 429}, statuses
    written = sum(p.stat().st_size for p in files_in(Path(space[0].demo.GRADIO_CACHE)) - before)
    assert written <= 3_000_000
    assert index.peak <= index.budget
    other_visitor_is_served(url)


def test_a_thousand_tiny_files_in_one_request_are_refused(space, attacker, small_shares):
    """1,000 files in one request: 413 and none of them stays; 16-file requests until the
    visitor's 40 files are held: 429. Uploads stay fast for the other visitor."""
    _, url, _ = space
    root = Path(space[0].demo.GRADIO_CACHE)
    before = files_in(root)
    with httpx.Client(base_url=url, timeout=60) as http:
        answer = upload(http, attacker, [(f"t{i}.png", b"%d" % i) for i in range(1000)])
        assert answer.status_code == 413 and "at most 16 files" in answer.text
        assert not [p for p in files_in(root) - before if p.name.startswith("t")]  # none of the thousand
        statuses = [upload(http, attacker, [(f"s{k}-{i}.png", b"%d-%d" % (k, i)) for i in range(16)]).status_code
                    for k in range(5)]
        assert statuses[0] == 200 and statuses[-1] == 429, statuses
        start = time.perf_counter()
        assert upload(http, OTHER, [("quick.png", png(7))]).status_code == 200
        assert time.perf_counter() - start < 5  # was 2 s and growing with the cache walked per upload
    other_visitor_is_served(url)


# ------------------------------------------------------------------------------------------
# 6 and abandoned work


def test_jobs_never_read_hold_no_queue_and_stop(space, attacker, monkeypatch):
    """17 renders posted to /call/ and never read: the third is refused (429, two a visitor);
    the two accepted stop at a progress report and write nothing; the other visitor is served."""
    _, url, _ = space
    monkeypatch.setattr(visitors, "LISTEN_GRACE_SECONDS", 2.0)
    reports = render_recorder(monkeypatch, seconds=10.0)
    before = files_in(handlers.outputs_root())
    with httpx.Client(base_url=url, timeout=60) as http:
        paths = [upload(http, attacker, [(f"q{i}.png", png(300 + i))]).json()[0] for i in range(2)]
        statuses = [http.post("gradio_api/call/interpolate", headers=attacker,
                              json={"data": render_data(paths)}).status_code for _ in range(17)]
    assert statuses[:2] == [200, 200] and set(statuses[2:]) == {429}, statuses
    deadline = time.monotonic() + 30
    while visitors.queued_jobs(space[0].demo._queue, attacker["X-Forwarded-For"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not visitors.queued_jobs(space[0].demo._queue, attacker["X-Forwarded-For"])
    assert len(reports) < 50, f"{len(reports)} of 100 progress reports ran for nobody"
    assert not files_in(handlers.outputs_root()) - before  # nothing new
    monkeypatch.undo()
    other_visitor_is_served(url)


def test_a_direct_call_whose_client_left_stops(space, monkeypatch):
    """Off a Space ``/run/interpolate`` runs outside the queue: a client that hangs up stops it
    at its next progress report, and it writes nothing."""
    _, url, _ = space
    monkeypatch.delenv("SPACE_ID")
    reports = render_recorder(monkeypatch)
    before = files_in(handlers.outputs_root())
    with httpx.Client(base_url=url, timeout=60) as http:
        paths = [upload(http, {}, [(f"r{i}.png", png(400 + i))]).json()[0] for i in range(2)]
    body = json.dumps({"data": render_data(paths)}).encode()
    with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1].strip("/")))) as raw:
        raw.sendall(b"POST /gradio_api/run/interpolate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n" % len(body) + body)
        deadline = time.monotonic() + 20
        while len(reports) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
    time.sleep(1.0)
    stopped = len(reports)
    time.sleep(0.5)
    assert stopped == len(reports) and stopped < 20, f"{len(reports)} progress reports after the client left"
    assert not files_in(handlers.outputs_root()) - before  # nothing new
    monkeypatch.undo()
    other_visitor_is_served(url)


# ------------------------------------------------------------------------------------------
# 7: slow clients


def test_connections_that_never_finish_their_headers_are_closed(space, monkeypatch):
    """40 connections sending half a request line: closed once the time for headers is over (1 s
    here); the other visitor is served meanwhile. Off a Space one address holds at most 64."""
    app, url, _ = space
    port = int(url.rsplit(":", 1)[1].strip("/"))
    protocol = app.demo.server.config.http_protocol_class
    assert issubclass(protocol, connections.BoundedConnections)
    monkeypatch.setattr(protocol, "header_seconds", 1.0)
    slow = []
    for _ in range(40):
        connection = socket.create_connection(("127.0.0.1", port), timeout=5)
        connection.sendall(b"GET /gradio_api/info HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        slow.append(connection)
    other_visitor_is_served(url)
    time.sleep(1.5)
    for connection in slow:
        assert connection.recv(16) == b""  # closed by the server
        connection.close()
    monkeypatch.delenv("SPACE_ID")
    monkeypatch.setattr(protocol, "per_address", 5)
    held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(6)]
    try:
        refused = b""
        while chunk := held[-1].recv(256):
            refused += chunk
        assert b"503" in refused and b"too many connections" in refused, refused
        assert held[0].send(b"GET /gradio_api/info HTTP/1.1\r\nHost: x\r\n\r\n") and b"200" in held[0].recv(64)
    finally:
        for connection in held:
            connection.close()


# ------------------------------------------------------------------------------------------
# 8 to 11


def test_cached_files_of_others_read_as_not_an_image(space, attacker):
    """A path in the cache that this visitor did not upload (another's upload, or no file at
    all) gets the message of a file that is not an image: nothing tells whether it exists."""
    app, url, _ = space
    root = Path(app.demo.GRADIO_CACHE)
    with httpx.Client(base_url=url, timeout=60) as http:
        theirs = upload(http, OTHER, [("mine.png", png(9))]).json()[0]
        missing = str(root / ("0" * 40) / "mine.png")
        answers = [call(http, attacker, render_data([path, theirs])) for path in (theirs, missing)]
    for answer in answers:
        assert "image A: could not read the image 'mine.png': not a valid image file" in answer, answer[-300:]
    assert str(root) not in answers[0]
    other_visitor_is_served(url)


def test_the_file_route_fetches_no_url(space, attacker):
    """``GET /gradio_api/file=<URL>`` (Gradio would fetch it and stream it back) and ``proxy=``
    are refused before Gradio sees them, however the URL is written."""
    _, url, _ = space
    with httpx.Client(base_url=url, timeout=30) as http:
        for address in ("http://127.0.0.1:9/x.png", "HTTPS://127.0.0.1:9/x", "%68ttp://127.0.0.1:9/x", " http:/x"):
            answer = http.get(f"gradio_api/file={address}", headers=attacker)
            assert answer.status_code == 400 and "not given as a URL" in answer.text, (address, answer.text)
        assert http.get("gradio_api/proxy=http://127.0.0.1:9/x", headers=attacker).status_code == 404
    other_visitor_is_served(url)


def test_visitor_is_the_proxy_s_last_address_only_on_a_space(monkeypatch):
    headers = [(b"x-forwarded-for", b"1.2.3.4, 10.0.0.9")]
    monkeypatch.setenv("SPACE_ID", "x")
    assert visitors.visitor_of(headers, ("127.0.0.1", 5)) == "10.0.0.9"
    monkeypatch.delenv("SPACE_ID")
    assert visitors.visitor_of(headers, ("127.0.0.1", 5)) == "127.0.0.1"


def png_with_chunks(chunks: int, data_chunk: bytes = b"") -> bytes:
    """A valid 8x8 PNG with ``chunks`` extra ancillary chunks before its image data."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 0, 0, 0, 0))
    image = chunk(b"IDAT", zlib.compress(b"".join(b"\x00" + bytes(8) for _ in range(8))))
    return b"\x89PNG\r\n\x1a\n" + header + chunk(b"tEXt", b"k\x00v") * chunks + image + chunk(b"IEND", b"")


@pytest.mark.parametrize("data, message", [
    (png_with_chunks(images.MAX_PNG_CHUNKS + 1), r"is a PNG of more than 4096 chunks .* save it again"),
    (b"P2\n8 8\n255\n" + b" ".join(b"128" for _ in range(64)), r"is a plain-text PBM/PGM/PPM: save it as a PNG"),
])
def test_images_dear_to_decode_are_refused_before_decoding(data, message):
    """Pillow pays per PNG chunk and per number of a plain-text PGM/PPM: refused from the
    structure, in milliseconds; the same image with few chunks is read."""
    start = time.perf_counter()
    with pytest.raises(ValueError, match=message):
        images.load_image(data, 32)
    assert time.perf_counter() - start < 0.5
    assert images.load_image(png_with_chunks(images.MAX_PNG_CHUNKS - 3), 32).shape == (3, 32, 32)


def test_long_values_are_quoted_cut_and_escaped():
    """A typed repo id of 151 characters is quoted to its first 40 with its length; control
    characters come out escaped."""
    from huggingface_hub.errors import OfflineModeIsEnabled

    class Offline:  # the Hub as it answers offline: no request leaves
        def model_info(self, *args, **kwargs):
            raise OfflineModeIsEnabled("offline")

    typed = "a" * 75 + "/" + "b" * 75
    assert hub_repos.typed_repo_id(typed) == typed  # a well-formed id: the Hub's answer quotes it
    with pytest.raises(ValueError) as refused:
        lb.models.check_remote(typed, api=Offline())
    assert "a" * 41 not in str(refused.value) and "(151 characters)" in str(refused.value)
    assert checks.quoted("x\x1b[2J") == "'x\\x1b[2J'"


def test_an_mcp_call_reads_the_images_its_own_server_uploaded(space, attacker):
    """On a Space the MCP server calls the events through a local client that uploads the
    images without the caller's address and joins with it: the images are read, the video comes."""
    pytest.importorskip("mcp")
    import asyncio
    import base64

    from mcp import ClientSession
    from mcp.client.streamable_http import streamablehttp_client

    _, url, _ = space
    image = "data:image/png;base64," + base64.b64encode(png(11)).decode()
    arguments = {"model": "digits", "image_a": image, "image_b": image, "method": "ou",
                 **{("t" if k == "T" else k): v for k, v in SMALL.items()}}

    async def main():
        async with streamablehttp_client(url + "gradio_api/mcp/", headers=attacker) as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                return await session.call_tool("interpolate", arguments)

    result = asyncio.run(main())
    assert not result.isError, [getattr(item, "text", "") for item in result.content]
    assert any(".mp4" in getattr(item, "text", "") for item in result.content)
