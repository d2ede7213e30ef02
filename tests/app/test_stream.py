"""The live event stream: every step once and in order, replay on reconnect, reference figures."""

import socket
import time

import pytest

from app.contract.events import StateOut, StepEvent

FIRST_LOSS = 3.3630094726947277  # step 1 of a fresh seed-42 model
STEP50_LOSS = 2.4203954240114873  # step 50 of the 500-step reference run


@pytest.fixture(scope="module")
def run40(server, connect_events):
    """A client connects, then a fresh model trains 40 steps; the client's events."""
    stream = connect_events(server.url)
    stream.wait_event("status")
    response = server.post("/api/train", {"steps": 40})
    assert response.status_code == 200, response.text
    stream.wait_event("done")
    stream.wait_for(lambda e: e.event == "status" and e.data["status"] == "idle")
    stream.close()
    return stream.events


def test_sends_current_state_first_to_a_new_client(server, open_events):
    stream = open_events(server.url)

    first = stream.wait_for(lambda e: True)

    assert first.event == "status"
    assert first.id is not None
    StateOut.model_validate(first.data)


def test_streams_steps_1_to_40_once_in_order_when_training_40(run40):
    steps = [e.data["step"] for e in run40 if e.event == "step"]

    assert steps == list(range(1, 41))
    assert [e.event for e in run40][-2:] == ["done", "status"]


def test_matches_reference_loss_at_step_1(run40):
    first = next(e for e in run40 if e.event == "step")

    assert abs(first.data["loss"] - FIRST_LOSS) < 1e-9


def test_carries_the_full_step_record_in_each_step_event(run40):
    for event in (e for e in run40 if e.event == "step"):
        step = StepEvent.model_validate(event.data)
        assert step.total == 40 and step.run_steps == 40
        assert step.tokens[0] == step.tokens[-1] == "[BOS]"
        assert "".join(step.tokens[1:-1]) == step.doc
        assert len(step.target_probs) == min(8, len(step.tokens) - 1)
        assert [p.prefix for p in step.probes] == ["", "e"]
        assert all(len(p.probs) == 27 and abs(sum(p.probs) - 1) < 1e-9 for p in step.probes)
        assert step.steps_per_sec > 0 and step.elapsed > 0 and step.eta >= 0
        assert step.t > time.time() - 600


def test_gives_every_event_an_increasing_id(run40):
    ids = [int(e.id) for e in run40]

    assert ids == sorted(ids) and len(set(ids[1:])) == len(ids) - 1


def test_replays_missed_events_when_reconnecting_with_last_event_id(server, run40, open_events):
    step20 = next(e for e in run40 if e.event == "step" and e.data["step"] == 20)

    stream = open_events(server.url, last_event_id=step20.id)
    stream.wait_event("done")

    assert stream.steps() == list(range(21, 41))
    assert stream.events[0].event == "step"  # no status first: the replay continues the stream


def test_resyncs_with_a_status_event_when_last_event_id_is_unknown(server, open_events):
    stream = open_events(server.url, last_event_id="12")

    first = stream.wait_for(lambda e: True)

    assert first.event == "status"


def test_smooths_the_loss_with_a_bias_corrected_ema(run40):
    losses = [e.data["loss"] for e in run40 if e.event == "step"]
    smooth = [e.data["smooth"] for e in run40 if e.event == "step"]
    m = 0.0
    for k, (loss, s) in enumerate(zip(losses, smooth, strict=True), start=1):
        m = 0.9 * m + 0.1 * loss
        assert abs(s - m / (1 - 0.9**k)) < 1e-12


def test_serves_the_loss_curve_as_history(server, run40):
    response = server.get("/api/history")

    assert response.status_code == 200
    body = response.json()
    streamed = [(e.data["step"], e.data["loss"]) for e in run40 if e.event == "step"]
    assert [(p["step"], p["loss"]) for p in body["points"]] == streamed
    assert body["segments"][-1]["status"] == "done" and body["segments"][-1]["end_step"] == 40


def test_sends_heartbeat_comments_when_idle(server, open_events):
    stream = open_events(server.url)  # this server pings every second (conftest TEST_ENV)
    stream.wait_event("status")

    deadline = time.monotonic() + 2.5
    while stream.comments < 2 and time.monotonic() < deadline:
        time.sleep(0.05)

    assert stream.comments >= 2


def test_keeps_other_clients_and_the_worker_at_speed_when_one_client_is_stuck(
    server, run40, open_events
):
    stuck = socket.create_connection(("127.0.0.1", server.port))
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.sendall(
        b"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
    )
    stream = open_events(server.url)
    stream.wait_event("status")
    try:
        response = server.post("/api/train", {"steps": 150})
        assert response.status_code == 200
        done = stream.wait_event("done", timeout=30)
    finally:
        stuck.close()

    assert stream.steps() == list(range(41, 191))
    assert done.data["segment"]["elapsed"] < 20


def test_reaches_reference_loss_at_step_50_of_a_fresh_500_step_run(server, open_events):
    assert server.post("/api/reset", {"seed": 42}).status_code == 200
    stream = open_events(server.url)
    stream.wait_event("status")

    assert server.post("/api/train", {"steps": 500}).status_code == 200
    step50 = stream.wait_event("step", step=50)
    assert server.post("/api/stop").status_code == 200

    step1 = stream.wait_event("step", step=1)
    assert abs(step1.data["loss"] - FIRST_LOSS) < 1e-9
    assert abs(step50.data["loss"] - STEP50_LOSS) < 1e-9


def test_starts_each_new_client_with_the_state_just_before_its_first_live_event(
    server, open_events
):
    assert server.post("/api/train", {"steps": 2000}).status_code == 200
    server.wait_for_state(lambda s: s["step"] > s["segment"]["start_step"] + 3)
    try:
        streams = [open_events(server.url) for _ in range(30)]
        for stream in streams:
            stream.wait_for(lambda e: e.event == "step")
    finally:
        assert server.post("/api/stop").status_code == 200

    for stream in streams:
        first, *rest = stream.events
        assert first.event == "status"
        ids = [int(e.id) for e in stream.events]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        assert [e.data["step"] for e in rest if e.event == "step"][0] == first.data["step"] + 1
