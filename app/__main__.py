"""``python -m app`` / ``microgpt-live``: serve the app with uvicorn.

``microgpt-live worker --redis-url URL [--processes N]`` runs training workers instead
(``app.jobs.worker_main``). Flags override the environment (MICROGPT_HOST, MICROGPT_PORT,
MICROGPT_DATA_DIR, MICROGPT_REDIS_URL), which overrides the defaults (127.0.0.1, 8000, the
platform's user data folder, embedded). Requests are not logged unless ``--access-log``.
"""

import argparse
import logging
import sys
from pathlib import Path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="microgpt-live", description="Train microgpt live and watch it in the browser."
    )
    parser.add_argument("--host", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default 8000)")
    parser.add_argument("--data-dir", type=Path, help="where the database lives")
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    parser.add_argument(
        "--redis-url",
        help="redis://HOST:PORT/DB: train on `microgpt-live worker` processes (Redis mode)",
    )
    parser.add_argument(
        "--access-log", action="store_true", help="log every request (uvicorn's access log)"
    )
    return parser.parse_args(argv)


def setup_logging(level: str) -> None:
    """One format for the web process and the workers."""
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def settings_or_exit(given: dict, prog: str = "microgpt-live"):
    """The settings, or one line per bad value (flag or MICROGPT_* variable) and exit 2."""
    from pydantic import ValidationError

    from app.settings import Settings

    try:
        return Settings(**given)
    except ValidationError as e:
        for error in e.errors():
            name = ".".join(str(part) for part in error["loc"]) or "settings"
            shown = f" (got {error['input']!r})" if name != "settings" else ""
            print(f"{prog}: {name}: {error['msg']}{shown}", file=sys.stderr)
        raise SystemExit(2) from None


REDIS_EXTRA = "pip install 'microgpt-live[redis]'"


def redis_extra_or_exit(prog: str = "microgpt-live") -> None:
    """Exit 2 with one line if Redis mode's packages (the ``redis`` extra) are not installed."""
    from importlib.util import find_spec

    missing = [name for name in ("dramatiq", "redis") if find_spec(name) is None]
    if missing:
        print(
            f"{prog}: Redis mode needs {' and '.join(missing)}, which this install lacks: "
            f"{REDIS_EXTRA} (or leave out the Redis URL to train in this process)",
            file=sys.stderr,
        )
        raise SystemExit(2)


def redis_or_exit(url: str, hint: str, prog: str = "microgpt-live") -> None:
    """Exit 2 with one line if Redis at ``url`` does not answer a PING within 3 s."""
    redis_extra_or_exit(prog)
    import redis

    from app.jobs.runner import redacted

    try:
        redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3).ping()
    except (redis.RedisError, OSError) as e:
        print(f"{prog}: Redis at {redacted(url)} does not answer ({e}); {hint}", file=sys.stderr)
        raise SystemExit(2) from None


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["worker"]:  # microgpt-live worker --redis-url URL --processes N
        redis_extra_or_exit("microgpt-live worker")
        from app.jobs.worker_main import main as worker_main

        return worker_main(argv[1:])
    args = parse_args(argv)
    import uvicorn

    from app.main import create_app
    from app.store import StoreError, preflight
    from app.store.write_failure import unwritable
    from app.transport import http_protocol

    access_log = args.access_log
    given = {k: v for k, v in vars(args).items() if v is not None and k != "access_log"}
    settings = settings_or_exit(given)
    setup_logging(settings.log_level)
    refused = unwritable(settings.data_dir)  # read-only or full: one line, not a traceback
    if refused is not None:
        print(f"microgpt-live: {refused}", file=sys.stderr)
        raise SystemExit(2)
    try:  # a database this release must not touch: one line, not a failed startup's traceback
        preflight(settings.db_path)
    except StoreError as e:
        print(f"microgpt-live: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    if settings.redis_url:
        redis_or_exit(settings.redis_url, "or leave out --redis-url to train in this process")
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        # off unless asked: a line per request adds ~60% to a cached prediction's CPU
        access_log=access_log,
        # uvicorn's protocol plus an abort hook: app.sse resets stuck streams (app.transport)
        http=http_protocol(settings.http),
        timeout_graceful_shutdown=settings.graceful_shutdown,
    )


if __name__ == "__main__":
    main()
