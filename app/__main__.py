"""``python -m app`` / ``microgpt-live``: serve the app with uvicorn.

Flags override the environment (MICROGPT_HOST, MICROGPT_PORT, MICROGPT_DATA_DIR), which
overrides the defaults (127.0.0.1, 8000, the platform's user data folder).
"""

import argparse
import logging
from pathlib import Path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="microgpt-live", description="Train microgpt live and watch it in the browser."
    )
    parser.add_argument("--host", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default 8000)")
    parser.add_argument("--data-dir", type=Path, help="where the database lives")
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    import uvicorn

    from app.main import create_app
    from app.settings import Settings

    given = {k: v for k, v in vars(args).items() if v is not None}
    settings = Settings(**given)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        timeout_graceful_shutdown=settings.graceful_shutdown,
    )


if __name__ == "__main__":
    main()
