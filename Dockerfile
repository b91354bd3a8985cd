# broadcast-scheduler: the same install as the README, on a slim Python base.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    SCHEDULER_HOST=0.0.0.0 \
    SCHEDULER_PORT=8080 \
    SCHEDULER_DATA_DIR=/app/data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY config ./config
COPY scheduler ./scheduler
RUN pip install . \
 && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin scheduler \
 && mkdir -p /app/data \
 && chown scheduler /app/data

USER scheduler
VOLUME ["/app/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('SCHEDULER_PORT', '8080'), timeout=4)"]

# serve handles SIGTERM (docker stop) with a clean shutdown
CMD ["broadcast-scheduler", "serve"]
