"""A replay is bounded (app.bus): a client further behind than ``max_replay`` bytes gets the
current state instead of megabytes of old events; streams replaying the same events parse
each once."""

import asyncio

from app.bus import MemoryBus
from app.contract.events import DeletedEvent
from tests.conftest import run_async


def publish(bus: MemoryBus, n: int) -> list[int]:
    return [bus.publish("step", {"step": i, "pad": "x" * 1000}).id for i in range(n)]


def test_a_client_within_the_bound_is_replayed_every_event_after_its_id():
    bus = MemoryBus(max_replay=20_000)
    ids = publish(bus, 30)

    sub = bus.subscribe(ids[-10])  # nine events behind: ~10 kB

    assert sub.replayed
    assert [e.id for e in sub.drain()] == ids[-9:]


def test_a_client_beyond_the_bound_is_not_replayed_and_gets_the_state_instead():
    bus = MemoryBus(max_replay=20_000)
    ids = publish(bus, 30)

    sub = bus.subscribe(ids[0])  # 29 events behind: ~33 kB

    assert not sub.replayed  # app.sse sends the current state first
    assert sub.drain() == []  # and then only what is new
    new = bus.publish("step", {"step": 30}).id
    assert [e.id for e in run_async(asyncio.wait_for(sub.next_batch(), 1))] == [new]


def test_replay_bytes_counts_the_events_after_the_id():
    bus = MemoryBus()
    ids = publish(bus, 5)
    events = list(bus._events)

    assert bus.replay_bytes(ids[-1]) == 0
    assert bus.replay_bytes(ids[1]) == sum(e.size for e in events[2:])
    assert bus.replay_bytes(ids[0] - 1) == sum(e.size for e in events)


def test_a_released_payload_is_parsed_once_for_every_stream_replaying_it():
    bus = MemoryBus()
    old = bus.publish("deleted", DeletedEvent(run=1, name="a"))
    bus.publish("deleted", DeletedEvent(run=2, name="b"))  # releases the first

    first, second = old.payload, old.payload

    assert first == DeletedEvent(run=1, name="a") and first is second
