"""Shard operations: health of each partition and verification of row placement."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import psycopg
from django.conf import settings
from django.db import DatabaseError, connection, connections, transaction
from psycopg import sql as pgsql

from sql_shards.sql import PARENT_TABLE, Shard, all_shards

VERIFY_CHUNK = 10_000


@dataclass(frozen=True)
class PartitionStatus:
    """What ``shards status`` prints for one partition."""

    remainder: int
    table: str
    server: str
    answers: bool
    rows: int | None
    round_trip_ms: float | None
    error: str = ""


@dataclass
class ShardCheck:
    """What ``shards verify`` found on one partition."""

    remainder: int
    server: str
    rows_checked: int = 0
    misplaced_tasks: list[int] = field(default_factory=list)
    guard_ok: bool = True
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and self.guard_ok and not self.misplaced_tasks


def _describe(shard: Shard) -> str:
    return f"{shard.server_name} ({shard.host}:{shard.port}/{shard.dbname})"


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else repr(error)


def _probe_partition(*, remainder: int, table: str, server: str) -> PartitionStatus:
    """Time one round trip through the leader to the partition, then count its rows."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            started = time.perf_counter()
            cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {table})")  # noqa: S608 - fixed names
            cursor.fetchone()
            round_trip_ms = (time.perf_counter() - started) * 1000
            cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - fixed names
            count_row = cursor.fetchone()
    except DatabaseError as error:
        return PartitionStatus(remainder, table, server, False, None, None, _first_line(error))
    rows = int(count_row[0]) if count_row else 0
    return PartitionStatus(remainder, table, server, True, rows, round_trip_ms)


def shards_status() -> list[PartitionStatus]:
    """Per partition: its server, whether it answers, its rows and a round-trip time."""
    leader = connection.settings_dict
    statuses = [
        _probe_partition(
            remainder=0,
            table=f"{PARENT_TABLE}_p0",
            server=f"leader ({leader['HOST']}:{leader['PORT']}/{leader['NAME']})",
        )
    ]
    for shard in all_shards():
        statuses.append(
            _probe_partition(
                remainder=shard.remainder, table=shard.partition_table, server=_describe(shard)
            )
        )
    return statuses


def _misplaced(task_ids: list[int], *, remainder: int) -> list[int]:
    """The task ids among ``task_ids`` whose hash does not name ``remainder``."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT task_id FROM unnest(%s::bigint[]) AS task_id "
            "WHERE NOT satisfies_hash_partition(%s::regclass, %s, %s, task_id)",
            [task_ids, PARENT_TABLE, settings.PREDICTION_PARTITIONS, remainder],
        )
        return [int(row[0]) for row in cursor.fetchall()]


def _task_ids_in(alias: str, table: str) -> list[int]:
    with connections[alias].cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT task_id FROM {table} ORDER BY task_id")  # noqa: S608
        return [int(row[0]) for row in cursor.fetchall()]


def _row_count(alias: str, table: str) -> int:
    with connections[alias].cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - fixed names
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def _guard_ok(shard: Shard) -> bool:
    """The shard's own table accepts only its remainder: one partition, the right bound."""
    with connections[shard.alias].cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_expr(child.relpartbound, child.oid) "
            "FROM pg_inherits JOIN pg_class child ON child.oid = pg_inherits.inhrelid "
            "WHERE pg_inherits.inhparent = %s::regclass",
            [PARENT_TABLE],
        )
        bounds = [str(row[0]) for row in cursor.fetchall()]
    expected = (
        f"FOR VALUES WITH (modulus {settings.PREDICTION_PARTITIONS}, remainder {shard.remainder})"
    )
    return bounds == [expected]


def _check(check: ShardCheck, alias: str, table: str) -> ShardCheck:
    task_ids = _task_ids_in(alias, table)
    for start in range(0, len(task_ids), VERIFY_CHUNK):
        check.misplaced_tasks += _misplaced(
            task_ids[start : start + VERIFY_CHUNK], remainder=check.remainder
        )
    check.rows_checked = _row_count(alias, table)
    return check


def shards_verify() -> list[ShardCheck]:
    """Check that every row sits on the partition its ``task_id`` hash names.

    Each shard is read directly (not through the leader), so rows that reached a
    shard by any path are seen; the hash is computed by the leader's PostgreSQL.
    """
    checks = [_check(ShardCheck(0, "leader"), "default", f"{PARENT_TABLE}_p0")]
    for shard in all_shards():
        check = ShardCheck(shard.remainder, _describe(shard))
        try:
            _check(check, shard.alias, PARENT_TABLE)
            check.guard_ok = _guard_ok(shard)
        except DatabaseError as error:
            check.error = _first_line(error)
        checks.append(check)
    return checks


def databases_create() -> list[tuple[str, str, bool]]:
    """Create the leader and shard databases that do not exist yet.

    Returns ``(alias, database name, created)`` for each alias. Connects to each
    server's ``postgres`` maintenance database with the alias's own credentials.
    """
    results = []
    for alias in ["default", *settings.SHARD_ALIASES]:
        database = settings.DATABASES[alias]
        with psycopg.connect(
            host=database["HOST"],
            port=database["PORT"],
            user=database["USER"],
            password=database["PASSWORD"] or None,
            dbname="postgres",
            autocommit=True,
            connect_timeout=settings.SHARD_CONNECT_TIMEOUT,
        ) as maintenance:
            exists = maintenance.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [database["NAME"]]
            ).fetchone()
            if not exists:
                maintenance.execute(
                    pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(database["NAME"]))
                )
        results.append((alias, str(database["NAME"]), not exists))
    return results
