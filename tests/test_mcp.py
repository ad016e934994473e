"""The app as an MCP server (``/gradio_api/mcp``), driven by the ``mcp`` package's streamable
HTTP client: the four tabs are the tools, images go in as base64, a video comes back, and a
hostile call gets the page's message while the server keeps serving."""

import asyncio
import base64
from pathlib import Path

import httpx
import imageio.v2 as imageio
import pytest

pytest.importorskip("mcp")
from gradio_client import Client, handle_file  # noqa: E402
from mcp import ClientSession  # noqa: E402
from mcp.client.streamable_http import streamablehttp_client  # noqa: E402

from latent_bridge.app import limits  # noqa: E402
from latent_bridge.app.mcp_guard import URL_REFUSED  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = sorted((ROOT / "assets" / "photos").glob("*.jpg"))
SMALL = dict(t=0.5, frames=6, paths=1, seed=0, fps=8)


def data_url(path: Path) -> str:
    kind = "jpeg" if path.suffix == ".jpg" else "png"
    return f"data:image/{kind};base64," + base64.b64encode(path.read_bytes()).decode()


def with_session(url: str, work):
    """Run ``work(session)`` in an MCP client session against the app at ``url``."""

    async def main():
        async with streamablehttp_client(url + "gradio_api/mcp/") as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                return await work(session)

    return asyncio.run(main())


def texts(result) -> list[str]:
    return [getattr(item, "text", "") for item in result.content]


def test_the_tools_are_the_four_tabs_each_argument_described(app_server):
    tools = with_session(app_server[1], lambda session: session.list_tools()).tools
    assert sorted(tool.name for tool in tools) == ["compare", "interpolate", "keyframes", "random_walk"]
    for tool in tools:
        assert "Returns:" in tool.description and "base64" not in tool.name
        properties = tool.inputSchema["properties"]
        for name in ("model", "t", "paths", "seed"):
            assert properties[name].get("description"), (tool.name, name)
    interpolate = next(tool for tool in tools if tool.name == "interpolate")
    assert "never a web address" in interpolate.inputSchema["properties"]["image_a"]["description"]
    assert "4 to 240" in interpolate.inputSchema["properties"]["frames"]["description"]


def test_two_photos_as_base64_give_a_video(app_server):
    """Two JPEG photos (38-79 KB, more than an event's 64 KB body bound once in base64) through
    the photo-free default model: a video comes back by URL, with the summary's notice."""
    url = app_server[1]
    arguments = {"model": "poses", "image_a": data_url(PHOTOS[0]), "image_b": data_url(PHOTOS[1]),
                 "method": "ou", **SMALL}
    result = with_session(url, lambda session: session.call_tool("interpolate", arguments))
    assert not result.isError, texts(result)
    found = [text for text in texts(result) if ".mp4" in text]
    video_url = found[0].split("'url': '")[1].split("'")[0]
    video = httpx.get(video_url, timeout=30)
    assert video.status_code == 200
    path = Path(app_server[0].demo.GRADIO_CACHE) / "mcp-test.mp4"
    path.write_bytes(video.content)
    assert imageio.get_reader(str(path), "ffmpeg").count_frames() == SMALL["frames"]
    assert any("do not look like what `poses` knows" in text for text in texts(result))


def test_hostile_calls_get_the_pages_message_and_the_server_keeps_serving(app_server):
    url = app_server[1]
    pose = ROOT / "checkpoints" / "poses" / "examples" / "poses_0.png"
    if not pose.is_file():
        pose = ROOT / "latent_bridge" / "checkpoints" / "poses" / "examples" / "poses_0.png"
    good = data_url(pose)

    async def work(session):
        web = await session.call_tool("interpolate", {"model": "poses", "image_a": "https://example.com/a.png",
                                                      "image_b": good, "method": "ou", **SMALL})
        frames = await session.call_tool("interpolate", {"model": "poses", "image_a": good, "image_b": good,
                                                         "method": "ou", **{**SMALL, "frames": 10**6}})
        paths = await session.call_tool("random_walk", {"model": "poses", "image": good, "method": "gp",
                                                        **{**SMALL, "paths": 99}})
        return web, frames, paths

    web, frames, paths = with_session(url, work)
    assert web.isError and texts(web) == [URL_REFUSED]
    assert frames.isError and f"frames must be at most {limits.LIMITS.frames} on this server" in texts(frames)[0]
    assert paths.isError and f"paths must be at most {limits.LIMITS.paths} on this server" in texts(paths)[0]
    # A body above the MCP bound is refused before it is read whole.
    oversize = b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"arguments": {"x": "' \
        + b"a" * (limits.LIMITS.mcp_request_bytes + 1) + b'"}}}'
    answer = httpx.post(url + "gradio_api/mcp/", content=oversize, timeout=60,
                        headers={"content-type": "application/json", "accept": "application/json, text/event-stream"})
    assert answer.status_code == 413
    # Still serving: the API and the MCP tools.
    client = Client(url, verbose=False, analytics_enabled=False)
    video, *_ = client.predict(model="poses", image=handle_file(str(pose)), method="gp", **SMALL,
                               api_name="/random_walk")
    assert Path(video).stat().st_size > 0
    assert len(with_session(url, lambda session: session.list_tools()).tools) == 4
