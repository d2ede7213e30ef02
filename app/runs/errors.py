"""What a run refuses or cannot do, as an HTTP status and one human sentence (app.web.errors
answers them)."""

import math

from app.contract.events import Status


class ServiceError(Exception):
    """An error for the client: HTTP status and one human sentence."""

    status_code = 500

    def __init__(self, detail: str, status: Status | None = None):
        super().__init__(detail)
        self.detail, self.status = detail, status


class Conflict(ServiceError):
    status_code = 409


class BadInput(ServiceError):
    status_code = 422


class WorkerUnavailable(ServiceError):
    status_code = 503


class TooLarge(ServiceError):
    status_code = 413


class NotFound(ServiceError):
    status_code = 404


class Forbidden(ServiceError):
    status_code = 403


class TooMany(ServiceError):
    """429, with the seconds to wait (``Retry-After``)."""

    status_code = 429

    def __init__(self, detail: str, retry_after: float):
        super().__init__(detail)
        self.headers = {"Retry-After": str(max(1, math.ceil(retry_after)))}


class OutOfSpace(ServiceError):
    """507 Insufficient Storage: a disk budget is spent."""

    status_code = 507
