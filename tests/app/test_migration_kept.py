"""A data directory of the current release (86eccc1, schema 9: every step's weights stored)
migrates to kept states: the weights between checkpoints are deleted once replay gives them
exactly, the file shrinks, and every past step answers as that release did (``==``).

The release's gradients that are exactly zero may read -0.0 where these read 0.0 (its compiled
step summed them without the object engine's starting 0.0): ``==`` holds, the text differs.
"""

import json
import re
import sqlite3

import pytest

from app.store import Store
from tests.app.test_migration import get_ok, previous_release
from tests.conftest import LiveServer

RELEASE = "86eccc1"
STEPS = 60  # checkpoints at 25, 50 and 60: kept states at 0, 25, 50, 60
SAMPLE = (0, 1, 12, 24, 25, 26, 50, 51, 60)  # each interval's first, middle, last


def answers(server: LiveServer) -> dict:
    """What the server says of each sampled step: its params, predictions and view."""
    out = {}
    for k in SAMPLE:
        out[k] = (
            json.loads(server.get("/api/params", params={"step": k}).text),
            get_ok(server, "/api/predict", prefix="em", step=k),
            # as rendered, but for the layout of the markup (a template comment leaves a line)
            # and how a bar's height is written
            bar_heights_as_percent(
                " ".join(server.get("/ui/view", params={"step": k}).text.split())
            ),
        )
    return out


def bar_heights_as_percent(view: str) -> str:
    """The release wrote an "e" bar's height as ``height: 12.34%``; this one as a scale of the
    full bar, ``--h: 0.1234`` (the same number, divided by 100)."""
    return re.sub(
        r'style="--h: ([0-9.e-]+)"',
        lambda m: f'style="height: {round(float(m.group(1)) * 100, 2)}%"',
        view,
    )


def db_bytes(data) -> int:
    return sum(p.stat().st_size for p in data.iterdir() if p.name.startswith("microgpt.sqlite3"))


@pytest.fixture(scope="module")
def migrated(tmp_path_factory, server_factory):
    """The release trains 60 steps and answers; this release's store migrates its file (the
    sizes before and after, the server stopped), then serves it."""
    tmp = tmp_path_factory.mktemp("kept")
    data = tmp / "data"
    old = LiveServer(data, cwd=previous_release(tmp / "old", RELEASE)).start()
    try:
        old.train(STEPS)
        said = answers(old)
    finally:
        old.stop()
    size = db_bytes(data)
    Store(data / "microgpt.sqlite3").close()  # what the server's start does first
    return server_factory(data), said, size, db_bytes(data)


def test_every_past_step_answers_as_the_release_did(migrated):
    server, said, _, _ = migrated
    assert answers(server) == said


def test_keeps_only_the_kept_states_and_shrinks_the_file(migrated):
    server, _, before, after = migrated
    with sqlite3.connect(server.data_dir / "microgpt.sqlite3") as db:
        steps = [r[0] for r in db.execute("SELECT step FROM weights ORDER BY step")]
        vacuum = db.execute("PRAGMA auto_vacuum").fetchone()[0]
    assert steps == [0, 25, 50, 60]
    assert vacuum == 2  # incremental: deleted runs give their space back from now on
    assert after < before / 2
