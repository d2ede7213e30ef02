"""Shared state for routes, as Annotated dependencies (set up by the app's lifespan)."""

from typing import Annotated

from fastapi import Depends, Request

from app.service import TrainingService


def get_service(request: Request) -> TrainingService:
    return request.app.state.service


ServiceDep = Annotated[TrainingService, Depends(get_service)]
