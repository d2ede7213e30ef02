"""The "when did it learn?" line: a probe's probability of one next token after every step.

The worker computes each probe's distribution (``settings.probes``: "" and "e") after every step;
the service keeps them with the step (store table ``probes``) and in memory for the current
model, so the whole line is one list slice.
"""

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from app.contract.api import ProbeLineOut
from app.runs.errors import BadInput
from app.web.deps import ServiceDep
from app.web.errors import show
from app.web.routes.api.responses import INVALID

router = APIRouter(tags=["timeline"])


@router.get(
    "/probes",
    response_model=ProbeLineOut,
    responses=INVALID,
)
async def probe_line(
    service: ServiceDep,
    char: Annotated[str, Query(max_length=20, description="next token, e.g. l, or [BOS]")],
    prefix: Annotated[str, Query(max_length=20, description="a probe, e.g. e")] = "e",
    since: Annotated[int, Query(ge=-1, description="only steps after this one")] = -1,
) -> Response:
    """p(``char`` | ``prefix``) after every viewable step of the current model (after
    ``since``), as the probe card showed it then."""
    if prefix not in service.probes:
        kept = ", ".join(show(p) for p in service.probes) or "none"
        raise BadInput(f"prefix {show(prefix)} is not a probe of this model: one of {kept}")
    labels = service.tokenizer.labels()
    if char not in labels:
        raise BadInput(f"char {show(char)} is not in the vocabulary: one of {' '.join(labels)}")
    i, model = labels.index(char), service.model
    steps, dists = service.probe_line(prefix, since)

    def build() -> bytes:
        out = ProbeLineOut(
            model=model, prefix=prefix, char=char, steps=steps, probs=[d[i] for d in dists]
        )
        return out.model_dump_json().encode()

    return Response(await run_in_threadpool(build), media_type="application/json")
