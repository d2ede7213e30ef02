"""Serve bus events as a Server-Sent Events stream: replay, heartbeats, back-pressure, shutdown.

Built on sse-starlette 3.x rather than ``fastapi.sse`` because it gives what a long-lived
stream needs and fastapi.sse lacks: ``send_timeout``, configurable pings, and cooperative
shutdown (streams end themselves when uvicorn exits, so Ctrl-C / SIGTERM never waits on open
streams).

Delivery policy, in one place (``app.bus`` implements the buffers; settings ``MICROGPT_*``):

- **New client** (no ``Last-Event-ID``): the current state as a ``status`` event whose id is
  the bus's latest id, then every new event.
- **Reconnecting client** whose id is still in the replay buffer (every event since the start
  of the previous run, at most ``REPLAY_MAX_EVENTS`` = 25,000 events and at most
  ``REPLAY_MAX_BYTES`` = 8 MiB, oldest evicted first): every event after it, then live ones,
  no gap, no duplicate, however long the replay. The replay is read from the shared buffer
  ``CLIENT_BUFFER`` events at a time as the client's socket takes them (nothing copied per
  client; new events do not count against the client meanwhile). A client that reads so
  slowly that events it still needs are evicted is closed; it reconnects and, its id now being
  unknown, is treated as a new client. An unknown id (too old, or from before a restart: ids
  grow across restarts) likewise gets ``status`` first, and so does a known id further behind
  than ``REPLAY_MAX_CLIENT_BYTES`` = 2 MiB (a whole default run): a class of 500 pages
  reconnecting from old ids gets 500 states, not 500 replays of megabytes (a page reloads
  its loss curve on every reconnect anyway).
- **Live client**: new events wait in its own buffer of at most ``CLIENT_BUFFER`` = 1024
  events and go out together, in writes of about ``CHUNK_BYTES`` = 64 KiB (encoded as each
  write is made). One that falls further behind is closed; its browser reconnects after
  ``RETRY_MS`` and catches up from the replay buffer as above. The publisher (the training
  bridge) never waits for a client. A page's stream (``/ui/events``) waits a little after an
  event for more before it writes (``app.fanout``: from 0.5 ms for one page to 0.1 s for 200
  or more), so a large audience costs a few writes a second per page, not one per event.
- **Send timeout** ``SSE_SEND_TIMEOUT`` = 10 s: a write (event or heartbeat) blocks only while
  the connection's outgoing buffer is full; if it stays full that long, the connection is
  reset (``app.transport``: RST, the socket and its kernel buffers freed at once) and one line
  is logged with the client's address and how long it accepted nothing. Under a server
  without that hook (plain ``uvicorn app.main:...``) it is closed the usual way, which waits
  for the client to read, possibly forever.

Memory, in bytes (measured: a step event is ~1.75 KB encoded, ~1.9 KB in the buffer; the
parsed payload, ~3x that, is kept for the newest event only; see ``app.bus.Event``):

- **Replay buffer**: at most ``REPLAY_MAX_BYTES`` = 8 MiB (~4,400 step events: about four
  minutes of training at ~18 steps/s, and 4x ``CLIENT_BUFFER``'s worth, so a live client
  dropped for lagging can still catch up), or 25,000 events if those are smaller.
- **Per client**: its buffer holds references to shared events, not copies: ``CLIENT_BUFFER``
  x 8 bytes, and every live client's buffer is within the newest ``CLIENT_BUFFER`` events
  (~1.9 MiB of step events, already in the replay buffer). Copies are per write only: the
  chunk being written (``CHUNK_BYTES`` plus one event) and the transport's buffer (uvicorn's
  high-water mark, 64 KiB), so ~130 KiB per client at most, plus the kernel's socket buffer
  (up to ``net.ipv4.tcp_wmem``'s maximum, 4 MiB here; ~2.8 MB measured on loopback), freed
  by the reset after ``SSE_SEND_TIMEOUT``. HTML fragments of ``/ui/events`` are rendered once
  per event for all the streams of a run (``app.fanout``: at most 4 MiB of rendered messages
  kept per watched run), except what a client renders alone (its first state, an old replay).
- **How many**: each stream holds a file descriptor, so at most as many as the open-file
  limit leaves room for (``app.open_files``) are open at once; one more is answered 503 with
  ``Retry-After`` (a page retries by itself) before it subscribes to anything.
- **Heartbeat** comments every ``SSE_PING`` = 15 s keep idle connections (and proxies) open.
- **Shutdown**: streams end by themselves (0.5 s grace), queued events are flushed first.
"""

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import anyio
from fastapi import Request
from sse_starlette import EventSourceResponse
from sse_starlette.sse import SendTimeoutError

from app.bus import Event, EventBus, Subscription
from app.fanout import Render, SharedRender, encode
from app.open_files import StreamGate
from app.transport import abort_from_scope

log = logging.getLogger(__name__)

RETRY_MS = 1000  # tell EventSource to reconnect after a second
CHUNK_BYTES = 64 * 1024  # a batch goes out in writes of about this size


def last_event_id(request: Request) -> int | None:
    """The Last-Event-ID header (or ``?last_event_id=`` for tools that cannot set headers)."""
    raw = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
    try:
        return int(raw) if raw else None
    except ValueError:
        return None


def _chunks(batch: list[Event], encode_one: Callable[[Event], bytes]) -> Iterator[bytes]:
    """The batch encoded as it is written, in pieces of ``CHUNK_BYTES`` (plus one event)."""
    parts: list[bytes] = []
    size = 0
    for event in batch:
        if data := encode_one(event):
            parts.append(data)
            size += len(data)
            if size >= CHUNK_BYTES:
                yield b"".join(parts)
                parts, size = [], 0
    if parts:
        yield b"".join(parts)


def _is_send_timeout(exc: BaseException) -> bool:
    if isinstance(exc, BaseExceptionGroup):  # the event and the heartbeat both timed out
        return exc.split(SendTimeoutError)[1] is None
    return isinstance(exc, SendTimeoutError)


class _StallClock:
    """Wraps ``send``: since when have the pending writes waited without any completing?"""

    def __init__(self, send):
        self._send, self._pending, self._since = send, 0, time.monotonic()

    async def __call__(self, message) -> None:
        if not self._pending:
            self._since = time.monotonic()
        self._pending += 1
        try:
            await self._send(message)
        finally:
            self._pending -= 1
        if self._pending:  # this one went through: the others wait from now
            self._since = time.monotonic()

    def stalled_for(self) -> float:
        return time.monotonic() - self._since


class StreamResponse(EventSourceResponse):
    """``EventSourceResponse`` that resets the connection when a write times out, logging one
    line (no traceback): the client's address, the path, and how long it accepted nothing.
    ``gate``: the stream was counted in it (``StreamGate.admit``); it is let go when it ends."""

    def __init__(self, *args: Any, gate: StreamGate | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.gate = gate

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        clock = _StallClock(send)
        try:
            await super().__call__(scope, receive, clock)
        except BaseException as exc:
            if not _is_send_timeout(exc):
                raise
            await self._drop(scope, clock.stalled_for())
        finally:
            if self.gate is not None:
                self.gate.release()
                self.gate = None

    @staticmethod
    async def _drop(scope: Any, stalled: float) -> None:
        client = ":".join(map(str, scope.get("client") or ("?",)))
        path = scope.get("path", "")
        abort = abort_from_scope(scope)
        if abort is None:
            log.warning(
                "SSE client %s on %s accepted nothing for %.1f s: closing it (this server has"
                " no abort hook, so the socket stays open until the client reads)",
                client,
                path,
                stalled,
            )
            return
        abort()
        log.warning(
            "SSE client %s on %s accepted nothing for %.1f s: connection reset",
            client,
            path,
            stalled,
        )
        # The server learns of the lost connection on the loop's next turn; let it, so it
        # does not report this response as unfinished.
        await asyncio.sleep(0)


def event_stream(
    request: Request,
    bus: EventBus,
    render: Render | None = None,
    *,
    shared: SharedRender | None = None,
    initial: Callable[[], Event | None] | None = None,
    ping: float = 15.0,
    send_timeout: float = 10.0,
    gate: StreamGate | None = None,
) -> EventSourceResponse:
    """An SSE response that follows ``bus``, with the policy of this module's docstring.

    - ``initial()``: the current state as a ``status`` event whose id is the bus's latest id,
      sent first to a new client (or one whose ``Last-Event-ID`` is unknown). Subscribing and
      taking it happen in one step on the event loop: no gap, no duplicate after it.
    - ``render`` turns each bus event into zero or more SSE messages (``ServerSentEvent`` or raw
      bytes); a message without an id gets the bus event's id, so reconnects resume correctly.
      Default: the event as is (``event:`` name, ``data:`` JSON, ``id:``), encoded once per event
      for all clients. Returning nothing skips the event (e.g. to throttle).
    - ``shared``: instead of ``render``, one renderer for all the streams of ``bus``
      (``app.fanout``): each event rendered once, the same bytes to every stream; what it did
      not see (the state a new client starts with, an old replay) is rendered per stream.
      Such a stream waits ``shared.gather()`` seconds after an event for more before it writes.
    - ``ping``, ``send_timeout``: seconds between heartbeat comments, and how long one write may
      wait on a client that accepts nothing before the connection is reset.
    - ``gate``: counts the stream while it is open; when it holds as many as it may, this
      raises 503 with ``Retry-After`` instead (``app.open_files``).
    """
    if gate is not None:
        gate.admit()
    resume_from = last_event_id(request)
    shutdown = anyio.Event()

    async def close_on_shutdown(sub: Subscription) -> None:
        await shutdown.wait()
        sub.close()

    async def body():
        # Subscribe and take the current state in one step (no await in between): the state
        # event's id is exactly the last event before the first queued one. Subscribing here,
        # not in the handler, also means a stream that never starts leaves no subscription.
        sub = bus.subscribe(resume_from)
        event = initial() if initial and (resume_from is None or not sub.replayed) else None
        encoder = shared.join() if shared is not None else None  # sees what ``sub`` will
        watcher = asyncio.ensure_future(close_on_shutdown(sub))
        try:
            first = [f"retry: {RETRY_MS}\r\n\r\n".encode()]
            if event is not None:  # not a bus event (it borrows the latest id): ours alone
                first.append(encoder.own(event) if encoder else encode(event, render))
            yield b"".join(first)
            each = encoder or partial(encode, render=render)
            while batch := await sub.next_batch():
                if shared is not None and (wait := shared.gather()):
                    await asyncio.sleep(wait)
                    batch += sub.drain()
                for chunk in _chunks(batch, each):
                    yield chunk
        finally:
            sub.close()
            if encoder is not None:
                encoder.close()
            watcher.cancel()

    return StreamResponse(
        body(),
        ping=ping,
        send_timeout=send_timeout,
        shutdown_event=shutdown,
        shutdown_grace_period=0.5,
        gate=gate,
    )
