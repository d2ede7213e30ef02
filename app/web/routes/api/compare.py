"""Runs compared: their smoothed training and held-out loss curves on one chart, with what
differs between them.

``GET /api/compare?runs=1&runs=2`` is the data; ``GET /compare?runs=...`` the page
(app.web.routes.ui.compare).
"""

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import Field

from app import limits as L
from app.contract.api import CompareOut, CompareRun, ErrorOut, RunOut
from app.runs.errors import BadInput
from app.runs.registry import Runs
from app.web.deps import RunsDep

router = APIRouter(tags=["runs"])

MAX_POINTS = 2_000  # per curve: a chart is a few hundred pixels wide


def setting_words(r: RunOut) -> list[tuple[str, str]]:
    """(key, words) for each setting a run's curve depends on."""
    layers = "layer" if r.n_layer == 1 else "layers"
    words = [
        ("dataset", f"data {r.dataset}"),
        ("seed", f"seed {r.seed}"),
        ("lr", f"lr {r.lr:g}"),
        ("n_embd", f"{r.n_embd} wide"),
        ("n_head", f"{r.n_head} heads"),
        ("n_layer", f"{r.n_layer} {layers}"),
        ("block_size", f"context {r.block_size}"),
    ]
    if r.parent is not None:
        words.append(("parent", f"forked from run {r.parent} at step {r.parent_step}"))
    return words


def spread(history: list, limit: int = MAX_POINTS) -> list:
    """At most ``limit`` rows of ``history``, evenly spread, the last one always in."""
    if len(history) <= limit:
        return history
    every = -(-len(history) // limit)
    return history[::every] + ([history[-1]] if (len(history) - 1) % every else [])


def compared(runs: Runs, ids: list[int]) -> CompareOut:
    ids = list(dict.fromkeys(ids))  # a run named twice is shown once
    if not 1 <= len(ids) <= L.COMPARED_RUNS:
        raise BadInput(f"compare 1 to {L.COMPARED_RUNS} runs, got {len(ids)}")
    services = [runs.get(i) for i in ids]  # NotFound names the runs there are
    outs = [runs.out(s) for s in services]
    words = [dict(setting_words(r)) for r in outs]
    keys = list(dict.fromkeys(k for w in words for k in w))
    same = [k for k in keys if all(k in w for w in words) and len({w[k] for w in words}) == 1]
    curves = []
    for service, out, w in zip(services, outs, words, strict=True):
        rows, held = spread(service.history), spread(service.validation)
        differs = " · ".join(w[k] for k in keys if k in w and k not in same)
        curves.append(
            CompareRun(
                id=out.id,
                name=out.name,
                differs=differs or "the same settings",
                status=out.status,
                step=out.step,
                loss=out.loss,
                steps=[r[0] for r in rows],
                smooth=[r[2] for r in rows],
                val_steps=[v[0] for v in held],
                val=[v[1] for v in held],
            )
        )
    return CompareOut(runs=curves, common=" · ".join(words[0][k] for k in same))


@router.get(
    "/api/compare",
    response_model=CompareOut,
    responses={
        404: {"model": ErrorOut, "description": "no run has one of those ids"},
        422: {"model": ErrorOut, "description": "too many or too few runs, or one twice"},
    },
)
async def compare(
    runs: RunsDep,
    ids: Annotated[
        list[Annotated[int, Field(ge=1)]],
        Query(
            alias="runs",
            min_length=1,
            max_length=L.COMPARED_RUNS,
            description=f"1 to {L.COMPARED_RUNS} run ids",
        ),
    ],
) -> CompareOut:
    """The smoothed training loss and the held-out loss of each run, and what differs
    between them."""
    return compared(runs, ids)
