"""One renderer per watched run: each bus event rendered once, the same bytes to every stream.

A page's stream (``/ui/events``) turns bus events into HTML fragments and chart points.
Rendered per client, that cost grew with the audience (150 pages on one run: +48% on its
time). ``SharedRender`` renders each event once for all the streams that follow its bus:

- While at least one stream has joined, it holds a subscription of its own to the bus, taken
  in the same step as the first stream's (no await in between), so it sees every event a live
  stream sees. Whichever stream first needs an event renders everything queued so far, in bus
  order, with the one shared renderer, and keeps the encoded messages by event id (the newest
  ``keep_bytes``); every other stream is sent those same bytes. Data flows one way: bus ->
  shared renderer -> bytes -> streams; a stream never changes what the others are sent.
- What the shared renderer did not see is rendered by the stream's own renderer, as before:
  the state a new client starts with, a reconnecting client's replay of events from before it
  started (or evicted since), and events it missed after its subscription was dropped (no
  stream drew on it for ``client_buffer`` events: it starts again, from the state then).
- When the last stream leaves, the subscription and the bytes go: nobody watching, no work.
- Then a stream's cost is mostly its writes (measured: ~70 us of the web process's CPU each,
  through uvicorn and the middleware), one per event if it wrote each at once: 300 pages on a
  run at ~100 steps/s would be 30,000 writes a second. So a stream waits ``gather()`` seconds
  after an event for more before it writes: the streams of a run together write at most
  ``WRITE_RATE`` times a second, up to 200 streams; beyond, no event waits more than
  ``MAX_GATHER`` (a page alone: half a millisecond; 300 pages: 0.1 s, 10 writes a second
  each; a chart's point that much later; bench/classroom_stream.py).

Each stream keeps its own bus subscription, so replay, dropping a client that falls behind and
send timeouts are per client, as ``app.sse`` describes; a stuck client costs the others nothing.
Call everything from the event loop's thread.
"""

from collections import deque
from collections.abc import Callable, Sequence

from sse_starlette import ServerSentEvent

from app.bus import Event, EventBus, Subscription

Render = Callable[[Event], Sequence[ServerSentEvent | bytes] | None]

KEEP_BYTES = 4 * 1024 * 1024  # rendered messages kept per watched run (~25 s at full speed)
WRITE_RATE = 2000  # writes a second, at most, for all the streams of a run (until MAX_GATHER)
MAX_GATHER = 0.1  # seconds an event may wait for others to go out with


def encode(event: Event, render: Render | None) -> bytes:
    """The SSE messages ``render`` makes of ``event``, encoded; a message without an id gets
    the event's. No ``render``: the event as is (built once, by the bus)."""
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


class SharedRender:
    """The streams of one bus, rendered once. ``shared()`` makes the shared renderer (when the
    first stream joins, and again after its subscription was dropped); ``own()`` makes a
    stream's own renderer, for what the shared one did not see."""

    def __init__(
        self,
        bus: EventBus,
        shared: Callable[[], Render],
        own: Callable[[], Render],
        keep_bytes: int = KEEP_BYTES,
    ):
        self._bus, self._make_shared, self.make_own = bus, shared, own
        self._keep_bytes = keep_bytes
        self._sub: Subscription | None = None
        self._render: Render | None = None
        self._pending: deque[Event] = deque()
        self._encoded: dict[int, bytes] = {}  # event id -> messages, oldest first
        self._size = 0
        self.streams = 0
        self.renders = 0  # events the shared renderer has rendered

    def join(self) -> "StreamEncoder":
        """A stream starts: call it right after the stream subscribes, with no await between."""
        self.streams += 1
        if self._sub is None:
            self._start()
        return StreamEncoder(self)

    def leave(self) -> None:
        self.streams -= 1
        if self.streams == 0:
            if self._sub is not None:
                self._sub.close()
            self._sub = self._render = None
            self._pending.clear()
            self._encoded.clear()
            self._size = 0

    def gather(self) -> float:
        """Seconds a stream waits after an event for more before it writes (see above)."""
        return min(self.streams / WRITE_RATE, MAX_GATHER)

    def _start(self) -> None:
        self._sub = self._bus.subscribe()
        self._render = self._make_shared()

    def encoded(self, event: Event) -> bytes | None:
        """The event as every stream sends it, or None if the shared renderer did not see it."""
        data = self._encoded.get(event.id)
        if data is None and self._sub is not None:
            self._catch_up()
            data = self._encoded.get(event.id)
        return data

    def _catch_up(self) -> None:
        if self._sub.closed:
            if not self._sub.dropped:
                return  # the bus closed (shutdown): the streams end too
            self._start()  # the events it missed are the streams' own to render
        self._pending.extend(self._sub.drain())
        while self._pending:
            # one at a time: if rendering one raises, the rest stay pending
            event = self._pending.popleft()
            data = self._encoded[event.id] = encode(event, self._render)
            self.renders += 1
            self._size += len(data)
            while self._size > self._keep_bytes and len(self._encoded) > 1:
                self._size -= len(self._encoded.pop(next(iter(self._encoded))))


class StreamEncoder:
    """One stream's encoder: the shared bytes when there are some, else its own rendering."""

    def __init__(self, shared: SharedRender):
        self._shared = shared
        self._own: Render | None = None
        self._closed = False

    def own(self, event: Event) -> bytes:
        """``event`` rendered by this stream's renderer (e.g. the state it starts with)."""
        if self._own is None:
            self._own = self._shared.make_own()
        return encode(event, self._own)

    def __call__(self, event: Event) -> bytes:
        data = self._shared.encoded(event)
        if data is not None:
            # Following the shared output now; should it miss events later (its subscription
            # was dropped), a fresh renderer takes over from the state then, not a stale one.
            self._own = None
            return data
        return self.own(event)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._shared.leave()
