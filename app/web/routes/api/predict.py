"""Asking the model: the next-character distribution (with attention and the greedy
completion) and samples, now or at a past step."""

from typing import Annotated

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from app import limits as L
from app.contract.api import PredictOut, SamplesOut
from app.runs.errors import ServiceError
from app.runs.service import RunService
from app.web.deps import ServiceDep
from app.web.routes.api.responses import INVALID, STEP_HELP

router = APIRouter(tags=["api"])
PREDICT_HOLD = 0.25  # seconds a weight snapshot answers predictions while training


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
    k: Annotated[
        int, Query(ge=L.TOP_K.lo, le=L.TOP_K.hi, description="how many top characters")
    ] = L.TOP_K.default,
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
    n: Annotated[int, Query(ge=L.SAMPLES.lo, le=L.SAMPLES.hi)] = L.SAMPLES.default,
    temperature: Annotated[
        float,
        Query(
            ge=L.TEMPERATURE.lo,
            le=L.TEMPERATURE.hi,
            description=f"{L.TEMPERATURE.lo:g}..{L.TEMPERATURE.hi:g}: low is safe, high bold",
        ),
    ] = L.TEMPERATURE.default,
    seed: Annotated[int | None, Query(ge=L.SAMPLE_SEED.lo, le=L.SAMPLE_SEED.hi)] = None,
    step: Annotated[int | None, Query(ge=0, description=STEP_HELP)] = None,
) -> SamplesOut:
    """``n`` names sampled from the current weights (or those of ``step``) at ``temperature``."""
    snapshot = None if step is None else await service.snapshot_at(step)
    return await run_in_threadpool(service.samples, n, temperature, seed, snapshot)
