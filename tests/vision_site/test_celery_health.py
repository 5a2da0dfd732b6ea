"""The health task round-trips through a real worker process and the real Redis."""

from __future__ import annotations

import uuid

from tests.conftest import WorkerProcess
from vision_site.tasks import health_check


def test_health_task_round_trips_through_a_real_worker(celery_worker: WorkerProcess) -> None:
    token = uuid.uuid4().hex

    result = health_check.delay(token).get(timeout=30)

    assert result["token"] == token
    assert celery_worker.process is not None
    assert result["pid"] == celery_worker.process.pid
