"""Fixtures over the real PostgreSQL (leader + three shards) and the real Redis."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import connection

from ml_models.models import ModelVersion
from sql_shards.selectors import partition_remainder_for_task
from sql_shards.sql import quote_literal, shard_from_settings
from tests.factories import ModelVersionFactory, TaskFactory

from predictions.models import Task


@pytest.fixture
def detector_version(db: None) -> ModelVersion:
    return ModelVersionFactory(kind=ModelVersion.Kind.DETECTOR)


def tasks_on_each_partition() -> dict[int, Task]:
    """Create tasks until every partition (0-3) holds at least one; one per remainder."""
    found: dict[int, Task] = {}
    while len(found) < 4:
        task = TaskFactory()
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
