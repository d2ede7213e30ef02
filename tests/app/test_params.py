"""/api/params, /api/params.bin, /api/params/health and /api/gradcheck against the textbook
engine, on a real server.

One fresh seed-42 server for the module; the tests run in order and step it along with a
``ReferenceGPT`` (engine/reference.py) taking the same steps on the same schedule.
"""

import json
import math
import struct
from array import array

import pytest

from engine import load_names
from engine.model import GPTConfig, param_shapes
from engine.reference import ReferenceGPT

LENSES = ["value", "grad", "update", "m", "v"]
SHAPES = [(name, rows, cols) for name, rows, cols, _ in param_shapes(GPTConfig())]


def flat(params: dict, lens: str) -> list[float]:
    return [x for matrix in params["matrices"] for row in matrix[lens] for x in row]


def matrix(params: dict, name: str, lens: str) -> list[list[float]]:
    return next(m[lens] for m in params["matrices"] if m["name"] == name)


def assert_close(got: list[float], want: list[float], tol: float = 1e-9) -> None:
    assert len(got) == len(want)
    worst = max(abs(a - b) for a, b in zip(got, want, strict=True))
    assert worst <= tol, worst


class Oracle:
    """The textbook engine and the params the server showed last."""

    def __init__(self):
        self.ref = ReferenceGPT(load_names())
        self.step = 0  # global steps taken
        self.seen: dict | None = None
        self.health: list[tuple[list[float], list[float]]] = []  # per step: norms, ratios

    def run(self, steps: int) -> None:
        """A run of ``steps`` steps, the cosine schedule spanning it (as the app's runs)."""
        for run_step in range(steps):
            self.ref.train_step(self.step, steps, run_step=run_step)
            self.step += 1
            self.health.append(self.matrix_health())

    def matrix_health(self) -> tuple[list[float], list[float]]:
        """Each matrix's gradient norm and ||update|| / ||weights before|| at the last step."""
        grads, before = self.ref.last_grads, self.ref.last_before
        after = [p.data for p in self.ref.params]
        norms, ratios, i = [], [], 0
        for _, rows, cols in SHAPES:
            j = i + rows * cols
            norms.append(math.sqrt(sum(g * g for g in grads[i:j])))
            size = math.sqrt(sum(w * w for w in before[i:j]))
            moved = math.sqrt(
                sum((a - b) ** 2 for a, b in zip(after[i:j], before[i:j], strict=True))
            )
            ratios.append(moved / size if size else 0.0)
            i = j
        return norms, ratios

    def check(self, params: dict) -> None:
        ref = self.ref
        assert params["step"] == self.step
        assert_close(flat(params, "value"), [p.data for p in ref.params])
        assert_close(flat(params, "grad"), ref.last_grads)
        assert_close(flat(params, "m"), ref.m)
        assert_close(flat(params, "v"), ref.v)
        before = ref.last_before
        after = [p.data for p in ref.params]
        assert_close(flat(params, "update"), [a - b for a, b in zip(after, before, strict=True)])


@pytest.fixture(scope="module")
def server(own_server):
    """A server of this module's own: a test restarts it."""
    return own_server


@pytest.fixture(scope="module")
def oracle():
    return Oracle()


def params_of(server) -> dict:
    r = server.get("/api/params")
    assert r.status_code == 200, r.text
    return r.json()


def test_fresh_model_has_values_and_moments_but_no_gradient(server, oracle):
    params = params_of(server)
    assert params["step"] == 0
    assert [(m["name"], *m["shape"]) for m in params["matrices"]] == SHAPES
    for m in params["matrices"]:
        rows, cols = m["shape"]
        assert m["grad"] is None and m["update"] is None
        assert len(m["value"]) == rows and {len(r) for r in m["value"]} == {cols}
    assert_close(flat(params, "value"), [p.data for p in oracle.ref.params], 0.0)
    assert set(flat(params, "m")) == set(flat(params, "v")) == {0.0}
    r = server.get("/api/gradcheck", params={"name": "wte", "row": 0, "col": 0})
    assert r.status_code == 409
    assert "step 0" in r.json()["detail"]
    oracle.seen = params


def test_one_step_shows_the_textbook_gradient_update_and_moments(server, oracle):
    assert server.post("/api/step").status_code == 200
    params = params_of(server)
    oracle.run(1)
    oracle.check(params)
    # update is exactly value after − value before
    before, after = flat(oracle.seen, "value"), flat(params, "value")
    assert flat(params, "update") == [a - b for a, b in zip(after, before, strict=True)]
    oracle.seen = params


def test_a_three_step_run_ends_on_the_textbook_numbers(server, oracle):
    assert server.post("/api/train", {"steps": 3}).status_code == 200
    server.wait_idle_at(4)
    params = params_of(server)
    oracle.run(3)
    oracle.check(params)
    oracle.seen = params


def test_step_events_carry_each_matrix_health(server, oracle, open_events):
    stream = open_events(server.url)
    before = oracle.seen
    assert server.post("/api/step").status_code == 200
    event = stream.wait_event("step", step=5)
    params = params_of(server)
    oracle.run(1)
    oracle.check(params)
    after = flat(params, "value")
    assert flat(params, "update") == [
        a - b for a, b in zip(after, flat(before, "value"), strict=True)
    ]
    health = event.data["health"]
    assert [h["name"] for h in health] == [name for name, *_ in SHAPES]
    for h in health:
        grad = [x for row in matrix(params, h["name"], "grad") for x in row]
        update = [x for row in matrix(params, h["name"], "update") for x in row]
        value = [x for row in matrix(before, h["name"], "value") for x in row]
        assert h["grad_norm"] == pytest.approx(math.sqrt(sum(g * g for g in grad)), rel=1e-12)
        norm = math.sqrt(sum(w * w for w in value))
        ratio = math.sqrt(sum(u * u for u in update)) / norm if norm else 0.0
        assert h["update_ratio"] == pytest.approx(ratio, rel=1e-9, abs=1e-300)
    assert all(h["update_ratio"] > 0 for h in health)  # by step 5 every matrix has moved
    oracle.seen = params


def test_health_lines_give_every_step_the_server_saw(server, oracle):
    r = server.get("/api/params/health")
    assert r.status_code == 200, r.text
    health = r.json()
    assert health["names"] == [name for name, *_ in SHAPES]
    assert health["steps"] == list(range(1, oracle.step + 1))
    for k, (norms, ratios) in enumerate(oracle.health):
        for i, name in enumerate(health["names"]):
            got_norm, got_ratio = health["grad_norm"][i][k], health["update_ratio"][i][k]
            assert got_norm == pytest.approx(norms[i], rel=1e-9, abs=1e-300), (name, k + 1)
            assert got_ratio == pytest.approx(ratios[i], rel=1e-9, abs=1e-300), (name, k + 1)


def test_params_bin_decodes_to_the_same_numbers(server, oracle):
    r = server.get("/api/params.bin")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/octet-stream"
    body = r.content
    (n,) = struct.unpack_from("<I", body)
    assert (4 + n) % 4 == 0
    header = json.loads(body[4 : 4 + n].decode())
    assert header["step"] == oracle.step
    assert header["model"] == server.state()["model"]
    assert header["lenses"] == LENSES and header["has_grad"] is True
    assert [(m["name"], *m["shape"]) for m in header["matrices"]] == SHAPES
    data = array("f")
    data.frombytes(body[4 + n :])
    if struct.pack("=I", 1) != struct.pack("<I", 1):
        data.byteswap()
    params, i = oracle.seen, 0
    for name, rows, cols in SHAPES:
        for lens in LENSES:
            want = [x for row in matrix(params, name, lens) for x in row]
            got = data[i : i + rows * cols]
            assert got.tolist() == pytest.approx(want, rel=1e-6, abs=1e-30), (name, lens)
            i += rows * cols
    assert i == len(data)


def textbook_difference(ref: ReferenceGPT, step: int, index: int, h: float) -> float:
    """(loss(w + h) − loss(w − h)) / 2h of step ``step``'s document on the textbook engine, at
    the weights before that step's update (``ref.last_before``)."""
    now = [p.data for p in ref.params]
    doc = ref.docs[(step - 1) % len(ref.docs)]
    losses = []
    try:
        for delta in (h, -h):
            for p, w in zip(ref.params, ref.last_before, strict=True):
                p.data = w
            ref.params[index].data += delta
            losses.append(ref.doc_loss(doc).data)
    finally:
        for p, w in zip(ref.params, now, strict=True):
            p.data, p.grad = w, 0
    return (losses[0] - losses[1]) / (2 * h)


@pytest.mark.parametrize("name", ["wte", "lm_head", "layer0.attn_wq", "layer0.mlp_fc2"])
def test_gradcheck_agrees_with_autograd_and_the_textbook(server, oracle, name):
    grads = matrix(oracle.seen, name, "grad")
    row, col = max(
        ((r, c) for r in range(len(grads)) for c in range(len(grads[0]))),
        key=lambda rc: abs(grads[rc[0]][rc[1]]),
    )
    r = server.get("/api/gradcheck", params={"name": name, "row": row, "col": col})
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["step"], out["name"], out["row"], out["col"], out["h"]) == (
        oracle.step,
        name,
        row,
        col,
        1e-5,
    )
    assert out["autograd"] == grads[row][col]
    assert abs(out["autograd"]) > 1e-6
    assert abs(out["numeric"] - out["autograd"]) <= 1e-7 * abs(out["autograd"]) + 1e-10
    start = 0
    for n, rows, cols in SHAPES:
        if n == name:
            break
        start += rows * cols
    textbook = textbook_difference(oracle.ref, oracle.step, start + row * cols + col, 1e-5)
    assert abs(out["numeric"] - textbook) <= 1e-7 * abs(textbook) + 1e-10


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ({"name": "layer9.attn_wq", "row": 0, "col": 0}, "'layer9.attn_wq'"),
        ({"name": "wte", "row": 27, "col": 0}, "row 27 is out of range: wte has rows 0..26"),
        ({"name": "wte", "row": -1, "col": 0}, "row -1"),
        ({"name": "layer0.mlp_fc2", "row": 0, "col": 64}, "columns 0..63"),
        ({"name": "wte", "row": 0, "col": 0, "h": 0}, "h 0.0 is out of range"),
        ({"name": "wte", "row": 0, "col": 0, "h": 0.1}, "(0, 0.01]"),
        ({"name": "wte", "row": "x", "col": 0}, "row"),
    ],
)
def test_gradcheck_names_a_bad_value_and_what_is_allowed(server, query, words):
    r = server.get("/api/gradcheck", params=query)
    assert r.status_code == 422
    assert words in r.json()["detail"]


def test_the_frame_survives_a_restart(server, oracle):
    server.restart()
    params = params_of(server)
    assert params == oracle.seen
    assert params["matrices"][0]["grad"] is not None
    r = server.get("/api/gradcheck", params={"name": "lm_head", "row": 0, "col": 0})
    assert r.status_code == 200 and r.json()["step"] == oracle.step
    # the health lines are this process's: they start afresh
    assert server.get("/api/params/health").json()["steps"] == []


def test_while_training_params_answer_at_once_and_never_go_back(server):
    # a request that meets a new frame's body being built gets the one before it: the steps
    # served only go forward, and once the run ends the body is exactly the last step's
    assert server.post("/api/train", {"steps": 200}).status_code == 200
    served = []
    while server.get("/api/state").json()["status"] == "training":
        served.append(params_of(server)["step"])
    final = server.get("/api/state").json()["step"]
    assert len(served) >= 5 and served == sorted(served)
    assert params_of(server)["step"] == final
