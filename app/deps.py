"""Shared state for routes, as Annotated dependencies (set up by the app's lifespan)."""

from typing import Annotated

from fastapi import Depends, Request

from app.bus import EventBus
from app.service import TrainingService
from app.settings import Settings


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_service(request: Request) -> TrainingService:
    return request.app.state.service


def get_bus(request: Request) -> EventBus:
    return request.app.state.service.bus


SettingsDep = Annotated[Settings, Depends(get_settings)]
ServiceDep = Annotated[TrainingService, Depends(get_service)]
TrainerDep = ServiceDep  # the service is the one thing that owns the trainer
BusDep = Annotated[EventBus, Depends(get_bus)]
