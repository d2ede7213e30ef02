"""The lesson's fragments: the "what happened" list of a run (its milestones)."""

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from app.lesson.story import milestones_of, story_of
from app.lesson.views import story_view
from app.templating import render
from app.web.deps import ServiceDep

router = APIRouter(include_in_schema=False)


@router.get("/milestones", response_class=HTMLResponse)
async def ui_milestones(service: ServiceDep) -> HTMLResponse:
    """The list, rendered afresh: the page asks as held-out points arrive (every 50 steps and
    at a segment's end), and its chart marks are read from it."""
    story = story_of(service)
    found = await run_in_threadpool(milestones_of, story)
    return HTMLResponse(render("milestones", story=story_view(found)))
