# LibraryCache: a slim image that runs `librarycache serve` as a non-root user.
#
#   docker build -t librarycache .
#   docker run -e LIBRARYCACHE_JWT_SECRET=... -e MONGODB_URI=mongodb://... -p 8000:8000 librarycache
#
# compose.yaml runs it with MongoDB. The image is for production (LIBRARYCACHE_ENV=production):
# it refuses to start without MONGODB_URI, and it does not carry the embedded store (the
# `embedded` extra, a development and single-machine feature).

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
# Only what the package is built from: see .dockerignore.
COPY pyproject.toml README.md ./
COPY persistence ./persistence
COPY resolvers ./resolvers
COPY server ./server
COPY sources ./sources
# `.` without extras: no embedded store in the production image.
RUN /opt/venv/bin/pip install . \
    && /opt/venv/bin/librarycache export-schema - > /dev/null

FROM python:3.11-slim
RUN groupadd --system --gid 10001 librarycache \
    && useradd --system --uid 10001 --gid librarycache \
        --home-dir /var/lib/librarycache --create-home --shell /usr/sbin/nologin librarycache
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LIBRARYCACHE_ENV=production \
    LIBRARYCACHE_LOG_FORMAT=json
WORKDIR /var/lib/librarycache
# A numeric user, so that a runtime can check it is not root without reading /etc/passwd.
USER 10001:10001
EXPOSE 8000
# Liveness only: /readyz also asks the store, and a store outage should not restart the app.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
# uvicorn drains in-flight requests on SIGTERM; give it sync_timeout_seconds + 5 s before SIGKILL
# (docker stop --time, compose's stop_grace_period, Kubernetes' terminationGracePeriodSeconds).
STOPSIGNAL SIGTERM
# Production needs LIBRARYCACHE_JWT_SECRET: without one, serve refuses to listen beyond
# loopback (unless --insecure-open is added, which lets anyone overwrite every library).
CMD ["librarycache", "serve", "--host", "0.0.0.0", "--port", "8000"]
