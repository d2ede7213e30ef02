"""The graph of one training step: every scalar node, its value and gradient, and its edges.

Built on request only, for one step (app.past.graphs / engine.graph: the step replayed from its
stored weights, in a process of its own), and sent gzipped to a client that accepts it (~0.7 MB
instead of ~3.6 MB).
"""

import gzip
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from app.contract.api import ErrorOut, GraphOut
from app.web.deps import ServiceDep
from app.web.routes.api.responses import INVALID

router = APIRouter(tags=["graph"])


@router.get(
    "/graph",
    response_model=GraphOut,
    responses={
        409: {"model": ErrorOut, "description": "no step made that step's weights"},
        **INVALID,
    },
)
async def get_graph(
    request: Request,
    service: ServiceDep,
    step: Annotated[
        int | None, Query(ge=0, description="a step of the model's history; omitted: newest")
    ] = None,
) -> Response:
    """Step ``step``'s computation of the loss as a graph of scalars: every node (op, value,
    gradient, group; parameters named) and every edge with its local derivative ∂parent/∂child.
    Every node's grad is Σ over its parents of parent.grad × local."""
    step, body = await service.graph_at(step)  # gzipped
    headers = {"X-Step": str(step), "Vary": "Accept-Encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
    else:
        body = await run_in_threadpool(gzip.decompress, body)
    return Response(body, media_type="application/json", headers=headers)
