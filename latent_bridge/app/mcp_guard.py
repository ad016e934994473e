"""The MCP route's own bound (``/gradio_api/mcp``): its requests carry images as base64 text,
so their bodies may be larger than an event's, up to ``LIMITS.mcp_request_bytes``; and a tool
argument that names a web address is refused with the page's message before Gradio's MCP
server would hand it to its client to download.
"""

from __future__ import annotations

import json
import re

from .guards import read_body, replaying
from .limits import LIMITS

MCP_PATHS = ("/gradio_api/mcp", "/gradio_api/mcp/")
_WEB_ADDRESS = re.compile(r"\s*(https?|ftp|file):", re.IGNORECASE)
URL_REFUSED = "a file must be uploaded (base64 data or upload_file_to_gradio), not given as a URL"


def names_a_web_address(value) -> bool:
    """Whether any string in a tool call's arguments, at any depth, is a web address."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str) and _WEB_ADDRESS.match(item):
            return True
        if isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


class McpCalls:
    """ASGI middleware for the MCP route: a body above ``most`` bytes is refused (413), a
    ``tools/call`` whose arguments name a web address gets a tool error with ``URL_REFUSED``
    (the page's message), everything else goes on to Gradio's MCP server, which calls the
    events through the queue like the page."""

    def __init__(self, app, *, most: int = LIMITS.mcp_request_bytes):
        self.app, self.most = app, most

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in MCP_PATHS:
            await self.app(scope, receive, send)
            return
        body, too_big = await read_body(receive, self.most)
        if body is None:
            return
        if too_big:
            await _answer(send, 413, "text/plain; charset=utf-8",
                          f"an MCP request may carry at most {self.most // 2**20} MB (two 10 MB images as "
                          "base64); upload larger files with upload_file_to_gradio")
            return
        refusal = _url_refusal(body)
        if refusal is not None:
            await _answer(send, 200, "application/json", json.dumps(refusal))
            return
        await self.app(scope, replaying(body, receive), send)


def _url_refusal(body: bytes) -> dict | None:
    """The JSON-RPC answer refusing a tool call that names a web address, else None."""
    try:
        call = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(call, dict) or call.get("method") != "tools/call":
        return None
    params = call.get("params")
    arguments = params.get("arguments") if isinstance(params, dict) else None
    if not names_a_web_address(arguments):
        return None
    return {"jsonrpc": "2.0", "id": call.get("id"),
            "result": {"content": [{"type": "text", "text": URL_REFUSED}], "isError": True}}


async def _answer(send, status: int, content_type: str, text: str) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type.encode())]})
    await send({"type": "http.response.body", "body": text.encode()})
