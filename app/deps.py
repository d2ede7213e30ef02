"""Shared state for routes, as Annotated dependencies (set up by the app's lifespan)."""

from typing import Annotated

from fastapi import Depends, Request

from app.service import TrainingService


async def get_service(request: Request) -> TrainingService:
    # async, though it awaits nothing: FastAPI runs a plain ``def`` dependency in a worker
    # thread, a hop that costs ~0.4 ms of CPU on every request (bench/predict_load.py)
    return request.app.state.service


ServiceDep = Annotated[TrainingService, Depends(get_service)]
