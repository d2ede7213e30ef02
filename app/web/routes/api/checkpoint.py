"""A run's model file: download the newest checkpoint, or upload one as a new run."""

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from app.contract.events import StateOut
from app.runs.errors import BadInput
from app.web.deps import ControlDep, RunsDep, ServiceDep, requester
from app.web.routes.api.responses import COMMAND, INVALID, TOO_LARGE

router = APIRouter(tags=["api"])


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
    responses={**COMMAND, **INVALID, **TOO_LARGE},
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
async def upload_checkpoint(request: Request, runs: RunsDep, service: ControlDep) -> StateOut:
    """A new run from an uploaded checkpoint (JSON body, or a form field ``file``), validated
    by the engine; it becomes the default run and its state is the answer. Nothing is stored
    if the file does not load. On a class student's run, only that student or the teacher may
    (403): the run's page is told to open the new one."""
    new = await runs.upload(await checkpoint_upload(request), service, requester(request))
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
