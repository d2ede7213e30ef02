"""A run as the run list shows it."""

from app import limits as L
from app.contract.api import RunOut
from app.runs.service import RunService
from engine.model import num_params


def run_out(service: RunService, queue_position: int | None, default_id: int | None) -> RunOut:
    """What the run list shows of a run."""
    cfg, last = service.config, service.history[-1] if service.history else None
    rs = service.run_settings
    return RunOut(
        id=service.id,
        name=service.name,
        created_at=service.created_at,
        seed=service.seed,
        lr=service.lr,
        steps=rs.get("steps", L.STEPS.default),
        n_embd=cfg.n_embd,
        n_head=cfg.n_head,
        n_layer=cfg.n_layer,
        block_size=cfg.block_size,
        vocab_size=cfg.vocab_size,
        num_params=num_params(cfg),
        dataset=rs.get("dataset", service.dataset),
        status=service.status,
        step=service.step,
        loss=last[2] if last else None,
        queue_position=queue_position,
        default=service.id == default_id,
        parent=rs.get("parent"),
        parent_step=rs.get("parent_step"),
    )
