"""The event bus: numbered events, a replay buffer, and a bounded buffer per subscriber.

``EventBus`` is the seam: the in-memory bus below serves one web process; a Redis-backed bus
(streams for replay, pub/sub for fan-out) can implement the same Protocol in a new module.

Ids are integers that only grow, also across restarts: they start at the boot time in
microseconds, so a browser holding an id from before a restart never mistakes it for a new one.
Replay keeps every event since the start of the previous run (``mark_boundary`` starts a run),
capped at ``max_events``.

A subscriber that falls more than ``client_buffer`` events behind is closed (``dropped``):
the browser's EventSource reconnects with its Last-Event-ID and catches up from the replay
buffer, so nothing is lost while the events are still buffered, and the publisher (the
training bridge) never waits for a reader.
"""

import asyncio
import itertools
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

from pydantic import BaseModel
from sse_starlette import ServerSentEvent


class Event:
    """One published event; its JSON and its default SSE encoding are computed once."""

    __slots__ = ("id", "name", "data", "json", "_sse")

    def __init__(self, id: int, name: str, data: dict[str, Any]):
        self.id, self.name, self.data = id, name, data
        self.json = json.dumps(data, separators=(",", ":"), allow_nan=False)
        self._sse: bytes | None = None

    def sse(self) -> bytes:
        """``id:``, ``event:`` and ``data:`` (JSON) lines, as bytes, built once per event."""
        if self._sse is None:
            self._sse = ServerSentEvent(self.json, event=self.name, id=str(self.id)).encode()
        return self._sse

    def __repr__(self) -> str:
        return f"Event(id={self.id}, name={self.name!r})"


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
    def subscribe(self, last_event_id: int | None = None) -> Subscription: ...
    def mark_boundary(self) -> None: ...
    def close(self) -> None: ...


class MemorySubscription:
    def __init__(self, bus: "MemoryBus", limit: int, replay: list[Event], replayed: bool):
        self._bus, self._limit = bus, limit
        self._queue: deque[Event] = deque(replay)
        self._wakeup = asyncio.Event()
        self.replayed, self.dropped, self.closed = replayed, False, False
        if replay:
            self._wakeup.set()

    def push(self, event: Event) -> None:
        if self.closed:
            return
        if len(self._queue) >= self._limit:
            self.dropped = True
            self.close()
            return
        self._queue.append(event)
        self._wakeup.set()

    def drain(self) -> list[Event]:
        batch = list(self._queue)
        self._queue.clear()
        return batch

    async def next_batch(self) -> list[Event]:
        while not self._queue and not self.closed:
            self._wakeup.clear()
            await self._wakeup.wait()
        return [] if self.closed and not self._queue else self.drain()

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
    """In-process fan-out. Call publish/subscribe from the event loop's thread only."""

    def __init__(self, max_events: int = 25_000, client_buffer: int = 1024, keep_runs: int = 2):
        self._events: deque[Event] = deque()
        self._boundaries: deque[int] = deque(maxlen=keep_runs)
        self._subs: set[MemorySubscription] = set()
        self._max_events, self._client_buffer = max_events, client_buffer
        self._last_id = time.time_ns() // 1000
        self.closed = False

    @property
    def last_id(self) -> int:
        return self._last_id

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def publish(self, name: str, data: BaseModel | Mapping[str, Any]) -> Event:
        payload = data.model_dump(mode="json") if isinstance(data, BaseModel) else dict(data)
        self._last_id += 1
        event = Event(self._last_id, name, payload)
        self._events.append(event)
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
        while events and (len(events) > self._max_events or events[0].id < keep_from):
            events.popleft()

    def subscribe(self, last_event_id: int | None = None) -> MemorySubscription:
        replay: list[Event] = []
        replayed = last_event_id is None
        if last_event_id is not None:
            first = self._events[0].id if self._events else self._last_id + 1
            if first - 1 <= last_event_id <= self._last_id:
                replay = list(itertools.islice(self._events, last_event_id - first + 1, None))
                replayed = True
        sub = MemorySubscription(self, self._client_buffer, replay, replayed)
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
