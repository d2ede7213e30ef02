"""/ui/events: the page's one stream, bus events rendered as HTML fragments for htmx by the
run's shared renderer (app.web.stream), the same bytes to every page watching the run."""

from fastapi import Request
from fastapi.routing import APIRouter
from sse_starlette import EventSourceResponse

from app.web.deps import ServiceDep
from app.web.routes.api.events import service_stream
from app.web.stream import shared_render

router = APIRouter(include_in_schema=False)  # mounted under /ui and /ui/runs/{run_id}


@router.get("/events", response_class=EventSourceResponse)
async def ui_events(request: Request, service: ServiceDep) -> EventSourceResponse:
    """The page's one stream: bus events rendered as HTML fragments for htmx, once per event
    for every page watching the run (the same bytes to each)."""
    return service_stream(request, service, shared=shared_render(service))
