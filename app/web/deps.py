"""Shared state for routes, as Annotated dependencies (set up by the app's lifespan).

A per-run route is mounted twice (app.web.routes): under ``/api/runs/{run_id}`` (and
``/ui/runs/{run_id}``), where ``select_run`` picks the run named by the path, and without the
prefix, where the route acts on the default run.
"""

from typing import Annotated

from fastapi import Depends, Path, Request

from app import limits as L
from app.classes.roster import Classes
from app.runs.registry import Runs
from app.runs.service import RunService

RunId = Annotated[int, Path(ge=L.RUN_ID.lo, le=L.RUN_ID.hi, description="the run's id")]


async def get_runs(request: Request) -> Runs:
    # async, though it awaits nothing: FastAPI runs a plain ``def`` dependency in a worker
    # thread, a hop that costs ~0.4 ms of CPU on every request (bench/predict_load.py)
    return request.app.state.runs


async def select_run(request: Request, run_id: RunId) -> None:
    """The run of a ``/…/runs/{run_id}/…`` path (404 naming the runs if there is none)."""
    request.state.run = request.app.state.runs.get(run_id)


async def get_service(request: Request) -> RunService:
    """The path's run, else the default run."""
    run = getattr(request.state, "run", None)
    return run if run is not None else request.app.state.runs.default


async def get_classes(request: Request) -> Classes:
    return request.app.state.classes


def identity(request: Request) -> str | None:
    """This browser's anonymous identity (app.web.identity's signed cookie)."""
    return getattr(request.state, "identity", None)


def requester(request: Request) -> str | None:
    """Who asks, for the quotas: the identity, or the address of a client sending no cookie."""
    return getattr(request.state, "requester", None)


async def controlled_service(
    request: Request, service: Annotated[RunService, Depends(get_service)]
) -> RunService:
    """The path's run, if this browser may control it: a class student's run only by that
    student or the class's teacher (403 saying whose it is); any other run by anyone."""
    request.app.state.classes.check_control(service, identity(request))
    return service


RunsDep = Annotated[Runs, Depends(get_runs)]
ServiceDep = Annotated[RunService, Depends(get_service)]
ControlDep = Annotated[RunService, Depends(controlled_service)]
ClassesDep = Annotated[Classes, Depends(get_classes)]
RUN_PATH = [Depends(select_run)]  # dependencies of a router mounted under a run's path
