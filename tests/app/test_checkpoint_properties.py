"""Property tests: a valid checkpoint mutated field by field never breaks the service.

Whatever one field of an uploaded model file becomes (another type, a huge or non-finite
number, a missing or extra key), the upload either gets a 422 naming the problem and changes
nothing, or is a model that loads, trains a step and predicts finite numbers. Never a 500.
"""

import functools
import json
import math

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.main import create_app
from app.runs.checkpoints import validate_checkpoint
from app.runs.errors import BadInput
from app.settings import Settings
from engine import Trainer

# values that could arrive where any field is expected
HOSTILE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 2**31, 2**63, 10**30, 1e200, -1e-320, 5e-324]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=4),
    st.lists(st.integers(-3, 3), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
DELETE, EXTRA = object(), object()


def base_checkpoint(docs=None) -> dict:
    trainer = Trainer(docs=docs, seed=3)
    trainer.begin_run(4)
    for _ in range(2):
        trainer.train_step()
    return trainer.to_dict()


@functools.cache
def bases() -> tuple[dict, dict]:
    """The checkpoints mutated: of the names and of a list of four (made when first drawn, not
    when the file is collected: every pytest process collects it, one runs it)."""
    return base_checkpoint(), base_checkpoint(["ann", "bob", "eve", "ida"])


def paths(d: dict) -> list[tuple]:
    """Where a mutation may land: every field, and a few entries of every list."""
    out = [()]
    for key, value in d.items():
        out.append((key,))
        if isinstance(value, dict):
            for sub, inner in value.items():
                out.append((key, sub))
                if isinstance(inner, list) and inner and isinstance(inner[0], list):
                    out += [(key, sub, 0), (key, sub, len(inner) - 1, 0)]
                elif isinstance(inner, list):
                    out += [(key, sub, 0), (key, sub, len(inner) - 1)]
        elif isinstance(value, list):
            out += [(key, 0), (key, len(value) - 1)]
            if value and isinstance(value[1 if len(value) > 1 else 0], list):
                out.append((key, 1, 0))
    return out


@st.composite
def mutations(draw):
    base = draw(st.sampled_from(bases()))
    path = draw(st.sampled_from(paths(base)))
    value = draw(st.one_of(HOSTILE, st.just(DELETE), st.just(EXTRA)))
    d = json.loads(json.dumps(base))
    if not path:
        return d if value is not EXTRA else {**d, "surprise": 1}
    parent = d
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    if value is DELETE:
        parent.pop(last) if isinstance(parent, dict) else parent.pop(last)
    elif value is EXTRA:
        if isinstance(parent, dict):
            parent["surprise"] = 1
        else:
            parent.append(0.5)
    else:
        parent[last] = value
    return d


def encode(d: dict) -> bytes:
    return json.dumps(d, allow_nan=True).encode()


@settings(max_examples=120, deadline=None)
@given(mutations())
def test_a_mutated_checkpoint_is_refused_or_is_a_working_model(d):
    try:
        data, step = validate_checkpoint(encode(d))
    except BadInput as e:
        assert e.detail.startswith(("invalid checkpoint", "the checkpoint"))
        assert len(e.detail) < 400
        return
    # accepted: it is a model in every sense, and what is stored is finite JSON
    loaded = json.loads(data, parse_constant=pytest.fail)
    trainer = Trainer.from_dict(loaded)
    assert trainer.step == step
    trainer.begin_run(1)
    assert math.isfinite(trainer.train_step().loss)
    assert all(math.isfinite(p) for p in trainer.predictor().distribution(""))


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    settings_ = Settings(
        data_dir=tmp_path_factory.mktemp("data"), allowed_hosts="testserver", log_level="warning"
    )
    with TestClient(create_app(settings_)) as client:
        yield client


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(mutations())
def test_the_service_answers_a_mutated_upload_with_422_or_the_new_model(client, d):
    before = client.get("/api/state").json()

    response = client.post(
        "/api/checkpoint", content=encode(d), headers={"Content-Type": "application/json"}
    )

    assert response.status_code in (200, 422), response.text
    after = client.get("/api/state")
    assert after.status_code == 200
    if response.status_code == 422:
        assert after.json()["model"] == before["model"]  # never replaced on error
    else:
        assert after.json()["model"] == before["model"] + 1
    assert client.get("/").status_code == 200
    assert client.get("/api/predict").status_code == 200
