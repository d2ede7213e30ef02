"""A data directory of release b90be72 (schema 9: every step's weights stored) migrates to kept
states: the weights between checkpoints are deleted once replay gives them exactly, the file
shrinks, and every past step answers as that release did (``==``).
"""

import sqlite3

import pytest

from tests.app.test_migration import get_ok, previous_release
from tests.conftest import LiveServer

RELEASE = "b90be72"
STEPS = 60  # checkpoints at 25, 50 and 60: kept states at 0, 25, 50, 60
SAMPLE = (0, 1, 12, 24, 25, 26, 49, 50, 51, 59, 60)


def answers(server: LiveServer) -> dict:
    """What the server says of each sampled step: its params, predictions and view."""
    out = {}
    for k in SAMPLE:
        out[k] = (
            server.get("/api/params", params={"step": k}).text,
            get_ok(server, "/api/predict", prefix="em", step=k),
            server.get("/ui/view", params={"step": k}).text,
        )
    return out


def db_bytes(data) -> int:
    return sum(p.stat().st_size for p in data.iterdir() if p.name.startswith("microgpt.sqlite3"))


@pytest.fixture(scope="module")
def written_by_the_release(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kept")
    data = tmp / "data"
    old = LiveServer(data, cwd=previous_release(tmp / "old", RELEASE)).start()
    try:
        old.train(STEPS)
        said = answers(old)
    finally:
        old.stop()
    return data, said, db_bytes(data)


@pytest.fixture(scope="module")
def migrated(written_by_the_release):
    data, said, size = written_by_the_release
    server = LiveServer(data).start()
    yield server, said, size
    server.stop()


def test_every_past_step_answers_as_the_release_did(migrated):
    server, said, _ = migrated
    assert answers(server) == said


def test_keeps_only_the_kept_states_and_shrinks_the_file(migrated):
    server, _, size = migrated
    with sqlite3.connect(server.data_dir / "microgpt.sqlite3") as db:
        steps = [r[0] for r in db.execute("SELECT step FROM weights ORDER BY step")]
        vacuum = db.execute("PRAGMA auto_vacuum").fetchone()[0]
    assert steps == [0, 25, 50, 60]
    assert vacuum == 2  # incremental: deleted runs give their space back from now on
    server.stop()
    assert db_bytes(server.data_dir) < size / 2
    server.start()


def test_trains_on_from_the_migrated_checkpoint(migrated):
    server, _, _ = migrated
    server.train(5)
    assert get_ok(server, "/api/predict", prefix="em", step=STEPS + 5)["step"] == STEPS + 5
