"""Every error leaves as JSON ``{"detail": "<one human sentence>"}`` — never a traceback."""

import logging
import re
import typing
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.contract.api import ErrorOut
from app.runs.errors import ServiceError
from engine.errors import short_repr

log = logging.getLogger(__name__)

_PLACES = {"query": "query parameter", "body": "field", "path": "path parameter"}
SHOW_LIMIT = 80  # characters of a bad value quoted back in a message


def show(value: Any, limit: int = SHOW_LIMIT) -> str:
    """A bad value for a message: its repr, shortened (a request may carry megabytes)."""
    return short_repr(value, limit, count=True)


def describe_body_error(cause: BaseException | None) -> str:
    """Why a request body could not be parsed at all (FastAPI says only 'There was an error
    parsing the body')."""
    if isinstance(cause, RecursionError):
        return "the request body is not valid JSON: it is nested too deeply"
    if isinstance(cause, UnicodeDecodeError):
        return f"the request body is not UTF-8 text: {cause.reason} at byte {cause.start}"
    if isinstance(cause, ValueError):  # e.g. an integer literal of thousands of digits
        return f"the request body is not valid JSON: {show(str(cause))}"
    what = type(cause).__name__ if cause is not None else "unknown error"
    return f"the request body could not be read ({what}); send JSON for /api, a form for /ui"


def body_fields(request: Request) -> list[str]:
    """The fields the matched route's JSON body takes (for "not allowed here: use ...")."""
    field = getattr(request.scope.get("route"), "body_field", None)
    annotation = getattr(getattr(field, "field_info", None), "annotation", None)
    for model in (annotation, *typing.get_args(annotation)):  # RunIn, or RunIn | None
        if isinstance(model, type) and issubclass(model, BaseModel):
            return list(model.model_fields)
    return []


def describe_validation_error(err: dict[str, Any], allowed: list[str] | None = None) -> str:
    """One pydantic error as a sentence naming the field, the bad value and what is allowed
    (``allowed``: the body's fields, named when a field is not one of them)."""
    loc = [str(part) for part in err.get("loc", ())]
    place, field = (loc[0], ".".join(loc[1:])) if loc else ("body", "")
    kind = err.get("type", "")
    if kind == "json_invalid":
        reason = (err.get("ctx") or {}).get("error", "invalid JSON")
        return f"malformed JSON in the request body: {reason}"
    if not field:
        return f"the request {place} is invalid: {show(err.get('msg', ''))}".rstrip(": ")
    what = f"{_PLACES.get(place, place)} {show(field, 60)}"
    if kind == "missing":
        return f"{what} is required"
    if kind == "extra_forbidden":
        fields = f": the fields are {', '.join(allowed)}" if allowed and place == "body" else ""
        return f"{what} is not allowed here{fields}"
    msg = err.get("msg", "invalid value").removeprefix("Value error, ")  # a validator's own words
    msg = msg[:1].lower() + msg[1:]
    return f"{what} = {show(err.get('input'))} is invalid: {msg}"


def _error(code: int, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"detail": detail, **extra}, status_code=code)


def document_errors(app: FastAPI) -> None:
    """The OpenAPI schema says what the handlers below send: every error, 422 included, is
    ``ErrorOut`` (``{"detail": "<sentence>"}``), not FastAPI's default list of errors."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        error_out = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
        for operations in schema.get("paths", {}).values():
            for method, operation in operations.items():
                responses = operation.setdefault("responses", {})
                invalid = responses.get("422")
                if invalid is not None:
                    invalid["content"] = error_out
                    invalid["description"] = "a bad value, named in the message"
                # what the middleware (app.web.security, BodyLimit) may answer before the route
                refusals = {"400": "a malformed body, or a Host this server does not answer to"}
                if method in ("post", "put", "patch", "delete"):
                    refusals |= {
                        "403": "refused: the request comes from another site's page",
                        "413": "the body is over the size limit",
                        "415": "the body is not of the type this endpoint takes",
                    }
                for code, why in refusals.items():
                    responses.setdefault(code, {"description": why, "content": error_out})
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        components.setdefault("ErrorOut", ErrorOut.model_json_schema())
        app.openapi_schema = schema
        return schema

    app.openapi = openapi


def allowed_methods(request: Request) -> list[str]:
    """The methods some route of the request's path takes (Starlette's 405 names only the
    first matching route's, e.g. POST for /api/runs, which also takes GET)."""
    methods: set[str] = set()
    for route in request.app.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match != Match.NONE and getattr(route, "methods", None):
            methods |= route.methods
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    document_errors(app)

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors, allowed = exc.errors(), body_fields(request)
        detail = "; ".join(describe_validation_error(e, allowed) for e in errors[:3])
        if len(errors) > 3:
            detail += f"; and {len(errors) - 3:,} more"
        return _error(422, detail)

    @app.exception_handler(ServiceError)
    async def on_service_error(_: Request, exc: ServiceError) -> JSONResponse:
        extra = {"status": exc.status} if exc.status else {}
        return _error(exc.status_code, exc.detail, **extra)

    @app.exception_handler(HTTPException)
    async def on_http_error(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
            return _error(400, describe_body_error(exc.__cause__))
        response = _error(exc.status_code, str(exc.detail))
        response.headers.update(exc.headers or {})  # e.g. a 405's Allow
        if exc.status_code == 405:  # every route of the path, not only the first one's
            response.headers["Allow"] = ", ".join(allowed_methods(request))
        return response

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _error(500, f"internal error ({type(exc).__name__}); the service keeps running")


RUN_PREFIX = re.compile(r"^/(api|ui)/runs/\d+(?=/)")


def run_path(path: str) -> str:
    """``path`` without its run: /api/runs/7/train -> /api/train (same limits and types)."""
    return RUN_PREFIX.sub(r"/\1", path, count=1)


class BodyLimit:
    """413 for a request body over the limit (per path), checked before and while reading."""

    def __init__(self, app: ASGIApp, default: int, per_path: dict[str, int]):
        self.app, self.default, self.per_path = app, default, per_path

    def limit(self, path: str) -> int:
        """The limit of ``path``; a run's own path (/api/runs/7/checkpoint) has the limit of
        the same path without the run (/api/checkpoint)."""
        return self.per_path.get(run_path(path), self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope["path"])
        detail = f"request body too large: the limit for {scope['path']} is {limit:,} bytes"
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await _error(413, detail)(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, detail)
            return message

        await self.app(scope, limited_receive, send)
