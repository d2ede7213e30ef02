"""GET /api/runs/{id}/milestones against an independent computation from the run's own history
(/api/history: the loss, its EMA, the held-out points) and probe line (/api/probes, one
character at a time): the default run, and a small pasted list trained until it memorises,
whose finish summary says so.

One server (fresh data dir) serves this module.
"""

import math
import time

import pytest

from engine.data import load_names

BETA = 0.9
RISE = 0.10  # the rule: held-out loss 10% above its best
NAMES = 40
MEMORISE_STEPS = 300  # the 40 names memorise by step ~250 (seed 42)


def ema(losses: list[float]) -> list[float]:
    """The chart's running average: m = 0.9 m + 0.1 loss, bias-corrected."""
    m, out = 0.0, []
    for k, loss in enumerate(losses, 1):
        m = BETA * m + (1 - BETA) * loss
        out.append(m / (1 - BETA**k))
    return out


def expected(server, api: str) -> list[tuple[int, str]]:
    """(step, kind) of every milestone, worked out here from the public API alone."""
    hist = server.get(f"{api}/history").json()
    steps = [p["step"] for p in hist["points"]]
    smooth = ema([p["loss"] for p in hist["points"]])
    for p, mine in zip(hist["points"], smooth, strict=True):
        assert abs(p["smooth"] - mine) < 1e-9  # the history's smooth is the chart's EMA
    at = dict(zip(steps, smooth, strict=True))
    vocab = server.get(f"{api}/state").json()["vocab"]
    found = []

    uniform = math.log(len(vocab))
    first = next((s for s, m in zip(steps, smooth, strict=True) if m < uniform), None)
    if first is not None:
        found.append((first, "below_uniform"))

    best, memorising = None, None
    for v in hist["val"]:
        step, loss = v["step"], v["loss"]
        if best and memorising is None and loss >= best[1] * (1 + RISE):
            if best[0] in at and step in at and at[step] < at[best[0]]:
                memorising = step
        if best is None or loss < best[1]:
            best = (step, loss)
    if best:
        found.append((best[0], "best_held_out"))
    if memorising is not None:
        found.append((memorising, "memorising"))

    lines = {c: server.get(f"{api}/probes", params={"char": c}).json() for c in vocab}
    probe_steps = lines[vocab[0]]["steps"]
    previous = None
    for i, step in enumerate(probe_steps):
        probs = [lines[c]["probs"][i] for c in vocab]
        top = probs.index(max(probs))  # the first of the largest, in vocabulary order
        if previous is not None and top != previous:
            found.append((step, "top_guess"))
        previous = top
    return sorted(found)


def wait_idle_at(server, api: str, step: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = server.get(f"{api}/state").json()
        if state["status"] == "idle" and state["step"] == step:
            return
        time.sleep(0.1)
    raise AssertionError(f"run never idle at step {step}: {state}")


def milestones(server, api: str) -> list[dict]:
    r = server.get(f"{api}/milestones")
    assert r.status_code == 200, r.text
    return r.json()["milestones"]


@pytest.fixture(scope="module")
def trained(server):
    """The default run (seed 42), trained 200 steps: four held-out points after step 0."""
    return server.train(200)


def test_the_default_run_s_milestones_are_those_its_history_shows(trained):
    server = trained
    run = server.state()["id"]
    found = milestones(server, f"/api/runs/{run}")
    assert sorted((m["step"], m["kind"]) for m in found) == expected(server, "/api")
    # in step order; the unprefixed path is the default run's
    assert [m["step"] for m in found] == sorted(m["step"] for m in found)
    assert milestones(server, "/api") == found
    kinds = {m["kind"] for m in found}
    assert {"below_uniform", "best_held_out", "top_guess"} <= kinds
    assert "memorising" not in kinds  # 200 steps see under 1% of the names: nothing to memorise

    # the words carry the numbers: ln 27 and the smoothed loss where it fell under it
    below = next(m for m in found if m["kind"] == "below_uniform")
    hist = server.get("/api/history").json()
    smooth = next(p["smooth"] for p in hist["points"] if p["step"] == below["step"])
    assert f"{smooth:.2f}" in below["text"] and "ln 27" in below["text"]
    best = min(hist["val"], key=lambda v: v["loss"])
    held = next(m for m in found if m["kind"] == "best_held_out")
    assert held["step"] == best["step"] and f"{best['loss']:.2f}" in held["text"]


def test_a_small_pasted_list_memorises_and_its_summary_says_so(trained):
    server = trained
    text = "\n".join(load_names()[:NAMES])
    r = server.post("/api/runs", {"dataset": {"text": text}, "steps": MEMORISE_STEPS})
    assert r.status_code in (200, 201), r.text
    run = r.json()["id"]
    api = f"/api/runs/{run}"
    assert server.post(f"{api}/train", {"steps": MEMORISE_STEPS}).status_code == 200
    wait_idle_at(server, api, MEMORISE_STEPS)

    found = milestones(server, api)
    assert sorted((m["step"], m["kind"]) for m in found) == expected(server, api)
    memorising = [m for m in found if m["kind"] == "memorising"]
    assert len(memorising) == 1, found
    step = memorising[0]["step"]
    best = next(m for m in found if m["kind"] == "best_held_out")
    assert best["step"] < step

    # the finish summary says it memorised, and what to try, instead of "learned something"
    page = server.get(f"/?run={run}").text
    summary = page[page.index('data-testid="run-summary"') :]
    summary = summary[: summary.index("</div>")]
    assert 'data-testid="memorised"' in summary and f"from step {step}" in summary
    assert "more data, fewer steps" in summary and "smaller model" in summary
    assert "learned something" not in summary
