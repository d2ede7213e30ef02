from fastapi import APIRouter

from app.contract.api import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """200 once the service has loaded its model and serves requests."""
    return Health()
