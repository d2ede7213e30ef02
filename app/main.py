"""The app factory: settings, lifespan (service start/stop), routers, static files."""

import asyncio
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.classes.roster import Classes
from app.jobs.local import ProcessRunner, warm_up
from app.open_files import StreamGate, open_file_limit
from app.paths import STATIC_DIR
from app.predict.cache import KnownQueries
from app.runs.registry import Runs
from app.settings import Settings, get_settings
from app.web.assets import STATIC_VERSION, VersionedStaticFiles
from app.web.errors import BodyLimit, install_error_handlers
from app.web.identity import Identity, load_secret
from app.web.routes import mount
from app.web.routes.api.predict import known_prediction
from app.web.security import Security, allowed_hosts

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        jobs = None
        if settings.redis_url:  # Redis mode: slices go to `microgpt-live worker` processes
            from app.jobs.runner import RedisJobs, redacted

            jobs = RedisJobs(settings)
            await jobs.start()
        else:
            await asyncio.to_thread(warm_up)  # the training processes' forkserver
        registry = Runs(settings, runner_factory=jobs.runner if jobs else ProcessRunner)
        app.state.jobs = jobs
        await registry.start()
        app.state.runs = registry
        app.state.classes = Classes(registry.store, registry)
        await app.state.classes.load()
        default = registry.default
        log.info(
            "%d runs; the default, run %s, at step %s (%s); %s",
            len(registry.services),
            default.id,
            default.step,
            default.status,
            f"Redis mode, {redacted(settings.redis_url)}"
            if jobs
            else f"{registry.scheduler.workers} workers",
        )
        try:
            yield
        finally:
            await registry.close()
            if jobs is not None:
                await jobs.close()

    app = FastAPI(
        title="microgpt-live",
        summary="Watch a 4,064-parameter GPT learn, live.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served offline by app.web.routes.ui.docs
        redoc_url=None,
    )
    app.state.settings = settings
    # pages hold file descriptors: as many streams as the open-file limit leaves room for
    limit, _ = open_file_limit()
    app.state.streams = StreamGate.for_limit(limit, settings.local_workers, settings.max_streams)
    install_error_handlers(app)
    app.add_middleware(
        BodyLimit,
        default=settings.max_body,
        # a model file, or a run's own dataset (1 MiB of text, escaped in JSON or a form)
        per_path={
            path: settings.max_upload
            for path in ("/api/checkpoint", "/ui/checkpoint", "/api/runs", "/ui/runs")
        },
    )
    # /api/predict with a query string the route has validated before, answered without the
    # framework's CPU (app.predict.cache); inside Security, which checks and marks it as any other
    app.add_middleware(KnownQueries, path="/api/predict", answer=known_prediction)
    # who is asking (a signed cookie): a class student's run is theirs and the teacher's only
    app.add_middleware(Identity, secret=load_secret(settings.data_dir))
    # outermost: every answer, refusals and 413s included, carries the security headers
    app.add_middleware(Security, hosts=allowed_hosts(settings.host, settings.allowed_hosts))
    mount(app)
    if STATIC_DIR.is_dir():
        static = VersionedStaticFiles(directory=STATIC_DIR, version=STATIC_VERSION)
        app.mount("/static", static, name="static")
    return app
