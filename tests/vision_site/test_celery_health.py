"""The health task round-trips through a real worker process and the real Redis."""

from __future__ import annotations

import subprocess
import uuid

from vision_site.tasks import health_check


def test_health_task_round_trips_through_a_real_worker(
    celery_worker_process: subprocess.Popen[bytes],
) -> None:
    token = uuid.uuid4().hex

    result = health_check.delay(token).get(timeout=30)

    assert result["token"] == token
    assert result["pid"] == celery_worker_process.pid
