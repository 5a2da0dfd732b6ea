"""The worker's start-up: its processes share the host's cores."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest
from celery.signals import worker_init

from ml_models.inference.host import WORKER_PROCESSES_ENV


@dataclass(frozen=True)
class _Worker:
    """What the signal's receiver reads of celery's WorkController."""

    pool_cls: str
    concurrency: int


@pytest.mark.parametrize(
    ("pool", "concurrency", "processes"),
    [
        ("prefork", 3, "3"),
        ("threads", 4, "4"),
        ("<class 'celery.concurrency.prefork.TaskPool'>", 2, "2"),
        ("solo", 1, "1"),
        ("solo", 4, "1"),
        ("gevent", 100, "1"),
    ],
)
def test_worker_start_records_how_many_processes_share_the_cores(
    monkeypatch: pytest.MonkeyPatch, pool: str, concurrency: int, processes: str
) -> None:
    import predictions.tasks  # noqa: F401  # pylint: disable=import-outside-toplevel,unused-import

    monkeypatch.setenv(WORKER_PROCESSES_ENV, "0")  # restored after the test
    # what celery sends once the worker knows its pool and concurrency, before it forks
    worker_init.send(sender=_Worker(pool_cls=pool, concurrency=concurrency))
    assert os.environ[WORKER_PROCESSES_ENV] == processes
