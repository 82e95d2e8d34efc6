# syntax=docker/dockerfile:1
# Access Portal's image (docs/deploy.md, "Containers"): the same processes as the guide,
# chosen by the entrypoint's argument: web (default), worker, beat, migrate, manage ARGS.
#
#   docker build -t accessportal .
#   docker compose up -d            # compose.yaml: PostgreSQL, Redis, migrate, web, worker, beat

# --- builder: compilers, and a wheel of the project and of every dependency --------------
FROM python:3.11-slim-bookworm AS builder
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY . .
# Dependencies without a wheel for this platform are compiled here, never in the final image.
RUN pip wheel --wheel-dir /wheels ".[server]"

# --- final: python:3.11-slim, the wheels, the code; no compiler, not root -----------------
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH \
    ACCESSPORTAL_MODE=production \
    GUNICORN_BIND=0.0.0.0:8000 \
    DJANGO_STATIC_ROOT=/app/staticfiles \
    CELERY_BEAT_SCHEDULE_FILENAME=/var/lib/accessportal/celerybeat-schedule \
    XDG_RUNTIME_DIR=/run/accessportal
RUN groupadd --system --gid 10001 accessportal \
    && useradd --system --uid 10001 --gid accessportal --home-dir /var/lib/accessportal \
        --shell /usr/sbin/nologin accessportal \
    && install -d -o accessportal -g accessportal /var/lib/accessportal /run/accessportal \
        /run/accessportal/metrics
COPY --from=builder /wheels /wheels
RUN python -m venv /opt/venv \
    && pip install --no-cache-dir --no-index --find-links /wheels "accessportal[server]" \
    && rm -rf /wheels
WORKDIR /app
COPY . .
# Static files are part of the image (WhiteNoise serves them). collectstatic reads the
# production settings, which need a secret key: a random one, used for this step only (and
# the URLs production requires: nothing is contacted).
RUN DJANGO_SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    DJANGO_ALLOWED_HOSTS=build.invalid \
    DATABASE_URL=postgres://build.invalid/build \
    CACHE_URL=redis://build.invalid:6379/0 \
    NOTIFY_REQUEST_URL="https://build.invalid/requests/{id}/" \
    python manage.py collectstatic --noinput -v 0
USER accessportal:accessportal
EXPOSE 8000
ENTRYPOINT ["/app/deploy/container/entrypoint.sh"]
CMD ["web"]
