# syntax=docker/dockerfile:1
# One image for the worker, the web site and the migrate job (docker-compose.yml gives each its
# command), and a standin stage for the stand-in Sign-In Partner, which production never runs.
#
# The dependencies come from requirements/*.lock, every file checked against its hash, in a
# layer of their own before any source: a source change rebuilds only the last layer.

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /venv
COPY requirements/production.lock /tmp/production.lock
RUN /venv/bin/pip install --require-hashes --no-deps -r /tmp/production.lock

FROM build AS build-standin
COPY requirements/standin.lock /tmp/standin.lock
RUN /venv/bin/pip install --require-hashes --no-deps -r /tmp/standin.lock

# What every runtime stage shares: the user, the environment, the source (run from /app, as
# `python worker.py` and `python -m uvicorn web.app:app` expect).
FROM ${PYTHON_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/venv/bin:$PATH
RUN useradd --system --no-create-home --home-dir /app cers \
    && mkdir -p /app/.data && chown cers /app/.data
WORKDIR /app

# The stand-in Sign-In Partner (`--target standin`): Flask is in this stage only.
FROM base AS standin
COPY --from=build-standin /venv /venv
COPY . .
RUN python -m compileall -q /app
USER cers
EXPOSE 9400
HEALTHCHECK --interval=10s --timeout=5s --retries=6 \
    CMD ["python", "-m", "core.probe", "http://127.0.0.1:9400/.well-known/openid-configuration"]
CMD ["python", "-m", "broker", "--host", "0.0.0.0", "--port", "9400"]

# Last, so a plain `docker build .` makes it: the production image.
FROM base AS production
COPY --from=build /venv /venv
COPY . .
# The bytecode is made here, once: nothing is written at run time (PYTHONDONTWRITEBYTECODE, and
# /app is not the user's). Without it every import compiles its source, and the worker's
# sandbox imports a workflow's module afresh for each new workflow: onboarding.py compiled
# again for every journey (~4.5 ms each on the 2-core test machine, against 0.1 ms to load).
RUN python -m compileall -q /app
USER cers
EXPOSE 8000
# The site's liveness (GET /healthz); docker-compose.yml points the worker's at its own port.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=6 \
    CMD ["python", "-m", "core.probe", "http://127.0.0.1:8000/healthz"]
# uvicorn as web/serve.py sets it up: no server banner, X-Forwarded-For believed from
# TRUSTED_PROXIES only (web/app.py), and WEB_GRACEFUL_SHUTDOWN_SECONDS to finish on SIGTERM.
CMD ["python", "-m", "web.serve", "--host", "0.0.0.0", "--port", "8000"]
