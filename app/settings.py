"""Service settings, read from flags and the environment (prefix ``MICROGPT_``)."""

import os
import sys
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    """Where the database lives unless told otherwise: the platform's per-user data folder."""
    home = Path.home()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", home / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    return base / "microgpt-live"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MICROGPT_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    data_dir: Path = Field(default_factory=default_data_dir)
    log_level: str = "info"
    # host names (Host header) the server answers to besides loopback, comma-separated; default:
    # the bound address and this machine's name when not bound to loopback; "*": any
    # (app.web.security)
    allowed_hosts: str = ""
    # uvicorn HTTP implementation (python -m app adds an abort hook to it: app.transport)
    http: str = Field("auto", pattern=r"^(auto|httptools|h11)$")

    seed: int = 42  # seed of the first run, when the data dir is empty
    # at most this many runs train at once (one training process each); the rest wait in a
    # FIFO queue. None: the machine's CPU count
    workers: int | None = Field(None, ge=1, le=64)
    checkpoint_every: int = Field(25, ge=1)  # steps between checkpoints during a run
    snapshot_every: int = Field(5, ge=1)  # steps between weight snapshots sent to the web process
    val_every: int = Field(50, ge=1)  # steps between held-out losses (and at a run's start, end)
    probes: tuple[str, ...] = ("", "e")  # prefixes whose next-char distribution rides on each step
    # a training process forks a helper that measures a step's probes, matrix health and
    # held-out loss while the next step trains (app.jobs.instruments) when the runs training
    # leave it a core (app.runs.link.helper_fits): ~1.3 ms of a ~6 ms step off the training's
    # path. False: always measured inline
    step_helper: bool = True

    replay_max_events: int = Field(25_000, ge=100)  # hard cap on the replay buffer
    # and on its size in bytes (encoded events + bookkeeping; app.sse says why 8 MiB)
    replay_max_bytes: int = Field(8 * 1024 * 1024, ge=256 * 1024)
    # a reconnecting client further behind than this many bytes of events gets the current
    # state instead of a replay (its page reloads the rest): ~1,100 step events, a whole
    # default run
    replay_max_client_bytes: int = Field(2 * 1024 * 1024, ge=16 * 1024)
    # events a slow client may fall behind before it is dropped (it reconnects and replays)
    client_buffer: int = Field(1024, ge=8)
    # event streams open at once, at most (None: as many as the open-file limit leaves room
    # for, app.open_files); one more is answered 503 with Retry-After and its page retries
    max_streams: int | None = Field(None, ge=1)
    sse_ping: float = Field(15.0, gt=0)  # seconds between heartbeat comments
    # a client whose socket accepts nothing for this long is dropped
    sse_send_timeout: float = Field(10.0, gt=0)
    graceful_shutdown: float = Field(5.0, gt=0)  # uvicorn's timeout_graceful_shutdown
    # seconds the training process may take to start or to answer a command before it is
    # stopped (a hung worker must not hang every command and the shutdown with it)
    worker_timeout: float = Field(30.0, gt=0)

    # Redis mode (app.jobs): with a URL, training slices go through Redis (Dramatiq) to
    # `microgpt-live worker` processes on any machine; without one, everything is embedded
    redis_url: str | None = Field(None, pattern=r"^(redis|rediss|unix)://")
    # seconds without a heartbeat before a worker counts as dead and its slice is redelivered
    redis_heartbeat: float = Field(15.0, gt=0)
    # per million broker commands, how many also re-queue dead workers' slices (10%)
    redis_maintenance_chance: int = Field(100_000, ge=1, le=1_000_000)
    # seconds a worker's hold on a session lasts unless renewed (at every step): shorter than
    # the heartbeat, so a redelivered slice finds it expired
    redis_lease: float = Field(5.0, gt=0)
    # entries a run's message stream keeps if the web process does not read them (it trims
    # what it has read): ~35 KB each, 3-4 a step; one that falls further behind fails the run
    redis_maxlen: int = Field(5_000, ge=1000)
    slice_steps: int = Field(50, ge=1)  # a job trains at most this many steps of a run,
    slice_seconds: float = Field(1.0, gt=0)  # or this long, then queues the next job

    # testing only: the worker makes this global step's loss non-finite once, so the
    # "diverged" path (stop, roll back to the last checkpoint) can be exercised end to end
    fault_nonfinite_at: int | None = Field(None, ge=1)

    # codes that cannot be guessed at speed (app.web.code_guard): failed lookups of class
    # codes, rejoin codes and teacher links a minute, per browser and per peer address, before
    # every endpoint that takes a code answers 429 with Retry-After
    code_misses_per_minute: int = Field(30, ge=1)
    code_misses_per_minute_per_address: int = Field(120, ge=1)
    # new seats in one class: a burst, then this many a second (app.classes.roster)
    class_join_burst: int = Field(100, ge=1)
    class_joins_per_second: float = Field(3.0, gt=0)

    # fair shares (app.runs.quotas): what one person (a browser's identity; a client sending
    # no cookie: its address) may have: generous for a person, tight for a script. Forks,
    # resets and uploads are runs too
    runs_per_identity: int = Field(50, ge=1)  # runs kept at once (delete one to make another)
    runs_per_minute: int = Field(60, ge=1)  # new runs a minute (a burst, then one a second)
    classes_per_identity: int = Field(10, ge=1)  # classes one browser teaches
    # bytes of history one run may store (~36 kB a step of the default shape: its weights for
    # time travel), and the data directory all runs may (the database and its journal);
    # beyond them training and new runs are refused with 507 (app.runs.budget)
    run_disk_budget: int = Field(1024 * 1024 * 1024, ge=1024 * 1024)
    data_disk_budget: int = Field(16 * 1024 * 1024 * 1024, ge=1024 * 1024)

    max_body: int = 16 * 1024  # request body limit, bytes
    # checkpoint upload limit, bytes: the largest model a run may have (n_embd 32, 2 layers,
    # block 16) writes ~1.9 MB of JSON (tests/app/test_runs.py uploads one)
    max_upload: int = 4 * 1024 * 1024

    @field_validator("redis_url", mode="before")
    @classmethod
    def _empty_is_embedded(cls, value):
        return None if value == "" else value  # MICROGPT_REDIS_URL= (set, empty): embedded

    @model_validator(mode="after")
    def _lease_within_heartbeat(self) -> "Settings":
        if self.redis_lease >= self.redis_heartbeat:
            raise ValueError(
                f"redis_lease ({self.redis_lease:g} s) must be shorter than redis_heartbeat "
                f"({self.redis_heartbeat:g} s): a redelivered slice must find it expired"
            )
        return self

    @property
    def local_workers(self) -> int:
        """Training processes this web process runs at once: none in Redis mode (the workers
        train, wherever they are), else ``workers`` or the CPU count."""
        return 0 if self.redis_url else self.workers or os.cpu_count() or 1

    @property
    def db_path(self) -> Path:
        return self.data_dir / "microgpt.sqlite3"


@lru_cache
def get_settings() -> Settings:
    return Settings()
