"""Every parameter, gradient and Adam step of the newest step: JSON, binary, gradient check;
and each matrix's health over the steps.

Answered from the web process (``RunService.params_frame``), never by the busy worker:
while training, the newest frame it sent (at most ~0.25 s old); paused or idle, exactly the
model's step. Bodies are built once per frame in a thread and cached (app.past.frames).
"""

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from app import limits as L
from app.contract.api import ErrorOut, GradcheckOut, HealthOut, ParamsOut
from app.web.deps import ServiceDep
from app.web.routes.api.responses import INVALID

router = APIRouter(tags=["params"])

NO_STEP = {409: {"model": ErrorOut, "description": "the model has taken no step yet"}}


StepQuery = Annotated[
    int | None,
    Query(
        ge=0,
        description="a past step of the current model (first viewable step … newest); "
        "omitted: the newest",
    ),
]


@router.get("/params", response_model=ParamsOut, responses=INVALID)
async def get_params(service: ServiceDep, step: StepQuery = None) -> Response:
    """Every matrix's values, gradient, update and Adam moments at the newest step, or at
    ``step`` exactly as they were then.

    ``grad`` and ``update`` are null for the model's first viewable step (a fresh, reset or
    uploaded model has taken none). While training, a request without ``step`` that arrives as
    a new frame's body is being built gets the one before it (``step`` says which): never a
    wait on the build. A past step is rebuilt from the stored weights: its gradient by
    replaying it, Adam's m and v from the latest checkpoint's (up to about a second); they are
    null for steps trained before this release kept Adam's moments."""
    if step is None:
        return Response(await service.params_json(), media_type="application/json")
    frame = await service.params_at(step)
    return Response(await run_in_threadpool(frame.json_bytes), media_type="application/json")


@router.get(
    "/params.bin",
    response_class=Response,
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "the frame"},
        **INVALID,
    },
)
async def get_params_bin(service: ServiceDep, step: StepQuery = None) -> Response:
    """The same numbers as float32 for the page: little-endian uint32 N, an N-byte JSON header
    (step, model, matrices [{name, shape}], lenses, has_grad) space-padded so that 4 + N is a
    multiple of 4, then for each matrix, for each lens, rows*cols values row-major (NaN for
    grad and update, or m and v, when unknown)."""
    frame = service.params_frame if step is None else await service.params_at(step)
    return Response(
        await run_in_threadpool(frame.bin_bytes),
        media_type="application/octet-stream",
        headers={"Cache-Control": "no-store"},
    )


@router.get("/gradcheck", response_model=GradcheckOut, responses={**INVALID, **NO_STEP})
async def gradcheck(
    service: ServiceDep,
    name: Annotated[str, Query(max_length=100, description="matrix, e.g. layer0.attn_wq")],
    row: Annotated[int, Query(description="row of the parameter in its matrix")],
    col: Annotated[int, Query(description="column of the parameter in its matrix")],
    h: Annotated[
        float, Query(description=f"finite-difference step, (0, {L.GRADCHECK_H.hi:g}]")
    ] = L.GRADCHECK_H.default,
) -> GradcheckOut:
    """The newest step's gradient of one parameter, by autograd and by central differences
    (loss(w + h) − loss(w − h)) / 2h on that step's document, at the weights before its
    update."""
    return await service.gradcheck(name, row, col, h)


def columns(per_step: list[tuple[float, ...]], n: int) -> list[list[float]]:
    """Per-step tuples of n numbers -> n lists, one per matrix."""
    if not per_step:
        return [[] for _ in range(n)]
    return [list(col) for col in zip(*per_step, strict=True)]


@router.get("/params/health", response_model=HealthOut)
async def get_health(service: ServiceDep) -> Response:
    """Each matrix's gradient norm and update ratio at every step this server process saw the
    model take (the Parameters panel's health lines, drawn again after a reload; a restart or
    another model starts them afresh). Steps after a rewind to a checkpoint are dropped."""
    rows, model = list(service.health), service.model  # a snapshot, taken on the event loop
    names = [name for name, _, _ in service.params_frame.shapes]

    def build() -> bytes:
        out = HealthOut(
            model=model,
            names=names,
            steps=[step for step, _, _ in rows],
            grad_norm=columns([g for _, g, _ in rows], len(names)),
            update_ratio=columns([r for _, _, r in rows], len(names)),
        )
        return out.model_dump_json().encode()

    return Response(await run_in_threadpool(build), media_type="application/json")
