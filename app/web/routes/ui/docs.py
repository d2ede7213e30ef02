"""The API reference pages, /docs (Swagger UI) and /redoc (ReDoc), served fully offline.

FastAPI's own /docs and /redoc load their JavaScript and CSS from a CDN and start Swagger UI with
an inline <script>. These pages load only same-origin files: the vendored bundles in
static/vendor/ (see VERSIONS.md there) and static/docs-init.js, which starts Swagger UI and keeps
ReDoc's one remote image (a logo) from being requested. No inline script, no web fonts.

Each response carries its own Content-Security-Policy (the app-wide default only applies to
responses without one). Neither page needs 'unsafe-eval' or 'unsafe-inline' in script-src.
"""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.templating import templates
from app.web.security import CSP

router = APIRouter(include_in_schema=False)

# Swagger UI 5 needs nothing beyond the app's strict default (app.web.security.CSP): its styles come
# from the vendored CSS file, its icons are data: images, and "Try it out" calls this origin.
SWAGGER_CSP = CSP

# ReDoc 2 differs from the default in two directives, each needed (checked in Chromium):
# - style-src 'unsafe-inline': ReDoc styles itself with styled-components, which writes run-time
#   <style> elements whose content depends on the spec, so no hash or nonce can cover them; under
#   style-src 'self' ReDoc throws on load and renders "Something went wrong".
# - worker-src blob:: its search index runs in a web worker started from a Blob URL (the worker's
#   code is inside redoc.standalone.js); without it the worker is refused and search breaks.
_STRICT_STYLES = "style-src 'self'; style-src-attr 'unsafe-inline'"
assert _STRICT_STYLES in CSP
REDOC_CSP = CSP.replace(_STRICT_STYLES, "style-src 'self' 'unsafe-inline'; worker-src blob:")


def _page(request: Request, name: str, csp: str) -> HTMLResponse:
    context = {
        "title": request.app.title,
        "openapi_url": request.app.openapi_url or "/openapi.json",
    }
    return templates.TemplateResponse(
        request, name, context, headers={"Content-Security-Policy": csp}
    )


@router.get("/docs", response_class=HTMLResponse)
async def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI: every operation, with a form to try it."""
    return _page(request, "docs.html", SWAGGER_CSP)


@router.get("/redoc", response_class=HTMLResponse)
async def redoc(request: Request) -> HTMLResponse:
    """ReDoc: the same OpenAPI document as a three-panel reference."""
    return _page(request, "redoc.html", REDOC_CSP)
