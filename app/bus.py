"""The event bus: numbered events, a replay buffer, and a bounded buffer per subscriber.

``EventBus`` is the seam: the in-memory bus below serves one web process; a Redis-backed bus
(streams for replay, pub/sub for fan-out) can implement the same Protocol in a new module.

Ids are integers that only grow, also across restarts: a bus starts above the boot time in
microseconds and above ``floor`` (the last id a previous boot issued, kept in SQLite by
``app.store``), so a browser holding an id from before a restart never mistakes it for a new
one, even if the wall clock has stepped back. Replay keeps every event since the start of the
previous run (``mark_boundary`` starts a run), capped at ``max_events`` and at ``max_bytes``
(the sum of the events' ``size``: encoded bytes plus bookkeeping), whichever comes first.

Delivery (the policy is described in one place, ``app.sse``'s docstring): a reconnecting
subscriber first *catches up*, reading the missed events straight from the shared replay
buffer, at most ``client_buffer`` at a time, as its reader asks for them; nothing is copied
per subscriber and new events do not count against it meanwhile. If the events it still needs
are evicted first, it is closed (``dropped``). A subscriber further behind than
``max_replay`` bytes is not replayed at all (``replayed`` False: it is sent the current state
instead, and its page reloads the rest): 500 pages reconnecting from an old id must not each
read megabytes. Once caught up it is *live*: new events go to its own buffer of at most
``client_buffer`` events; one that falls further behind is closed (``dropped``) and
reconnects to catch up again. The publisher never waits for a subscriber.
"""

import asyncio
import bisect
import itertools
import json
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

from pydantic import BaseModel

# Bytes a buffered event costs beyond its encoding: the Event object, its id, the bytes
# object's header and the deque slot (tracemalloc: ~150).
EVENT_OVERHEAD = 160
# Released payloads parsed again, kept for whoever asks next: streams replaying the same events
# (a class reconnecting at once) parse each once, not once per stream (~1.5 MB of step events)
PARSED_KEPT = 256


class Event:
    """One published event, encoded once (``id:``, ``event:``, ``data:`` JSON) for every client.

    ``payload`` is what was published: a contract model (``app.contract.events``), read by its
    fields. The parsed payload costs about three times the encoded bytes in Python objects;
    the bus lets go of it once a newer event is published (``release``), and ``payload`` then
    parses the JSON again on demand (an equal model, shared with the next ``PARSED_KEPT``
    asking; ``data``: an equal dict). So a buffered event costs its encoded size plus
    ``EVENT_OVERHEAD`` bytes (``size``).
    """

    __slots__ = ("id", "name", "_data", "_model", "_type", "_sse", "_json_at")

    def __init__(self, id: int, name: str, data: BaseModel | Mapping[str, Any]):
        self.id, self.name = id, name
        self._model = data if isinstance(data, BaseModel) else None
        self._type = type(data) if self._model is not None else None
        plain = data.model_dump(mode="json") if self._model is not None else data
        self._data = None if self._model is not None else plain
        text = json.dumps(plain, separators=(",", ":"), allow_nan=False)  # one line: no \r \n
        head = f"id: {id}\r\nevent: {name}\r\ndata: ".encode()
        self._sse = b"".join((head, text.encode(), b"\r\n\r\n"))
        self._json_at = len(head)

    @property
    def payload(self) -> Any:
        """The model published (parsed from the JSON again once ``release``d); an event
        published as a plain mapping gives ``data``."""
        if self._model is not None:
            return self._model
        if self._type is not None:
            return _reparsed(self)
        return self.data

    @property
    def data(self) -> dict[str, Any]:
        """The payload as a dict; parsed from the JSON again (a new dict) once ``release``d."""
        return self._data if self._data is not None else json.loads(self.json)

    @property
    def json(self) -> str:
        return self._sse[self._json_at : -4].decode()

    @property
    def size(self) -> int:
        """What this event costs in the replay buffer, in bytes (payload released)."""
        return len(self._sse) + EVENT_OVERHEAD

    def release(self) -> None:
        """Drop the parsed payload (``payload`` and ``data`` parse the JSON when asked)."""
        self._data = self._model = None

    def sse(self) -> bytes:
        """``id:``, ``event:`` and ``data:`` (JSON) lines, as bytes, built once per event."""
        return self._sse

    def __repr__(self) -> str:
        return f"Event(id={self.id}, name={self.name!r})"


_parsed: OrderedDict[Event, BaseModel] = OrderedDict()  # the last PARSED_KEPT parsed


def _reparsed(event: Event) -> BaseModel:
    model = _parsed.get(event)
    if model is None:
        model = _parsed[event] = event._type.model_validate_json(event.json)
        while len(_parsed) > PARSED_KEPT:
            _parsed.popitem(last=False)
    return model


def _event_id(event: Event) -> int:
    return event.id


class EventIds:
    """The id source every run's bus draws from: one sequence for the whole server, so an id
    names one event of one run, and a stream's ids only grow whatever runs come and go."""

    def __init__(self, floor: int = 0):
        self.last = max(time.time_ns() // 1000, floor)

    def raise_floor(self, floor: int) -> None:
        self.last = max(self.last, floor)

    def next(self) -> int:
        self.last += 1
        return self.last


class Subscription(Protocol):
    replayed: bool  # False when a Last-Event-ID was given but is unknown: resync the client
    dropped: bool  # True when closed for falling behind

    def drain(self) -> list[Event]: ...
    async def next_batch(self) -> list[Event]: ...  # [] once closed
    def close(self) -> None: ...
    def __aiter__(self) -> AsyncIterator[Event]: ...


class EventBus(Protocol):
    @property
    def last_id(self) -> int: ...
    def publish(self, name: str, data: BaseModel | Mapping[str, Any]) -> Event: ...
    def last_id_of(self, name: str) -> int: ...
    def subscribe(self, last_event_id: int | None = None) -> Subscription: ...
    def mark_boundary(self) -> None: ...
    def raise_floor(self, floor: int) -> None: ...
    def close(self) -> None: ...


class MemorySubscription:
    """One subscriber: catching up from the bus's replay buffer, then live via its own queue."""

    def __init__(self, bus: "MemoryBus", limit: int, after: int | None, replayed: bool):
        self._bus, self._limit = bus, limit
        self._queue: deque[Event] = deque()  # live events, at most ``limit``
        # While catching up: the id of the last event handed out (the rest is read from the
        # bus's buffer on demand). None once live.
        self._after = after
        self._wakeup = asyncio.Event()
        self.replayed, self.dropped, self.closed = replayed, False, False
        if after is not None:
            self._wakeup.set()

    def push(self, event: Event) -> None:
        if self.closed:
            return
        if self._after is not None:  # catching up: the event waits in the replay buffer
            self._wakeup.set()
            return
        if len(self._queue) >= self._limit:
            self.dropped = True
            self.close()
            return
        self._queue.append(event)
        self._wakeup.set()

    def drain(self) -> list[Event]:
        """The next events to send: up to ``limit`` replayed ones, or every queued live one."""
        if self._after is None or self.closed:
            batch = list(self._queue)
            self._queue.clear()
            return batch
        batch = self._bus._read_after(self._after, self._limit)
        if batch is None:  # fell out of the replay buffer: the client has to resync
            self.dropped = True
            self.close()
            return []
        if batch:
            self._after = batch[-1].id
        if self._after >= self._bus.last_id:
            self._after = None  # caught up: from the next event on, live through the queue
        return batch

    async def next_batch(self) -> list[Event]:
        while True:
            batch = self.drain()
            if batch or self.closed:
                return batch
            self._wakeup.clear()
            await self._wakeup.wait()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.dropped:
                self._queue.clear()
            self._bus._discard(self)
            self._wakeup.set()

    async def __aiter__(self) -> AsyncIterator[Event]:
        while batch := await self.next_batch():
            for event in batch:
                yield event


class MemoryBus:
    """In-process fan-out. Call publish/subscribe from the event loop's thread only.

    ``floor``: ids start strictly above it (and above the boot time in microseconds).
    ``ids``: the id source shared with other buses (one per run); a bus's own ids then have
    gaps, which replay reads through (``_floor`` is the id just before the oldest event kept).
    """

    def __init__(
        self,
        max_events: int = 25_000,
        client_buffer: int = 1024,
        keep_runs: int = 2,
        floor: int = 0,
        max_bytes: int = 8 * 1024 * 1024,
        ids: EventIds | None = None,
        max_replay: int = 2 * 1024 * 1024,
    ):
        self._events: deque[Event] = deque()  # growing ids
        # bytes published before each buffered event, and in all: what a replay would send
        self._starts: deque[int] = deque()
        self._published = 0
        self._max_replay = max_replay
        self._bytes = 0  # sum of the buffered events' ``size``
        self._boundaries: deque[int] = deque(maxlen=keep_runs)
        self._subs: set[MemorySubscription] = set()
        self._max_events, self._client_buffer = max_events, client_buffer
        self._max_bytes = max_bytes
        self._ids = ids or EventIds(floor)
        self._ids.raise_floor(floor)
        self._last_id = self._floor = self._ids.last
        self._last_of: dict[str, int] = {}  # event name -> the id of the newest of that name
        self.closed = False

    @property
    def last_id(self) -> int:
        return self._last_id

    def last_id_of(self, name: str) -> int:
        """The id of the newest event named ``name`` (0: none yet)."""
        return self._last_of.get(name, 0)

    def raise_floor(self, floor: int) -> None:
        """Issue ids strictly above ``floor`` from now on (e.g. the last id of a previous boot).

        Call it before the first publish: events already buffered keep their ids, and a jump
        in between would read as a gap to a resuming client.
        """
        if self._events:
            raise RuntimeError("raise_floor() after events were published")
        self._ids.raise_floor(floor)
        self._last_id = self._floor = max(self._last_id, self._ids.last)

    def publish(self, name: str, data: BaseModel | Mapping[str, Any]) -> Event:
        payload = data if isinstance(data, BaseModel) else dict(data)
        self._last_id = self._last_of[name] = self._ids.next()
        event = Event(self._last_id, name, payload)
        if self._events:
            self._events[-1].release()  # keep its bytes only; data re-parses if asked again
        self._events.append(event)
        self._starts.append(self._published)
        self._published += event.size
        self._bytes += event.size
        self._evict()
        for sub in list(self._subs):
            sub.push(event)
        return event

    def mark_boundary(self) -> None:
        """A run starts with the next event; events before the previous run may be evicted."""
        self._boundaries.append(self._last_id + 1)

    def _evict(self) -> None:
        keep_from = self._boundaries[0] if len(self._boundaries) == self._boundaries.maxlen else 0
        events = self._events
        while events and (
            len(events) > self._max_events
            or (self._bytes > self._max_bytes and len(events) > 1)  # keep the newest
            or events[0].id < keep_from
        ):
            gone = events.popleft()
            self._starts.popleft()
            self._bytes -= gone.size
            self._floor = gone.id

    def _read_after(self, after: int, limit: int) -> list[Event] | None:
        """Up to ``limit`` buffered events after id ``after``; None if some were evicted."""
        if after < self._floor:
            return None
        start = bisect.bisect_right(self._events, after, key=_event_id)
        return list(itertools.islice(self._events, start, start + limit))

    def replay_bytes(self, after: int) -> int:
        """Bytes of the buffered events after id ``after`` (what replaying them would send)."""
        start = bisect.bisect_right(self._events, after, key=_event_id)
        return self._published - self._starts[start] if start < len(self._starts) else 0

    def subscribe(self, last_event_id: int | None = None) -> MemorySubscription:
        after: int | None = None
        replayed = last_event_id is None
        if (
            last_event_id is not None
            and self._floor <= last_event_id <= self._last_id
            and self.replay_bytes(last_event_id) <= self._max_replay
        ):
            replayed = True
            if last_event_id < self._last_id:
                after = last_event_id
        sub = MemorySubscription(self, self._client_buffer, after, replayed)
        if self.closed:
            sub.close()
        else:
            self._subs.add(sub)
        return sub

    def _discard(self, sub: MemorySubscription) -> None:
        self._subs.discard(sub)

    def close(self) -> None:
        """End every subscription (server shutdown)."""
        self.closed = True
        for sub in list(self._subs):
            sub.close()
