"""Serve bus events as a Server-Sent Events stream: replay, heartbeats, back-pressure, shutdown.

Built on sse-starlette 3.x rather than ``fastapi.sse`` because it gives what a long-lived
stream needs and fastapi.sse lacks: ``send_timeout``, configurable pings, and cooperative
shutdown (streams end themselves when uvicorn exits, so Ctrl-C / SIGTERM never waits on open
streams).

Delivery policy, in one place (``app.bus`` implements the buffers; settings ``MICROGPT_*``):

- **New client** (no ``Last-Event-ID``): the current state as a ``status`` event whose id is
  the bus's latest id, then every new event.
- **Reconnecting client** whose id is still in the replay buffer (every event since the start
  of the previous run, at most ``REPLAY_MAX_EVENTS`` = 25,000): every event after it, then live
  ones, no gap, no duplicate, however long the replay. The replay is read from the shared
  buffer ``CLIENT_BUFFER`` events at a time as the client's socket takes them (nothing copied
  per client; new events do not count against the client meanwhile). A client that reads so
  slowly that events it still needs are evicted is closed; it reconnects and, its id now being
  unknown, is treated as a new client. An unknown id (too old, or from before a restart: ids
  grow across restarts) likewise gets ``status`` first.
- **Live client**: new events wait in its own buffer of at most ``CLIENT_BUFFER`` = 1024
  events and go out together in one write. One that falls further behind is closed; its
  browser reconnects after ``RETRY_MS`` and catches up from the replay buffer as above. The
  publisher (the training bridge) never waits for a client.
- **Send timeout** ``SSE_SEND_TIMEOUT`` = 10 s: a write (event or heartbeat) blocks only while
  the connection's outgoing buffer is full; if it stays full that long, the connection is
  closed. So a stuck client costs at most one bounded buffer, for at most that long.
- **Heartbeat** comments every ``SSE_PING`` = 15 s keep idle connections (and proxies) open.
- **Shutdown**: streams end by themselves (0.5 s grace), queued events are flushed first.
"""

import asyncio
from collections.abc import Callable, Sequence

import anyio
from fastapi import Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from app.bus import Event, EventBus, Subscription

Render = Callable[[Event], Sequence[ServerSentEvent | bytes] | None]

RETRY_MS = 1000  # tell EventSource to reconnect after a second


def last_event_id(request: Request) -> int | None:
    """The Last-Event-ID header (or ``?last_event_id=`` for tools that cannot set headers)."""
    raw = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
    try:
        return int(raw) if raw else None
    except ValueError:
        return None


def _encode(event: Event, render: Render | None) -> bytes:
    if render is None:
        return event.sse()
    out = []
    for item in render(event) or ():
        if isinstance(item, ServerSentEvent):
            if item.id is None:
                item.id = str(event.id)
            out.append(item.encode())
        else:
            out.append(bytes(item))
    return b"".join(out)


def event_stream(
    request: Request,
    bus: EventBus,
    render: Render | None = None,
    *,
    initial: Callable[[], Event | None] | None = None,
    ping: float = 15.0,
    send_timeout: float = 10.0,
) -> EventSourceResponse:
    """An SSE response that follows ``bus``, with the policy of this module's docstring.

    - ``initial()``: the current state as a ``status`` event whose id is the bus's latest id,
      sent first to a new client (or one whose ``Last-Event-ID`` is unknown). Subscribing and
      taking it happen in one step on the event loop: no gap, no duplicate after it.
    - ``render`` turns each bus event into zero or more SSE messages (``ServerSentEvent`` or raw
      bytes); a message without an id gets the bus event's id, so reconnects resume correctly.
      Default: the event as is (``event:`` name, ``data:`` JSON, ``id:``), encoded once per event
      for all clients. Returning nothing skips the event (e.g. to throttle).
    - ``ping``, ``send_timeout``: seconds between heartbeat comments, and how long one write may
      wait on a client that accepts nothing before the stream is closed.
    """
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
        watcher = asyncio.ensure_future(close_on_shutdown(sub))
        try:
            first = [f"retry: {RETRY_MS}\r\n\r\n".encode()]
            if event is not None:
                first.append(_encode(event, render))
            yield b"".join(first)
            while batch := await sub.next_batch():
                chunk = b"".join(_encode(event, render) for event in batch)
                if chunk:
                    yield chunk
        finally:
            sub.close()
            watcher.cancel()

    return EventSourceResponse(
        body(),
        ping=ping,
        send_timeout=send_timeout,
        shutdown_event=shutdown,
        shutdown_grace_period=0.5,
    )
