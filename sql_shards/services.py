"""Shard operations: health of each partition, verification of row placement, and the
foreign servers a partition can be moved to.

The partitions are read from the catalog (:func:`sql_shards.selectors.prediction_partitions`),
so these work for any layout a split or move leaves, mixed moduli included.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from psycopg import sql as pgsql

from sql_shards.errors import ShardUnavailableError, first_line
from sql_shards.models import Reshard
from sql_shards.selectors import LEADER, Partition, prediction_partitions
from sql_shards.sql import (
    PARENT_TABLE,
    SERVER_PREFIX,
    connection_options,
    render_options,
)

VERIFY_CHUNK = 10_000
_SERVER_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


class ServerError(Exception):
    """A misuse of ``shards add-server`` or ``remove-server``; the message says why."""


@dataclass(frozen=True)
class PartitionStatus:
    """What ``shards status`` prints for one partition."""

    partition: Partition
    server: str
    answers: bool
    rows: int | None
    round_trip_ms: float | None
    error: str = ""


@dataclass
class ShardCheck:
    """What ``shards verify`` found on one partition."""

    remainder: int
    modulus: int
    server: str
    rows_checked: int = 0
    misplaced_tasks: list[int] = field(default_factory=list)
    guard_ok: bool = True
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and self.guard_ok and not self.misplaced_tasks


def _server_descriptions() -> dict[str, str]:
    """``vision_shard_1 (host:port/dbname)`` for each foreign server, by name."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT srvname, coalesce(srvoptions, '{}') FROM pg_foreign_server "
            "WHERE srvname LIKE %s",
            [f"{SERVER_PREFIX}%"],
        )
        rows = cursor.fetchall()
    descriptions = {}
    for name, options in rows:
        values = dict(str(option).split("=", 1) for option in options)
        descriptions[str(name)] = (
            f"{name} ({values.get('host', '?')}:{values.get('port', '?')}/"
            f"{values.get('dbname', '?')})"
        )
    return descriptions


def _describe(partition: Partition, descriptions: dict[str, str]) -> str:
    if partition.server is None:
        leader = connection.settings_dict
        return f"leader ({leader['HOST']}:{leader['PORT']}/{leader['NAME']})"
    return descriptions.get(partition.server, partition.server)


def _probe_partition(partition: Partition, server: str) -> PartitionStatus:
    """Time one round trip through the leader to the partition, then count its rows."""
    table = partition.table
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            started = time.perf_counter()
            cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {table})")  # noqa: S608 - catalog names
            cursor.fetchone()
            round_trip_ms = (time.perf_counter() - started) * 1000
            cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - catalog names
            count_row = cursor.fetchone()
    except DatabaseError as error:
        return PartitionStatus(partition, server, False, None, None, first_line(error))
    rows = int(count_row[0]) if count_row else 0
    return PartitionStatus(partition, server, True, rows, round_trip_ms)


def shards_status() -> list[PartitionStatus]:
    """Per partition: its bound, server, whether it answers, its rows and a round trip."""
    descriptions = _server_descriptions()
    return [
        _probe_partition(partition, _describe(partition, descriptions))
        for partition in prediction_partitions()
    ]


def reshards_unfinished() -> list[Reshard]:
    """Splits and moves begun and not yet switched over and verified."""
    return list(Reshard.objects.filter(state__in=Reshard.UNFINISHED).order_by("id"))


def reshards_keeping_source() -> list[Reshard]:
    """Finished splits and moves whose detached source has not been dropped yet."""
    return list(Reshard.objects.filter(state=Reshard.State.VERIFIED).order_by("id"))


def layout_coverage(partitions: list[Partition]) -> Fraction:
    """The share of the hash space the partitions cover: 1 when no task id lacks one.

    PostgreSQL refuses overlapping bounds; a gap (a partition dropped by hand) would
    make every insert of its tasks fail.
    """
    return sum((Fraction(1, partition.modulus) for partition in partitions), Fraction(0))


def _misplaced(task_ids: list[int], *, partition: Partition) -> list[int]:
    """The task ids among ``task_ids`` whose hash does not name ``partition``."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT task_id FROM unnest(%s::bigint[]) AS task_id "
            "WHERE NOT satisfies_hash_partition(%s::regclass, %s, %s, task_id)",
            [task_ids, PARENT_TABLE, partition.modulus, partition.remainder],
        )
        return [int(row[0]) for row in cursor.fetchall()]


def _task_ids_in(table: str) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT task_id FROM {table} ORDER BY task_id")  # noqa: S608
        return [int(row[0]) for row in cursor.fetchall()]


def _row_count(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - catalog names
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def _guard_ok(partition: Partition) -> bool:
    """Writing a row of another bound straight into the partition's table fails.

    A probe, rolled back whatever happens: the server holding the rows must itself
    reject the row (a shard's guard), not merely the leader's routing.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT candidate FROM generate_series(1, 1000) AS candidate "
            "WHERE NOT satisfies_hash_partition(%s::regclass, %s, %s, candidate::bigint) "
            "LIMIT 1",
            [PARENT_TABLE, partition.modulus, partition.remainder],
        )
        row = cursor.fetchone()
    if row is None:  # the partition covers the whole hash space: nothing to reject
        return True
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {partition.table} "  # noqa: S608 - catalog names
                "(task_id, id, kind, score, model_version_id) VALUES (%s, -1, 'object', 0, 0)",
                [int(row[0])],
            )
            # Accepted: the guard is missing. Undo the probe row.
            transaction.set_rollback(True)
    except DatabaseError as error:
        if getattr(error.__cause__, "sqlstate", "").startswith("08"):
            raise
        return True
    return False


def _check(check: ShardCheck, partition: Partition) -> ShardCheck:
    task_ids = _task_ids_in(partition.table)
    for start in range(0, len(task_ids), VERIFY_CHUNK):
        check.misplaced_tasks += _misplaced(
            task_ids[start : start + VERIFY_CHUNK], partition=partition
        )
    check.rows_checked = _row_count(partition.table)
    check.guard_ok = _guard_ok(partition)
    return check


def shards_verify() -> list[ShardCheck]:
    """Check that every row sits on the partition its ``task_id`` hash names.

    Each partition is read whole through its leader table (for a foreign partition,
    every row of the shard's table, however it got there); the hash is computed by the
    leader's PostgreSQL against the partition's own bound, so mixed moduli are checked
    as they are. Each partition's guard is probed too.
    """
    descriptions = _server_descriptions()
    checks = []
    for partition in prediction_partitions():
        check = ShardCheck(
            partition.remainder, partition.modulus, _describe(partition, descriptions)
        )
        try:
            _check(check, partition)
        except DatabaseError as error:
            check.error = first_line(error)
        checks.append(check)
    return checks


@dataclass(frozen=True)
class ServerUrl:
    host: str
    port: str
    dbname: str
    user: str
    password: str


def _parse_server_url(url: str) -> ServerUrl:
    parts = urlsplit(url)
    dbname = unquote(parts.path.lstrip("/"))
    if parts.scheme not in {"postgres", "postgresql"} or not parts.hostname or not dbname:
        raise ServerError(
            f"{url!r} is not a PostgreSQL URL: expected postgres://USER[:PASSWORD]@HOST[:PORT]/DBNAME"
        )
    return ServerUrl(
        host=parts.hostname,
        port=str(parts.port or 5432),
        dbname=dbname,
        user=unquote(parts.username or "postgres"),
        password=unquote(parts.password or ""),
    )


def server_add(*, name: str, url: str) -> str:
    """Create the foreign server ``vision_<name>`` and its user mapping, once reachable.

    ``url`` is how the *leader's PostgreSQL* reaches the server. The server is checked
    with a query through the new mapping before anything is committed.
    """
    if not _SERVER_NAME.fullmatch(name) or name == LEADER:
        raise ServerError(
            f"{name!r} cannot name a server: use lower-case letters, digits and _, "
            "starting with a letter (and not 'leader')."
        )
    target = _parse_server_url(url)
    server = f"{SERVER_PREFIX}{name}"
    options = connection_options(host=target.host, port=target.port, dbname=target.dbname)
    mapping = {"user": target.user} | ({"password": target.password} if target.password else {})
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_foreign_server WHERE srvname = %s", [server])
        if cursor.fetchone():
            raise ServerError(f"A server named {name} exists already.")
        cursor.execute(
            f"CREATE SERVER {server} FOREIGN DATA WRAPPER postgres_fdw "
            f"OPTIONS ({render_options(options)})"
        )
        cursor.execute(
            f"CREATE USER MAPPING FOR PUBLIC SERVER {server} OPTIONS ({render_options(mapping)})"
        )
        try:
            with transaction.atomic():
                cursor.execute(
                    "SELECT value FROM dblink(%s, 'SELECT 1') AS result(value int)", [server]
                )
        except DatabaseError as error:
            raise ShardUnavailableError(name, first_line(error)) from error
    return server


def server_remove(*, name: str) -> None:
    """Drop ``vision_<name>`` and its user mapping; refused while any table uses it."""
    server = f"{SERVER_PREFIX}{name}"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT foreign_table.ftrelid::regclass::text FROM pg_foreign_table foreign_table "
            "JOIN pg_foreign_server server ON server.oid = foreign_table.ftserver "
            "WHERE server.srvname = %s ORDER BY 1",
            [server],
        )
        tables = [str(row[0]) for row in cursor.fetchall()]
        cursor.execute("SELECT 1 FROM pg_foreign_server WHERE srvname = %s", [server])
        if not cursor.fetchone():
            raise ServerError(f"No server named {name}.")
        if tables:
            raise ServerError(
                f"{name} still holds {', '.join(tables)}: move its partitions elsewhere "
                "(`shards move`) and drop the sources (--drop-source) first."
            )
        busy = Reshard.objects.filter(state__in=Reshard.UNFINISHED, destination=name).first()
        if busy is not None:
            raise ServerError(f"{busy} is unfinished and uses {name}.")
        cursor.execute(f"DROP USER MAPPING FOR PUBLIC SERVER {server}")
        cursor.execute(f"DROP SERVER {server}")


def maintenance_connection(alias: str = "default") -> psycopg.Connection[Any]:
    """An autocommit connection to the ``postgres`` maintenance database of ``alias``'s
    server, with the alias's own credentials (to create or drop databases)."""
    database = settings.DATABASES[alias]
    return psycopg.connect(
        host=database["HOST"],
        port=database["PORT"],
        user=database["USER"],
        password=database["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
        connect_timeout=settings.SHARD_CONNECT_TIMEOUT,
    )


def databases_create() -> list[tuple[str, str, bool]]:
    """Create the leader and shard databases that do not exist yet.

    Returns ``(alias, database name, created)`` for each alias. Connects to each
    server's ``postgres`` maintenance database with the alias's own credentials.
    """
    results = []
    for alias in ["default", *settings.SHARD_ALIASES]:
        database = settings.DATABASES[alias]
        with maintenance_connection(alias) as maintenance:
            exists = maintenance.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [database["NAME"]]
            ).fetchone()
            if not exists:
                maintenance.execute(
                    pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(database["NAME"]))
                )
        results.append((alias, str(database["NAME"]), not exists))
    return results
