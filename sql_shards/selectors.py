"""Reads about where rows live."""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings
from django.db import connection

from sql_shards.sql import PARENT_TABLE

LEADER = "leader"


def partition_remainder_for_task(*, task_id: int) -> int:
    """The hash partition (0-3) that holds the predictions of ``task_id``.

    Computed by PostgreSQL's own hash-partition function on the leader, so it always
    agrees with where the parent routes a row.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT remainder FROM generate_series(0, %s - 1) AS remainder "
            "WHERE satisfies_hash_partition(%s::regclass, %s, remainder, %s::bigint)",
            [settings.PREDICTION_PARTITIONS, PARENT_TABLE, settings.PREDICTION_PARTITIONS, task_id],
        )
        row = cursor.fetchone()
    if row is None:  # pragma: no cover - the hash always names one remainder
        raise LookupError(f"No partition for task {task_id}.")
    return int(row[0])


def shard_for_task(*, task_id: int) -> str:
    """``"leader"`` for the local partition, else the shard alias (``"shard_2"``)."""
    remainder = partition_remainder_for_task(task_id=task_id)
    if remainder == 0:
        return LEADER
    return settings.SHARD_ALIASES[remainder - 1]


def partitions_for_tasks(*, task_ids: Sequence[int]) -> dict[int, int]:
    """The hash partition (0-3) of each task id, in one query."""
    if not task_ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT task_id, remainder FROM unnest(%s::bigint[]) AS task_id, "
            "generate_series(0, %s - 1) AS remainder "
            "WHERE satisfies_hash_partition(%s::regclass, %s, remainder, task_id)",
            [
                list(task_ids),
                settings.PREDICTION_PARTITIONS,
                PARENT_TABLE,
                settings.PREDICTION_PARTITIONS,
            ],
        )
        return {int(task_id): int(remainder) for task_id, remainder in cursor.fetchall()}
