"""Reads about where rows live.

The layout is PostgreSQL's catalog: the partitions attached to the leader's parent, each
with its hash bound (``modulus``, ``remainder``) and, for a foreign partition, the
postgres_fdw server it lives on. Moduli may differ between partitions (each dividing the
next larger one), so a task's partition is found by asking PostgreSQL's own hash
function against every bound, never by ``task_id % n``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection

from sql_shards.sql import PARENT_TABLE, SERVER_PREFIX

LEADER = "leader"


@dataclass(frozen=True)
class Partition:
    """One partition of the leader's ``predictions`` parent, as the catalog describes it."""

    table: str
    modulus: int
    remainder: int
    # The postgres_fdw server (``vision_shard_1``) and the table there; None when local.
    server: str | None = None
    remote_table: str | None = None

    @property
    def location(self) -> str:
        """``"leader"``, or the server's short name (``"shard_1"``)."""
        if self.server is None:
            return LEADER
        return self.server.removeprefix(SERVER_PREFIX)

    @property
    def bound(self) -> str:
        return f"{self.remainder} of {self.modulus}"


# The parent's partitions with their bounds and foreign servers, in one catalog query.
_LAYOUT_SQL = f"""
SELECT child.relname,
       (regexp_match(pg_get_expr(child.relpartbound, child.oid),
                     'modulus (\\d+), remainder (\\d+)'))::int[],
       server.srvname,
       (SELECT split_part(option, '=', 2) FROM unnest(foreign_table.ftoptions) AS option
        WHERE option LIKE 'table_name=%%')
FROM pg_inherits
JOIN pg_class child ON child.oid = pg_inherits.inhrelid
LEFT JOIN pg_foreign_table foreign_table ON foreign_table.ftrelid = child.oid
LEFT JOIN pg_foreign_server server ON server.oid = foreign_table.ftserver
WHERE pg_inherits.inhparent = '{PARENT_TABLE}'::regclass
"""  # noqa: S608 - constant names


def prediction_partitions() -> list[Partition]:
    """Every partition of the parent, smallest modulus first, then by remainder."""
    with connection.cursor() as cursor:
        cursor.execute(_LAYOUT_SQL)
        rows = cursor.fetchall()
    partitions = [
        Partition(
            table=str(table),
            modulus=int(bound[0]),
            remainder=int(bound[1]),
            server=None if server is None else str(server),
            remote_table=None if remote_table is None else str(remote_table),
        )
        for table, bound, server, remote_table in rows
    ]
    return sorted(partitions, key=lambda partition: (partition.modulus, partition.remainder))


def partitions_for_tasks(*, task_ids: Sequence[int]) -> dict[int, Partition]:
    """The partition that holds (or would hold) each task's predictions, in one query.

    Computed by PostgreSQL's own hash-partition function on the leader, so it always
    agrees with where the parent routes a row, whatever mix of moduli the layout has.
    """
    if not task_ids:
        return {}
    by_bound = {
        (partition.modulus, partition.remainder): partition for partition in prediction_partitions()
    }
    moduli = [modulus for modulus, _ in by_bound]
    remainders = [remainder for _, remainder in by_bound]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT task_id, bound.modulus, bound.remainder "
            "FROM unnest(%s::bigint[]) AS task_id, "
            "unnest(%s::int[], %s::int[]) AS bound(modulus, remainder) "
            "WHERE satisfies_hash_partition(%s::regclass, bound.modulus, bound.remainder, task_id)",
            [list(task_ids), moduli, remainders, PARENT_TABLE],
        )
        return {
            int(task_id): by_bound[(int(modulus), int(remainder))]
            for task_id, modulus, remainder in cursor.fetchall()
        }


def partition_for_task(*, task_id: int) -> Partition:
    found = partitions_for_tasks(task_ids=[task_id]).get(task_id)
    if found is None:
        raise LookupError(f"No partition holds task {task_id}: the layout has a gap.")
    return found


def partition_remainder_for_task(*, task_id: int) -> int:
    """The remainder (of its partition's modulus) of the partition holding ``task_id``."""
    return partition_for_task(task_id=task_id).remainder


def shard_for_task(*, task_id: int) -> str:
    """``"leader"`` for a local partition, else the shard's name (``"shard_2"``)."""
    return partition_for_task(task_id=task_id).location


def shards_for_tasks(*, task_ids: Sequence[int]) -> dict[int, str]:
    """Each task's location (``"leader"`` or the shard's name), in one query."""
    return {
        task_id: partition.location
        for task_id, partition in partitions_for_tasks(task_ids=task_ids).items()
    }
