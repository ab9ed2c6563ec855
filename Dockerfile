# One image for the worker and the web site; docker-compose.yml gives each service its command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY . .
# Both commands run from /app, so the source tree here is what runs; the install brings the
# pinned dependencies.
RUN pip install . \
    && rm -rf build ./*.egg-info \
    && useradd --system --no-create-home --home-dir /app cers \
    && mkdir .data && chown cers .data
USER cers

EXPOSE 8000
# uvicorn as web/serve.py sets it up: no server banner, X-Forwarded-For believed from
# TRUSTED_PROXIES only (web/app.py), and WEB_GRACEFUL_SHUTDOWN_SECONDS to finish on SIGTERM.
CMD ["python", "-m", "web.serve", "--host", "0.0.0.0", "--port", "8000"]
