"""Fixtures over the real PostgreSQL (leader + three shards) and the real Redis."""

# Fixtures name the fixtures they depend on as arguments, used or not.
# pylint: disable=unused-argument

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.db import connection

from ml_models.models import ModelVersion
from predictions.models import Task
from sql_shards.selectors import partition_remainder_for_task
from sql_shards.sql import quote_literal, shard_from_settings
from tests.factories import ModelVersionFactory, TaskFactory


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give every database test all aliases: the leader's test database is created after
    (and from) the shards', so the shards must always be set up too."""
    for item in items:
        marker = item.get_closest_marker("django_db")
        if marker is not None and "databases" not in marker.kwargs:
            item.add_marker(
                pytest.mark.django_db(*marker.args, databases="__all__", **marker.kwargs),
                append=False,
            )


class RedisServer:
    """The tests' own Redis server on the port of ``REDIS_URL``, which tests may stop."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.port = parts.port or 6379
        self.process: subprocess.Popen[bytes] | None = None

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> None:
        self.process = subprocess.Popen(  # pylint: disable=consider-using-with
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not self.answers():
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is None:
            raise RuntimeError(
                f"Redis on port {self.port} was not started by the tests; run them with "
                "`make test`, which gives them their own server."
            )
        self.process.terminate()
        self.process.wait(timeout=10)
        self.process = None


@pytest.fixture(scope="session", autouse=True)
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer(settings.CELERY_BROKER_URL)
    if not server.answers():
        server.start()
    yield server
    if server.process is not None:
        server.stop()


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
