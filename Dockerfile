# inoplan service image: `inoplan serve` behind a TLS-terminating reverse proxy, PostgreSQL beside
# it (compose.yaml). Everything is configured with INOPLAN_* variables (docs/deployment.md).
# The entry point is exactly the command the tests start (tests/deploy/test_container.py).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 inoplan \
 && useradd --system --uid 10001 --gid inoplan --home-dir /srv/inoplan --create-home inoplan

WORKDIR /srv/inoplan
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install ".[postgres]" && rm -rf /srv/inoplan/src

USER inoplan:inoplan
ENV INOPLAN_ENVIRONMENT=production \
    INOPLAN_HOST=0.0.0.0 \
    INOPLAN_PORT=8000 \
    INOPLAN_INSTANCE_PATH=/srv/inoplan/instance
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4).status != 200)"]
ENTRYPOINT ["inoplan", "serve"]
