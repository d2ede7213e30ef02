"""The compare page: pick the runs, see their curves on one chart (drawn by static/compare.js
from ``/api/compare``, refreshed while a run trains)."""

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from app import limits as L
from app.runs.errors import ServiceError
from app.templating import page
from app.web.deps import RunsDep
from app.web.routes.api.compare import compared
from app.web.views.runs import ComparePage

router = APIRouter(include_in_schema=False)


@router.get("/compare", response_class=HTMLResponse)
async def compare_page(
    request: Request, runs: RunsDep, ids: Annotated[list[int] | None, Query(alias="runs")] = None
) -> HTMLResponse:
    """The page: pick the runs (every run's checkbox), see their curves on one chart. Without a
    choice: the newest runs, up to 8."""
    listing = runs.listing().runs
    chosen = ids or [r.id for r in listing][-L.COMPARED_RUNS :]
    data, error = None, None
    try:
        data = compared(runs, chosen)
    except ServiceError as e:  # NotFound, BadInput: said above the chart
        error = e.detail
    query = urlencode([("runs", i) for i in chosen])
    view = ComparePage(listing, chosen, data, error, query)
    return page(request, "compare.html", view, 200 if data else 422)
