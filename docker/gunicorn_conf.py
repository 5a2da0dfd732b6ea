"""gunicorn settings of the web container, read from GUNICORN_* environment variables.

Loaded with ``gunicorn --config /app/docker/gunicorn_conf.py``; see docker/.env.example.
"""

from __future__ import annotations

import os


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as error:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from error


bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")  # all interfaces of the container
workers = _int("GUNICORN_WORKERS", 3)
threads = _int("GUNICORN_THREADS", 4)
# Uploads of many images can take a while; the heavy work runs on the worker.
timeout = _int("GUNICORN_TIMEOUT", 60)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _int("GUNICORN_KEEPALIVE", 5)
# Recycle workers now and then so that a slow leak cannot grow without bound.
max_requests = _int("GUNICORN_MAX_REQUESTS", 1000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 100)
# Heartbeat files in memory: a container's overlay /tmp can stall the workers.
worker_tmp_dir = "/dev/shm"  # noqa: S108
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# Trust X-Forwarded-* only from the addresses listed (the reverse proxy in front).
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
