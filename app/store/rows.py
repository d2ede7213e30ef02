"""What the store hands back and takes: one dataclass per kind of row."""

from dataclasses import dataclass


@dataclass(frozen=True)
class RunRecord:
    """A run as stored: its id (its model's), name, creation time and settings (seed, lr,
    steps, n_embd, n_head, n_layer, block_size, dataset)."""

    id: int
    name: str
    created_at: float
    settings: dict


@dataclass
class SegmentRow:
    """One training segment of a run (Train N steps, with its pauses and resumes)."""

    id: int
    model: int
    start_step: int
    steps: int
    step: int
    lr: float
    status: str
    reason: str | None
    started_at: float
    ended_at: float | None
    elapsed: float = 0.0  # seconds spent training, up to the last checkpoint


@dataclass
class CheckpointRow:
    id: int
    model: int
    step: int
    segment: int | None
    data: str


@dataclass
class FrameRow:
    """The step that made a checkpoint's weights: its token ids, and the weights before its
    update and the gradient there as little-endian float64 bytes in parameter order."""

    step: int
    tokens: list[int]
    before: bytes
    grads: bytes


@dataclass
class HistoryRow:
    step: int
    segment: int | None
    loss: float
    smooth: float
    lr: float
    weights: bytes | None = None  # after the step: little-endian float64 in parameter order
    probes: dict[str, bytes] | None = None  # prefix -> next-token distribution after the step
