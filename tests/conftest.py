"""Fixtures over the real PostgreSQL (leader + three shards) and the real Redis."""

# Fixtures name the fixtures they depend on as arguments, used or not.
# pylint: disable=unused-argument

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from ml_models.models import ModelVersion
from predictions.models import Task
from sql_shards.selectors import partition_remainder_for_task
from sql_shards.sql import quote_literal, shard_from_settings
from tests.factories import ModelVersionFactory, TaskFactory


@pytest.fixture
def detector_version(db: None) -> ModelVersion:
    return ModelVersionFactory.create(kind=ModelVersion.Kind.DETECTOR)


def tasks_on_each_partition() -> dict[int, Task]:
    """Create tasks until every partition (0-3) holds at least one; one per remainder."""
    found: dict[int, Task] = {}
    while len(found) < 4:
        task = TaskFactory.create()
        found.setdefault(partition_remainder_for_task(task_id=task.pk), task)
    return found


@contextmanager
def shard_unreachable(alias: str) -> Iterator[None]:
    """Point the leader's foreign server for ``alias`` at a closed port, then restore it."""
    shard = shard_from_settings(alias)
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER SERVER {shard.server_name} OPTIONS (SET port '1')")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                f"ALTER SERVER {shard.server_name} OPTIONS (SET port {quote_literal(shard.port)})"
            )


def _database_url(alias: str) -> str:
    database = settings.DATABASES[alias]
    credentials = database["USER"] + (f":{database['PASSWORD']}" if database["PASSWORD"] else "")
    return f"postgres://{credentials}@{database['HOST']}:{database['PORT']}/{database['NAME']}"


@pytest.fixture(scope="session")
def celery_worker_process(
    django_db_setup: None, django_db_blocker: Any
) -> Iterator[subprocess.Popen[bytes]]:
    """A real Celery worker process on the real Redis, using the test databases."""
    from vision_site.celery import app

    app.control.purge()
    environment = dict(os.environ)
    environment["DATABASE_URL"] = _database_url("default")
    for index, alias in enumerate(settings.SHARD_ALIASES, start=1):
        environment[f"SHARD_{index}_URL"] = _database_url(alias)
    log = Path(tempfile.gettempdir()) / f"vision-test-worker-{os.getpid()}.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(  # pylint: disable=consider-using-with
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "vision_site",
                "worker",
                "-Q",
                f"default,{settings.CELERY_INFERENCE_QUEUE}",
                "--pool",
                "solo",
                "--concurrency",
                "1",
                "--hostname",
                f"test-{os.getpid()}@%h",
                "--without-mingle",
                "--without-gossip",
                "--loglevel",
                "INFO",
            ],
            env=environment,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 90
        while not app.control.ping(timeout=1.0):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Celery worker did not start:\n{log.read_text()}")
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
