"""Slow clients, bounded where the server accepts connections (below ASGI, which only sees a
request once its headers are complete): a connection has ``header_seconds`` to send each
request's headers, and one socket address holds at most ``per_address`` connections.

Gradio builds uvicorn's ``Config`` itself and offers no way to pass a protocol or these
settings; uvicorn's server looks up ``config.http_protocol_class`` for every connection it
accepts, so ``bound_connections`` sets it, right after the server starts, to a subclass of
the protocol uvicorn chose. On a Space every connection comes from the Space's proxy, which
holds the visitors' own connections and forwards whole requests: there the address cap is
off (the proxy is one address) and ``guards.Visitors`` bounds each visitor's open requests.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from .visitors import on_a_space

_REFUSED = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\nconnection: close\r\n"
            b"content-length: 44\r\n\r\ntoo many connections open from your address")


class BoundedConnections:
    """Mixed in before uvicorn's HTTP protocol (h11 or httptools); ``header_seconds``,
    ``per_address`` and the shared ``open`` counter are set by ``bounded_protocol``."""

    header_seconds: float = 10.0
    per_address: int = 64
    open: Counter

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._address = None if on_a_space() else (self.client or (None,))[0]
        if self._address is not None:
            self.open[self._address] += 1
            if self.open[self._address] > self.per_address:
                transport.write(_REFUSED)
                transport.close()
                return
        self._arm()

    def connection_lost(self, exc) -> None:
        if getattr(self, "_address", None) is not None:
            self.open[self._address] -= 1
            if self.open[self._address] <= 0:
                del self.open[self._address]
            self._address = None
        timer = getattr(self, "_header_timer", None)
        if timer is not None:
            timer.cancel()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()

    def _arm(self) -> None:
        """From now, the next request's headers must arrive within ``header_seconds``."""
        timer = getattr(self, "_header_timer", None)
        if timer is not None:
            timer.cancel()
        self._header_timer = asyncio.get_running_loop().call_later(self.header_seconds, self._headers_late)

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or self.transport.get_protocol() is not self:
            return  # closed, or handed to a WebSocket protocol
        cycle = getattr(self, "cycle", None)
        if cycle is None or cycle.response_complete:  # no request under way: its headers are late
            self.transport.close()


def bounded_protocol(base: type, header_seconds: float, per_address: int) -> type:
    """``base`` (a uvicorn HTTP protocol class) with the bounds above."""
    if issubclass(base, BoundedConnections):
        base = next(b for b in base.__mro__[1:] if not issubclass(b, BoundedConnections))
    return type(f"Bounded{base.__name__}", (BoundedConnections, base),
                {"header_seconds": header_seconds, "per_address": per_address, "open": Counter()})


def bound_connections(server, header_seconds: float, per_address: int) -> None:
    """Every connection ``server`` (a running uvicorn Server, as ``demo.server``) accepts from
    now on meets the bounds. A server that is not uvicorn's is left as it is."""
    config = getattr(server, "config", None)
    base = getattr(config, "http_protocol_class", None)
    if isinstance(base, type):
        config.http_protocol_class = bounded_protocol(base, header_seconds, per_address)
