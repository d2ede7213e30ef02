"""Serve bus events as a Server-Sent Events stream: replay, heartbeats, back-pressure, shutdown.

Built on sse-starlette 3.x rather than ``fastapi.sse`` because it gives what a long-lived
stream needs and fastapi.sse lacks: ``send_timeout`` (a client whose socket accepts nothing for
that long is dropped instead of pinning a task), configurable pings, and cooperative shutdown
(streams end themselves when uvicorn exits, so Ctrl-C / SIGTERM never waits on open streams).
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
    """An SSE response that follows ``bus``.

    - New client (no ``Last-Event-ID``): first gets ``initial()`` (the current state as a
      ``status`` event whose id is the bus's latest id), then every new event.
    - Reconnecting client: gets every event after its ``Last-Event-ID`` from the replay buffer,
      then live ones, with no gap and no duplicate (replay and registration happen in one step
      on the event loop). An id the buffer no longer holds (too old, or from an unknown bus) is
      treated like a new client: ``initial()`` again, then live events.
    - ``render`` turns each bus event into zero or more SSE messages (``ServerSentEvent`` or raw
      bytes); a message without an id gets the bus event's id, so reconnects resume correctly.
      Default: the event as is (``event:`` name, ``data:`` JSON, ``id:``), encoded once per event
      for all clients. Returning nothing skips the event (e.g. to throttle).
    - Events that pile up while the client is slow are sent together in one write; a client more
      than the bus's per-client buffer behind is disconnected (its browser reconnects and
      replays). A client that accepts nothing for ``send_timeout`` seconds is dropped.
    - Heartbeat comments every ``ping`` seconds keep idle connections open.
    - On server shutdown the stream ends by itself.
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
