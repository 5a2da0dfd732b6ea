"""Tasks that belong to the site itself rather than to one app."""

from __future__ import annotations

import os
import socket

from vision_site.celery import app


@app.task(name="vision_site.health_check")
def health_check(token: str) -> dict[str, str | int]:
    """Echo ``token`` back with the worker's identity: proves broker, worker and backend."""
    return {"token": token, "hostname": socket.gethostname(), "pid": os.getpid()}
