"""The JSON API: state, training commands, predictions, samples, history, checkpoints."""

import bisect
import copy
from operator import itemgetter
from typing import Annotated

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import TypeAdapter
from starlette.datastructures import UploadFile

from app.contract.api import (
    ErrorOut,
    HistoryOut,
    HistoryPoint,
    PaceIn,
    PredictOut,
    ResetIn,
    SamplesOut,
    TrainIn,
    ValidationPoint,
)
from app.contract.events import StateOut
from app.contract.fields import MAX_SAMPLE_SEED, MAX_TEMPERATURE, MIN_TEMPERATURE
from app.deps import ControlDep, RunsDep, ServiceDep, identity
from app.runs.errors import BadInput, ServiceError
from app.runs.service import RunService

router = APIRouter(tags=["api"])
PREDICT_HOLD = 0.25  # seconds a weight snapshot answers predictions while training

CONFLICT = {409: {"model": ErrorOut, "description": "not possible in the current status"}}
FORBIDDEN = {
    403: {"model": ErrorOut, "description": "a class student's run: only theirs or the teacher's"}
}
INVALID = {422: {"model": ErrorOut, "description": "a bad value, named in the message"}}
UNAVAILABLE = {503: {"model": ErrorOut, "description": "the training process is not running"}}
COMMAND = {**CONFLICT, **UNAVAILABLE, **FORBIDDEN}


@router.get("/state", response_model=StateOut)
async def get_state(service: ServiceDep) -> StateOut:
    """The run's status, step, current/latest segment, model config, parameter count, worker
    pid, and its place in the queue while it waits for a worker."""
    return service.state()


@router.post("/train", response_model=StateOut, responses={**COMMAND, **INVALID})
async def train(body: TrainIn, service: ControlDep) -> StateOut:
    """Start a segment of ``steps`` steps (default: the run's setting) from the current weights
    and Adam state, at once if a worker is free, else queued (``status`` says which).

    The cosine learning-rate schedule spans exactly this segment. 409 while it trains.
    """
    return await service.train(body.steps, body.lr)


@router.post("/pause", response_model=StateOut, responses=COMMAND)
async def pause(service: ControlDep) -> StateOut:
    """Pause the training run after its current step (a checkpoint is written)."""
    return await service.pause()


@router.post("/resume", response_model=StateOut, responses=COMMAND)
async def resume(service: ControlDep) -> StateOut:
    """Continue a paused, interrupted or failed run (the latter two from the last checkpoint)."""
    return await service.resume()


@router.post("/stop", response_model=StateOut, responses=COMMAND)
async def stop(service: ControlDep) -> StateOut:
    """End the current run where it is; the model keeps its weights."""
    return await service.stop()


@router.post("/step", response_model=StateOut, responses=COMMAND)
async def single_step(service: ControlDep) -> StateOut:
    """One step: of the paused run, or else a run of one step."""
    return await service.single_step()


@router.post("/pace", response_model=StateOut, responses={**INVALID, **FORBIDDEN})
async def pace(body: PaceIn, service: ControlDep) -> StateOut:
    """Cap the training speed at ``steps_per_sec`` (0.5..200), or null for full speed.

    Applies at once, also mid-run, and holds across pause/resume (not across a server restart).
    Speeds and ETAs in step events stay measured, so they show the capped rate.
    """
    return await service.set_pace(body.steps_per_sec)


@router.post("/reset", response_model=StateOut, responses={**COMMAND, **INVALID})
async def reset(
    request: Request, runs: RunsDep, service: ControlDep, body: ResetIn | None = None
) -> StateOut:
    """A new run with this run's settings (new seed optional; default: the same one): it becomes
    the default run and its state is the answer. This run is kept, unchanged."""
    new = await runs.reset(service, body.seed if body else None, by=identity(request))
    return new.state()


STEP_HELP = (
    "a step of the model's history to answer as of, with that step's weights exactly: from "
    "the model's first step (0, or the step it was loaded at) to the newest; omitted: now"
)


async def current_prediction(service: RunService, prefix: str, k: int) -> bytes:
    """The JSON answer from the newest snapshot, through the cache (app.predict.cache); while
    training, from a snapshot at most PREDICT_HOLD s old."""
    hold = PREDICT_HOLD if service.status == "training" else 0.0
    return await service.predictions.get(
        service.snapshot, prefix, k, service.predict_json, hold=hold
    )


async def known_prediction(app: FastAPI, query: bytes) -> bytes | None:
    """``predict``'s answer to a raw query string it has parsed and validated before, for
    ``app.predict.cache.KnownQueries``, which sends it without the framework. None: the route
    answers (a string it has not seen, or an error it has to render)."""
    runs = getattr(app.state, "runs", None)  # None until the lifespan has started it
    service = None if runs is None else runs.default
    args = None if service is None else service.predictions.recall(query)
    if args is None:
        return None
    try:
        return await current_prediction(service, *args)
    except ServiceError:  # e.g. a prefix a new model's vocabulary lacks: the route says so
        service.predictions.forget(query)
        return None


@router.get("/predict", response_model=PredictOut, responses=INVALID)
async def predict(
    request: Request,
    service: ServiceDep,
    prefix: Annotated[
        str, Query(description="characters of the model's vocabulary, at most block_size - 1")
    ] = "",
    k: Annotated[int, Query(ge=1, le=27, description="how many top characters")] = 5,
    step: Annotated[int | None, Query(ge=0, description=STEP_HELP)] = None,
) -> Response:
    """Next-character distribution after [BOS] + prefix, top-k, attention weights, and the
    greedy completion (``greedy``: the most likely character at each position until [BOS]).

    Answered in the web process (in a thread) from the newest weight snapshot, in a few ms;
    identical requests share one computation and its answer while the snapshot lasts
    (``app.predict.cache``). A character outside the model's vocabulary: 422 naming the allowed
    ones.
    """
    if step is not None:  # a past step: its own weights, exactly
        snapshot = await service.snapshot_at(step)
        body = await run_in_threadpool(service.predict_json, snapshot, prefix, k)
        return Response(body, media_type="application/json")
    body = await current_prediction(service, prefix, k)
    # this query string, valid, means (prefix, k), all the answer depends on (a new parameter
    # must be part of it): known_prediction answers it next time
    service.predictions.remember(request.scope["query_string"], prefix, k)
    return Response(body, media_type="application/json")


@router.get("/samples", response_model=SamplesOut, responses=INVALID)
async def samples(
    service: ServiceDep,
    n: Annotated[int, Query(ge=1, le=50)] = 10,
    temperature: Annotated[float, Query(ge=MIN_TEMPERATURE, le=MAX_TEMPERATURE)] = 0.5,
    seed: Annotated[int | None, Query(ge=0, le=MAX_SAMPLE_SEED)] = None,
    step: Annotated[int | None, Query(ge=0, description=STEP_HELP)] = None,
) -> SamplesOut:
    """``n`` names sampled from the current weights (or those of ``step``) at ``temperature``
    [0.01, 2]."""
    snapshot = None if step is None else await service.snapshot_at(step)
    return await run_in_threadpool(service.samples, n, temperature, seed, snapshot)


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


@router.get(
    "/checkpoint",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}, "description": "checkpoint file"}},
)
async def download_checkpoint(service: ServiceDep) -> Response:
    """The newest stored checkpoint (at most ``checkpoint_every`` steps old while training)."""
    data, step = await service.checkpoint()
    name = f"microgpt-run{service.id}-step{step}.json"
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
async def upload_checkpoint(request: Request, runs: RunsDep, service: ServiceDep) -> StateOut:
    """A new run from an uploaded checkpoint (JSON body, or a form field ``file``), validated
    by the engine; it becomes the default run and its state is the answer. Nothing is stored
    if the file does not load."""
    new = await runs.upload(await checkpoint_upload(request), service)
    return new.state()


async def checkpoint_upload(request: Request) -> bytes:
    """The uploaded checkpoint's bytes: the JSON body, or the form field ``file``
    (also used by the page's upload form, POST /ui/checkpoint)."""
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
    return raw
