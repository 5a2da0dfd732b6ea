"""Fixtures over the real PostgreSQL (leader + three shards) and the real Redis."""

# Fixtures name the fixtures they depend on as arguments, used or not.
# pylint: disable=unused-argument

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings

from ml_models.models import ModelVersion
from predictions.models import Task
from sql_shards.selectors import partition_remainder_for_task
from sql_shards.sql import quote_literal, shard_from_settings
from tests.factories import ModelVersionFactory, TaskFactory


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give every database test all aliases: the leader's test database is created after
    (and from) the shards', so the shards must always be set up too. Transactional
    tests also get the migrations' seeded rows back after their flush."""
    for item in items:
        marker = item.get_closest_marker("django_db")
        if marker is None:
            continue
        kwargs = {"databases": "__all__", **marker.kwargs}
        if kwargs.get("transaction"):
            # A transactional test ends with a flush; restore what migrations seeded
            # (class dictionaries, the shipped model versions) for the next test.
            kwargs.setdefault("serialized_rollback", True)
        item.add_marker(pytest.mark.django_db(*marker.args, **kwargs), append=False)


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
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
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


def _pinged(app: Any) -> bool:
    """Some worker answered a ping. Each try opens its own broker connection: earlier tests
    stop and restart Redis, and a pooled connection from before may no longer hear replies."""
    with app.connection_for_write() as broker:
        return bool(app.control.ping(timeout=1.0, connection=broker))


class WorkerProcess:
    """A real Celery worker process (with its beat for the sweep) on the test databases."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def environment(self) -> dict[str, str]:
        environment = dict(os.environ)
        environment["DATABASE_URL"] = _database_url("default")
        for index, alias in enumerate(settings.SHARD_ALIASES, start=1):
            environment[f"SHARD_{index}_URL"] = _database_url(alias)
        environment["MEDIA_ROOT"] = str(settings.MEDIA_ROOT)
        environment["TORCH_THREADS"] = "2"
        # decode each batch on two threads, as a GPU worker would on all its cores, so
        # that the end-to-end tests (unreadable images included) run that path
        environment["INFERENCE_DECODE_THREADS"] = "2"
        return environment

    def start(self) -> subprocess.Popen[bytes]:
        from vision_site.celery import app

        with self.log.open("ab") as log_file:
            self.process = subprocess.Popen(  # pylint: disable=consider-using-with
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "vision_site",
                    "worker",
                    "--beat",
                    "--schedule",
                    str(self.log.with_suffix(".schedule")),
                    "-Q",
                    f"default,{settings.CELERY_INFERENCE_QUEUE}",
                    "--pool",
                    "solo",
                    "--concurrency",
                    "1",
                    "--hostname",
                    f"test-{os.getpid()}-{time.monotonic_ns()}@%h",
                    "--without-mingle",
                    "--without-gossip",
                    "--loglevel",
                    "INFO",
                ],
                env=self.environment(),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                # Its own process group: the embedded beat is a child process, and a
                # kill must take the whole worker down, as a dead machine would.
                start_new_session=True,
            )
        deadline = time.monotonic() + 90
        while not _pinged(app):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()  # a worker left running would take later tests' tasks
                raise RuntimeError(f"Celery worker did not start:\n{self.log.read_text()}")
        return self.process

    def kill(self) -> None:
        """SIGKILL: the worker gets no chance to clean up or acknowledge anything."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):  # the group may be gone already
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        finally:
            # Whatever is left of the group (the embedded beat) goes too.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture(scope="module")
def celery_worker(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    """A worker for one test module; purges the queues first."""
    from vision_site.celery import app

    app.control.purge()
    worker = WorkerProcess(tmp_path_factory.mktemp("worker") / "worker.log")
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


@pytest.fixture(scope="session", autouse=True)
def media_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One media folder for the whole run, shared with the worker processes."""
    root = tmp_path_factory.mktemp("media")
    override = override_settings(MEDIA_ROOT=str(root))
    override.enable()
    yield root
    override.disable()


@pytest.fixture(scope="session", autouse=True)
def fdw_disconnect_at_end(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """Close the leader's postgres_fdw connections before the shard test databases are
    dropped; otherwise PostgreSQL refuses to drop a database that is still in use."""
    yield
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute("SELECT postgres_fdw_disconnect_all()")
