"""The live event stream (JSON), and the helper the page's HTML stream is built on."""

from fastapi import APIRouter, Request
from sse_starlette import EventSourceResponse

from app.contract.api import ErrorOut
from app.fanout import SharedRender
from app.runs.service import RunService
from app.sse import Render, event_stream
from app.web.deps import ServiceDep

__all__ = ["event_stream", "router", "service_stream"]

router = APIRouter(tags=["events"])


def service_stream(
    request: Request,
    service: RunService,
    render: Render | None = None,
    *,
    shared: SharedRender | None = None,
) -> EventSourceResponse:
    """``event_stream`` over the service's bus: a new client starts with a ``status`` event."""
    s = service.settings
    return event_stream(
        request,
        service.bus,
        render,
        shared=shared,
        initial=service.status_event,
        ping=s.sse_ping,
        send_timeout=s.sse_send_timeout,
        gate=request.app.state.streams,
    )


@router.get(
    "/events",
    response_class=EventSourceResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "SSE stream"},
        503: {
            "model": ErrorOut,
            "description": "as many streams are open as the server can hold: Retry-After",
        },
    },
)
async def events(request: Request, service: ServiceDep) -> EventSourceResponse:
    """Server-Sent Events: ``status``, ``step``, ``validation``, ``done``, ``error``,
    ``reset``, ``deleted``.

    Each message has an ``id:`` (send it back as ``Last-Event-ID`` to resume without gap or
    duplicate), an ``event:`` name and JSON ``data:`` (see the schemas StateOut, StepEvent,
    ValidationEvent, DoneEvent, ErrorEvent, ResetEvent, DeletedEvent). Heartbeat comments
    keep the connection open.
    """
    return service_stream(request, service)
