"""Every error leaves as JSON ``{"detail": "<one human sentence>"}`` — never a traceback."""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.service import ServiceError

log = logging.getLogger(__name__)

_PLACES = {"query": "query parameter", "body": "field", "path": "path parameter"}


def describe_validation_error(err: dict[str, Any]) -> str:
    """One pydantic error as a sentence naming the field, the bad value and what is allowed."""
    loc = [str(part) for part in err.get("loc", ())]
    place, field = (loc[0], ".".join(loc[1:])) if loc else ("body", "")
    kind = err.get("type", "")
    if kind == "json_invalid":
        reason = (err.get("ctx") or {}).get("error", "invalid JSON")
        return f"malformed JSON in the request body: {reason}"
    if not field:
        return f"the request {place} is invalid: {err.get('msg', '')}".rstrip(": ")
    what = f"{_PLACES.get(place, place)} {field!r}"
    if kind == "missing":
        return f"{what} is required"
    if kind == "extra_forbidden":
        return f"{what} is not allowed here"
    msg = err.get("msg", "invalid value")
    msg = msg[:1].lower() + msg[1:]
    return f"{what} = {err.get('input')!r} is invalid: {msg}"


def _error(code: int, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"detail": detail, **extra}, status_code=code)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def on_validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, "; ".join(describe_validation_error(e) for e in exc.errors()))

    @app.exception_handler(ServiceError)
    async def on_service_error(_: Request, exc: ServiceError) -> JSONResponse:
        extra = {"status": exc.status} if exc.status else {}
        return _error(exc.status_code, exc.detail, **extra)

    @app.exception_handler(HTTPException)
    async def on_http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _error(500, f"internal error ({type(exc).__name__}); the service keeps running")


class BodyLimit:
    """413 for a request body over the limit (per path), checked before and while reading."""

    def __init__(self, app: ASGIApp, default: int, per_path: dict[str, int]):
        self.app, self.default, self.per_path = app, default, per_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope["path"], self.default)
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
