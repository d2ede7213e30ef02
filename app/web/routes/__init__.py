"""Every route, mounted in one place: the API (``/api``, each per-run router twice: on the
default run, and under ``/api/runs/{run_id}``), the pages, and their fragments (``/ui`` and
``/ui/runs/{run_id}``)."""

from fastapi import FastAPI

from app.contract.api import ErrorOut
from app.web.deps import RUN_PATH
from app.web.routes.api import (
    checkpoint,
    classes,
    compare,
    control,
    events,
    graph,
    health,
    history,
    milestones,
    params,
    predict,
    runs,
    timeline,
)
from app.web.routes.ui import classes as class_pages
from app.web.routes.ui import compare as compare_page
from app.web.routes.ui import (
    controls,
    docs,
    lesson,
    new_run,
    page,
    stream,
    teacher,
    timetravel,
)
from app.web.routes.ui import predict as ui_predict
from app.web.routes.ui import runs as run_bar

NO_RUN = {404: {"model": ErrorOut, "description": "no run has that id"}}


def mount(app: FastAPI) -> None:
    for router in (health.router, runs.router, compare.router, classes.router):
        app.include_router(router)
    for router in (class_pages.router, teacher.router, compare_page.router):
        app.include_router(router)
    # every per-run route twice: on the default run, and on the run its path names
    for module in (
        control,
        predict,
        history,
        milestones,
        checkpoint,
        params,
        timeline,
        graph,
        events,
    ):
        app.include_router(module.router, prefix="/api")
        app.include_router(
            module.router, prefix="/api/runs/{run_id}", dependencies=RUN_PATH, responses=NO_RUN
        )
    app.include_router(page.router)
    app.include_router(run_bar.router)  # /ui/runs/...: before the per-run fragments' paths
    fragments = (
        controls.router,
        new_run.router,
        ui_predict.router,
        timetravel.router,
        lesson.router,
        stream.router,
    )
    for router in fragments:
        app.include_router(router, prefix="/ui")
        app.include_router(router, prefix="/ui/runs/{run_id}", dependencies=RUN_PATH)
    app.include_router(docs.router)
