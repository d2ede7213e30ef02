"""The graph of one step (GET /api/graph): every node's gradient is what the chain rule makes of
its parents' (within 1e-9 × max(1, |grad|)), every parameter leaf's gradient is the textbook
engine's for that step, and the loss node holds the step's loss with gradient 1. Checked for
steps 1 and 3 of a seed-42 run, and for a 2-layer model of another shape loaded from a file.
"""

import gzip
import json
import math
from collections import defaultdict

import pytest

from engine import GPTConfig, Trainer, load_names
from engine.reference import ReferenceGPT

RUN = 4


@pytest.fixture(scope="module")
def textbook():
    """Per step: the textbook engine's loss and gradient (parameter order)."""
    ref = ReferenceGPT(load_names())
    seen = {}
    for s in range(RUN):
        loss = ref.train_step(s, RUN)
        seen[s + 1] = {"loss": loss, "grads": list(ref.last_grads)}
    return seen


@pytest.fixture(scope="module")
def trained(server):
    return server.train(RUN)


def param_order(config: GPTConfig) -> list[str]:
    from engine.model import param_shapes

    return [
        f"{name}[{r}][{c}]"
        for name, rows, cols, _ in param_shapes(config)
        for r in range(rows)
        for c in range(cols)
    ]


def check_chain_rule(graph: dict) -> None:
    """grad(node) = Σ over its parents of grad(parent) × local; the loss node's grad is 1."""
    grads = {n["id"]: n["grad"] for n in graph["nodes"]}
    pushed = defaultdict(float)
    for e in graph["edges"]:
        pushed[e["child"]] += grads[e["parent"]] * e["local"]
    assert grads[graph["loss"]] == 1.0
    for node in graph["nodes"]:
        if node["id"] == graph["loss"]:
            continue
        g = node["grad"]
        assert abs(pushed[node["id"]] - g) <= 1e-9 * max(1.0, abs(g)), node


@pytest.mark.parametrize("step", [1, 3])
def test_a_steps_graph_follows_the_chain_rule_and_the_textbook(trained, textbook, step):
    r = trained.get("/api/graph", params={"step": step})
    assert r.status_code == 200, r.text
    graph = r.json()
    assert graph["step"] == step
    check_chain_rule(graph)
    loss = next(n for n in graph["nodes"] if n["id"] == graph["loss"])
    assert abs(loss["data"] - textbook[step]["loss"]) < 1e-9
    assert loss["group"] == "loss"
    # every parameter leaf's gradient is the textbook's; parameters the step did not use
    # (rows of wte and wpe for absent tokens and positions) are not in the graph, grad 0
    expected = dict(zip(param_order(GPTConfig()), textbook[step]["grads"], strict=True))
    leaves = [n for n in graph["nodes"] if n["param"] is not None]
    assert {n["op"] for n in leaves} == {"param"}
    for n in leaves:
        assert abs(n["grad"] - expected.pop(n["param"])) < 1e-9, n
    assert all(g == 0 for g in expected.values())
    groups = {n["group"] for n in graph["nodes"]}
    assert {"pos0/embed", "pos0/layer0/attn/head3", "pos0/layer0/mlp", "pos0/loss"} <= groups


def test_the_newest_steps_graph_comes_gzipped_and_small(trained):
    r = trained.get("/api/graph", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers["content-encoding"] == "gzip" and r.headers["x-step"] == str(RUN)
    assert int(r.headers["content-length"]) <= 2 * 2**20
    assert json.loads(r.content)["step"] == RUN  # httpx undid the gzip
    raw = trained.get("/api/graph", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in raw.headers
    assert len(gzip.compress(raw.content)) < len(raw.content) / 4


def test_a_step_without_a_graph_is_named(trained):
    r = trained.get("/api/graph", params={"step": 0})
    assert r.status_code == 409
    assert "step 0 has no graph" in r.json()["detail"]
    r = trained.get("/api/graph", params={"step": RUN + 1})
    assert r.status_code == 422
    assert f"from 0 to {RUN}" in r.json()["detail"]


def test_a_two_layer_model_of_another_shape(trained):
    config = GPTConfig(n_embd=8, n_head=2, n_layer=2, block_size=6)
    model = Trainer(docs=["ada", "bob", "cyd", "eve"], config=config, seed=3)
    upload = json.dumps(model.to_dict()).encode()
    r = trained.post("/api/checkpoint", files={"file": ("m.json", upload)})
    assert r.status_code == 200, r.text
    trained.train(2)
    graph = trained.get("/api/graph", params={"step": 2}).json()
    check_chain_rule(graph)
    groups = {n["group"] for n in graph["nodes"]}
    assert {"pos0/layer1/attn/head1", "pos0/layer1/mlp"} <= groups
    # the parameter leaves' gradients are the step's gradient: a gradient step from them
    params = trained.get("/api/params", params={"step": 2}).json()["matrices"]
    flat = {
        f"{m['name']}[{r}][{c}]": g
        for m in params
        for r, row in enumerate(m["grad"])
        for c, g in enumerate(row)
    }
    for n in graph["nodes"]:
        if n["param"] is not None:
            assert math.isclose(n["grad"], flat[n["param"]], rel_tol=0, abs_tol=1e-12)
