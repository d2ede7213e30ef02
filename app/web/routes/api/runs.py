"""Runs, the unit of the API: create, list, read, rename, delete, select.

Everything one run does (train, predict, stream, …) is under ``/api/runs/{id}/…`` (the same
routes as the unprefixed ``/api/…``, which act on the default run: app.web.routes).
"""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app import limits as L
from app.contract.api import ForkIn, RunIn, RunOut, RunPatch, RunsOut
from app.web.deps import ClassesDep, RunId, RunsDep, identity, requester
from app.web.routes.api.responses import FORBIDDEN, INVALID, NOT_FOUND

router = APIRouter(prefix="/api/runs", tags=["runs"])

MICROGPT = (
    f"seed {L.SEED.default}, lr {L.LR.default:g}, {L.STEPS.default} steps, n_embd "
    f"{L.N_EMBD.default}, n_head {L.N_HEAD.default}, n_layer {L.N_LAYER.default}, "
    f"block_size {L.BLOCK_SIZE.default}"
)


@router.post(
    "",
    status_code=201,
    response_model=RunOut,
    responses=INVALID,
    description=f"A new run of these settings (every field optional, defaults as microgpt: "
    f"{MICROGPT}). It does not start training; it becomes the default run.",
)
async def create_run(request: Request, runs: RunsDep, body: RunIn | None = None) -> RunOut:
    service = await runs.create(body or RunIn(), by=requester(request))
    return runs.out(service)


@router.get("", response_model=RunsOut)
async def list_runs(runs: RunsDep) -> RunsOut:
    """Every run with its status, step, latest smoothed loss and shape; the default run; the
    queue of runs waiting for one of the ``workers``."""
    return runs.listing()


@router.get("/{run_id}", response_model=RunOut, responses=NOT_FOUND)
async def get_run(runs: RunsDep, run_id: RunId) -> RunOut:
    return runs.out(runs.get(run_id))


@router.patch("/{run_id}", response_model=RunOut, responses={**NOT_FOUND, **INVALID, **FORBIDDEN})
async def rename_run(
    request: Request, runs: RunsDep, classes: ClassesDep, run_id: RunId, body: RunPatch
) -> RunOut:
    """Rename the run."""
    classes.check_control(runs.get(run_id), identity(request))
    return runs.out(await runs.rename(run_id, body.name.strip() or f"Run {run_id}"))


@router.delete(
    "/{run_id}",
    status_code=204,
    response_class=Response,
    responses={**NOT_FOUND, **FORBIDDEN},
)
async def delete_run(
    request: Request, runs: RunsDep, classes: ClassesDep, run_id: RunId
) -> Response:
    """Delete the run and everything it stored (stopped first if it trains). The page asks
    for a confirmation first; this does not."""
    classes.check_control(runs.get(run_id), identity(request))
    await runs.delete(run_id)
    return Response(status_code=204)


@router.post("/{run_id}/select", response_model=RunOut, responses=NOT_FOUND)
async def select_run(runs: RunsDep, run_id: RunId) -> RunOut:
    """Make it the default run (the one the unprefixed /api/... paths act on)."""
    return runs.out(await runs.select(run_id))


@router.post(
    "/{run_id}/fork",
    status_code=201,
    response_model=RunOut,
    responses={**NOT_FOUND, **INVALID, **FORBIDDEN},
)
async def fork_run(request: Request, runs: RunsDep, run_id: RunId, body: ForkIn) -> RunOut:
    """A new run that goes on from step ``step`` of this one exactly as it was (weights and
    Adam's moments), with its own ``steps`` and ``lr`` for what follows; its steps are numbered
    on from step + 1. Trained with nothing changed, its first loss is this run's at step + 1.
    It does not start training; it becomes the default run."""
    return runs.out(await runs.fork(runs.get(run_id), body, by=requester(request)))
