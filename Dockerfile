# syntax=docker/dockerfile:1
# aiwfe: one image for every Python process. The entrypoint is `aiwfe`; the command picks the process:
#   api (default) | worker | beat | migrate | worker-health
# Build:  docker build --build-arg VERSION=0.1.0 --build-arg REVISION="$(git rev-parse HEAD)" -t aiwfe:0.1.0 .
#
# Base: python:3.12-alpine, as the brief names. Every compiled package in uv.lock's runtime set
# (asyncpg, uvloop, httptools, pydantic-core, argon2-cffi-bindings, greenlet, sqlalchemy, websockets,
# watchfiles, ...) publishes a musllinux wheel for CPython 3.12 on x86_64 and aarch64, and protobuf has a
# pure-Python wheel, so nothing is compiled: neither stage installs a C toolchain. The musl trade-offs
# (a slower allocator, no glibc-only wheels) are why tests/deploy/test_dockerfiles.py re-checks the lock for
# musllinux wheels; if a future dependency ships manylinux wheels only, move both FROM lines to
# python:3.12-slim-bookworm rather than adding gcc here. The alpine base already carries tzdata (zoneinfo)
# and ca-certificates.
#
# Both stages must use the same interpreter: the virtual environment links to /usr/local/bin/python3.12.
# Update the two digests together (docker buildx imagetools inspect python:3.12-alpine3.22).

FROM python:3.12-alpine3.22@sha256:a190708a2dec1bd18b1decb539f8e8f5407abaa9bf39cacda583f7f8c11db322 AS builder

# The uv version the Makefile bootstraps (scripts/bootstrap.sh), installed from PyPI into the builder only.
ARG UV_VERSION=0.13.8
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.12 \
    UV_PROJECT_ENVIRONMENT=/opt/aiwfe \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m pip install --no-cache-dir "uv==${UV_VERSION}"

WORKDIR /src

# Locked dependencies first, in a layer that changes only with uv.lock; the groups `dev`, `stack`, `scan`
# (linters, test tools, checkov) never enter the image.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-group stack --no-group scan --no-group evidence --no-install-project

# Then the package itself, as a regular (non-editable) install: src/aiwfe/migrations ships inside it,
# so `aiwfe migrate` works from the image.
COPY README.md ./
COPY src ./src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-group stack --no-group scan --no-group evidence --no-editable \
    && /opt/aiwfe/bin/aiwfe --help > /dev/null


FROM python:3.12-alpine3.22@sha256:a190708a2dec1bd18b1decb539f8e8f5407abaa9bf39cacda583f7f8c11db322 AS runtime

ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="aiwfe" \
      org.opencontainers.image.description="aiwfe API, Celery worker, Celery beat and migrations (aiwfe api|worker|beat|migrate)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/aiwfe/aiwfe" \
      org.opencontainers.image.documentation="https://github.com/aiwfe/aiwfe/blob/main/docs/deploy-compose.md" \
      org.opencontainers.image.base.name="docker.io/library/python:3.12-alpine3.22"

# A fixed, unprivileged UID/GID (the Helm chart's runAsUser). pip is removed: nothing installs at run time.
RUN addgroup -S -g 10001 aiwfe \
    && adduser -S -D -H -u 10001 -G aiwfe -h /nonexistent -s /sbin/nologin aiwfe \
    && rm -rf /usr/local/bin/pip* /usr/local/lib/python3.12/site-packages/pip \
              /usr/local/lib/python3.12/site-packages/pip-* /usr/local/lib/python3.12/ensurepip

# Owned by root and not writable by the app user: the code cannot be changed by the process running it.
COPY --from=builder /opt/aiwfe /opt/aiwfe

# Read-only root file system: the only writes go to /tmp (a tmpfs in compose and Kubernetes) — the worker's
# prometheus multiprocess folder and beat's schedule file. Bytecode was compiled at build time.
ENV PATH=/opt/aiwfe/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    AIWFE_API_HOST=0.0.0.0 \
    AIWFE_API_PORT=8001 \
    AIWFE_WORKER_METRICS_HOST=0.0.0.0 \
    AIWFE_WORKER_METRICS_PORT=9101 \
    AIWFE_WORKER_METRICS_DIR=/tmp/aiwfe-worker-metrics \
    AIWFE_BEAT_SCHEDULE_FILE=/tmp/celerybeat-schedule

WORKDIR /tmp
USER 10001:10001
EXPOSE 8001 9101

# Liveness of the default process (the API). Compose and the Helm chart override it per process:
# the worker runs `aiwfe worker-health`, beat checks its heartbeat, migrate has none.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('AIWFE_API_PORT', '8001'), timeout=4)"]

ENTRYPOINT ["aiwfe"]
CMD ["api"]
