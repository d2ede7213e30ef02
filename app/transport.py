"""uvicorn HTTP protocols that let the app abort its connection (reset it, freeing the socket).

Plain ASGI gives an app no handle on its socket, and uvicorn's own way out on an error,
``transport.close()``, waits to flush the outgoing buffer first: for a client that stopped
reading, that is never, and the connection stays ESTABLISHED with its kernel send buffer
(megabytes on loopback) and a descriptor, for as long as the client keeps its end open.

These protocols put an ``abort`` callable in every HTTP request's ASGI scope, under
``scope["extensions"][ABORT_EXTENSION]["abort"]``. Calling it sets ``SO_LINGER`` to zero and
calls ``transport.abort()``: the kernel answers with a reset and frees the socket and its
buffers at once. ``transport.abort()`` alone is not enough on Linux: the socket is closed with
unsent data queued, so it lingers as an orphan in FIN-WAIT-1 holding that data while the peer
keeps acknowledging zero-window probes (measured on Linux 6.18: still there after 10 s; with
SO_LINGER 0 it is gone at once).

``python -m app`` serves with ``http_protocol()``; with plain uvicorn, pass
``--http app.transport:HttpToolsProtocol`` (or ``H11Protocol``). Without them the scope has no
abort and ``app.sse`` falls back to uvicorn's graceful close (the connection may stay open).
"""

import asyncio
import socket
import struct
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol as _H11Protocol

ABORT_EXTENSION = "microgpt.abort"

_LINGER_RESET = struct.pack("ii", 1, 0)  # l_onoff=1, l_linger=0: close() sends RST


def abort_transport(transport: asyncio.BaseTransport) -> None:
    """Drop the connection now: reset it rather than wait to flush what the peer won't take."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        except OSError:  # already closed, or not a TCP socket: abort() still drops it
            pass
    transport.abort()


def abort_from_scope(scope: dict[str, Any]) -> Callable[[], None] | None:
    """The scope's abort callable, or None when the server does not provide one."""
    extension = (scope.get("extensions") or {}).get(ABORT_EXTENSION)
    return extension.get("abort") if isinstance(extension, dict) else None


class AbortableMixin:
    """Wraps the protocol's ASGI app, once per connection, to add the abort extension."""

    app: Any

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        app = self.app
        extension = {ABORT_EXTENSION: {"abort": lambda: abort_transport(transport)}}

        async def with_abort(scope, receive, send):
            if scope["type"] == "http":
                scope["extensions"] = {**(scope.get("extensions") or {}), **extension}
            await app(scope, receive, send)

        self.app = with_abort


class H11Protocol(AbortableMixin, _H11Protocol):
    pass


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _HttpToolsProtocol
except ImportError:  # httptools not installed: h11 only
    HttpToolsProtocol = None
else:

    class HttpToolsProtocol(AbortableMixin, _HttpToolsProtocol):  # type: ignore[no-redef]
        pass


def http_protocol(name: str = "auto") -> type[asyncio.Protocol]:
    """The protocol class for uvicorn's ``http=``: httptools when installed (as uvicorn's
    "auto" picks), else h11."""
    if name == "h11" or (name == "auto" and HttpToolsProtocol is None):
        return H11Protocol
    if HttpToolsProtocol is None:
        raise ValueError("httptools is not installed")
    return HttpToolsProtocol
