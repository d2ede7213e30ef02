"""The JSON API: state, training commands, predictions, samples, history, checkpoints."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from app.deps import ServiceDep
from app.schemas import (
    ErrorOut,
    HistoryOut,
    PredictOut,
    ResetIn,
    SamplesOut,
    StateOut,
    TrainIn,
)
from app.service import BadInput

router = APIRouter(prefix="/api", tags=["api"])

CONFLICT = {409: {"model": ErrorOut, "description": "not possible in the current status"}}
INVALID = {422: {"model": ErrorOut, "description": "a bad value, named in the message"}}
UNAVAILABLE = {503: {"model": ErrorOut, "description": "the training process is not running"}}
COMMAND = {**CONFLICT, **UNAVAILABLE}


@router.get("/state", response_model=StateOut)
async def get_state(service: ServiceDep) -> StateOut:
    """Status, step, current/latest run, model config, parameter count, worker pid."""
    return service.state()


@router.post("/train", response_model=StateOut, responses={**COMMAND, **INVALID})
async def train(body: TrainIn, service: ServiceDep) -> StateOut:
    """Start a run of ``steps`` steps from the current weights and Adam state.

    The cosine learning-rate schedule spans exactly this run. 409 while a run is training.
    """
    return await service.train(body.steps, body.lr)


@router.post("/pause", response_model=StateOut, responses=COMMAND)
async def pause(service: ServiceDep) -> StateOut:
    """Pause the training run after its current step (a checkpoint is written)."""
    return await service.pause()


@router.post("/resume", response_model=StateOut, responses=COMMAND)
async def resume(service: ServiceDep) -> StateOut:
    """Continue a paused, interrupted or failed run (the latter two from the last checkpoint)."""
    return await service.resume()


@router.post("/stop", response_model=StateOut, responses=COMMAND)
async def stop(service: ServiceDep) -> StateOut:
    """End the current run where it is; the model keeps its weights."""
    return await service.stop()


@router.post("/step", response_model=StateOut, responses=COMMAND)
async def single_step(service: ServiceDep) -> StateOut:
    """One step: of the paused run, or else a run of one step."""
    return await service.single_step()


@router.post("/reset", response_model=StateOut, responses={**COMMAND, **INVALID})
async def reset(service: ServiceDep, body: ResetIn | None = None) -> StateOut:
    """A fresh model (new seed optional; default: the current one). Its history starts empty."""
    return await service.reset(body.seed if body else None)


@router.get("/predict", response_model=PredictOut, responses=INVALID)
async def predict(
    service: ServiceDep,
    prefix: Annotated[str, Query(description="letters a-z, at most block_size - 1")] = "",
    k: Annotated[int, Query(ge=1, le=27, description="how many top characters")] = 5,
) -> PredictOut:
    """Next-character distribution after [BOS] + prefix, top-k, and attention weights.

    Answered in the web process from the newest weight snapshot (about a millisecond).
    """
    return service.predict(prefix, k)


@router.get("/samples", response_model=SamplesOut, responses=INVALID)
async def samples(
    service: ServiceDep,
    n: Annotated[int, Query(ge=1, le=50)] = 10,
    temperature: Annotated[float, Query(gt=0, le=2)] = 0.5,
    seed: Annotated[int | None, Query(ge=0)] = None,
) -> SamplesOut:
    """``n`` names sampled from the current weights at ``temperature`` (0, 2]."""
    return await run_in_threadpool(service.samples, n, temperature, seed)


@router.get("/history", response_model=HistoryOut)
async def history(service: ServiceDep, since: Annotated[int, Query(ge=0)] = 0) -> HistoryOut:
    """The loss curve of the current model (step, loss, smoothed loss) and its runs."""
    return service.get_history(since)


@router.get(
    "/checkpoint",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}, "description": "checkpoint file"}},
)
async def download_checkpoint(service: ServiceDep) -> Response:
    """The newest stored checkpoint (at most ``checkpoint_every`` steps old while training)."""
    data, step = await service.checkpoint()
    name = f"microgpt-model{service.model}-step{step}.json"
    return Response(
        data,
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Checkpoint-Step": str(step),
        },
    )


@router.post(
    "/checkpoint",
    response_model=StateOut,
    responses={**COMMAND, **INVALID, 413: {"model": ErrorOut}},
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": {"type": "object"}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                },
            }
        }
    },
)
async def upload_checkpoint(request: Request, service: ServiceDep) -> StateOut:
    """Replace the model with an uploaded checkpoint (JSON body, or a form field ``file``).

    Validated by the engine; 409 while a run is training. The model starts a new history.
    """
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise BadInput("the form has no file field 'file' with the checkpoint")
        raw = await upload.read()
    else:
        raw = await request.body()
    if not raw.strip():
        raise BadInput("the checkpoint upload is empty")
    return await service.upload(raw)
