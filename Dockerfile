# microgpt-live: `docker compose up`, then open http://localhost:8000
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# Install the project (and its pinned-range dependencies) from the build context, with the redis
# extra: compose runs the image as the web service and as Redis-mode workers. .dockerignore keeps
# the context to what the wheel needs.
COPY . /tmp/src
RUN pip install --no-cache-dir "/tmp/src[redis]" \
    && rm -rf /tmp/src

# tini reaps what the server's processes leave behind (a training process killed at a timeout
# leaves its helper to PID 1) when the image runs without `--init` (-s: also under compose's
# init, as a subreaper)
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --gid 10001 microgpt \
    && useradd --uid 10001 --gid 10001 --create-home --shell /usr/sbin/nologin microgpt \
    && mkdir -p /data \
    && chown 10001:10001 /data

USER 10001:10001
WORKDIR /home/microgpt

# Settings are read from MICROGPT_* (see app/); checkpoints live on the /data volume.
ENV MICROGPT_HOST=0.0.0.0 \
    MICROGPT_PORT=8000 \
    MICROGPT_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8000

# The slim image has no curl: probe /healthz with the standard library.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

ENTRYPOINT ["/usr/bin/tini", "-s", "--"]
CMD ["microgpt-live", "--host", "0.0.0.0", "--port", "8000", "--data-dir", "/data"]
