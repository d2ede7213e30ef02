"""A run's loss curve, held-out losses and segments."""

import bisect
import copy
from operator import itemgetter
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import TypeAdapter

from app.contract.api import HistoryOut, HistoryPoint, ValidationPoint
from app.web.deps import ServiceDep

router = APIRouter(tags=["api"])
HISTORY_POINTS = TypeAdapter(list[HistoryPoint])
HISTORY_SLICE = 2000  # points serialised per call: ~1 ms holding the GIL


@router.get("/history", response_model=HistoryOut)
async def history(
    service: ServiceDep,
    since: Annotated[
        int, Query(ge=0, description="only the points after this step; 0 (default): all")
    ] = 0,
) -> Response:
    """The run's loss curve (step, loss, smoothed loss), its held-out (validation) losses
    every few steps, and its training segments.

    ``?since=<step>`` returns only the points (and ``val``) after that step (``segments``
    and ``model`` in full):
    a chart that already holds the points up to ``since`` fetches just the newer ones when its
    stream reconnects. If ``model`` differs from the chart's, the model was replaced: fetch
    again without ``since``.

    The response is built and serialised in a worker thread (10,000 points take ~20 ms), from a
    snapshot taken on the event loop, so a long curve never stalls the live streams.
    """
    # The snapshot: one consistent instant, cheap (a slice of the step-ordered tuples, copies
    # of the run rows); the bridge task updates these only on the event loop.
    points = service.history
    tail = points[bisect.bisect_right(points, since, key=itemgetter(0)) :]
    model, segments = service.model, [copy.copy(seg) for seg in service.segments]
    # since=0 is everything: the held-out loss is measured at step 0 too, before any update
    val = [
        ValidationPoint(step=s, loss=loss)
        for s, loss in service.validation
        if s > since or since == 0
    ]
    held_out = service.held_out

    def build() -> bytes:
        # In slices: serialising is one long call that holds the GIL, and the event loop
        # needs the GIL too (50,000 points in one piece would still stall it ~20 ms).
        head = HistoryOut(
            model=model,
            points=[],
            val=val,
            held_out=held_out,
            segments=[service.segment_info(g) for g in segments],
        )
        parts = []
        for i in range(0, len(tail), HISTORY_SLICE):
            piece = [
                HistoryPoint(step=s, loss=loss, smooth=m)
                for s, loss, m in tail[i : i + HISTORY_SLICE]
            ]
            parts.append(HISTORY_POINTS.dump_json(piece)[1:-1])
        body = b'"points":[' + b",".join(parts) + b"]"
        return head.model_dump_json().encode().replace(b'"points":[]', body, 1)  # the first

    return Response(await run_in_threadpool(build), media_type="application/json")
