from fastapi import APIRouter, Request

from app.contract.api import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz(request: Request) -> Health:
    """200 once the service has loaded its model and serves requests; ``degraded``, with the
    reason, while the data directory refuses writes (training cannot be stored)."""
    runs = getattr(request.app.state, "runs", None)
    failed = runs.store.write_failed if runs is not None and runs.store is not None else None
    if failed is not None:
        return Health(status="degraded", reason=failed.reason)
    return Health()
