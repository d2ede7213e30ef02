"""The error answers the API's operations document (every one ``ErrorOut``: app.web.errors)."""

from app.contract.api import ErrorOut

CONFLICT = {409: {"model": ErrorOut, "description": "not possible in the current status"}}
FORBIDDEN = {
    403: {"model": ErrorOut, "description": "a class student's run: only theirs or the teacher's"}
}
INVALID = {422: {"model": ErrorOut, "description": "a bad value, named in the message"}}
NOT_FOUND = {404: {"model": ErrorOut, "description": "no run has that id"}}
UNAVAILABLE = {503: {"model": ErrorOut, "description": "the training process is not running"}}
COMMAND = {**CONFLICT, **UNAVAILABLE, **FORBIDDEN}
TOO_LARGE = {413: {"model": ErrorOut}}

STEP_HELP = (
    "a step of the model's history to answer as of, with that step's weights exactly: from "
    "the model's first step (0, or the step it was loaded at) to the newest; omitted: now"
)
