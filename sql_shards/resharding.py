"""Online splits and moves of ``predictions`` partitions (``manage.py shards split|move``).

An operation replaces one partition, ``(modulus m, remainder r)``, by new ones: a split
by ``(2m, r)`` where the source is and ``(2m, r + m)`` on the destination, a move by
``(m, r)`` on the destination. Each step can be killed and run again, from the
:class:`~sql_shards.models.Reshard` row and the catalog alone:

1. prepare: the new tables (on their servers, built through dblink with the leader's
   own foreign-server settings) hang as partitions from a staging parent on the leader,
   and a trigger on the source's real table logs the ``task_id`` of every row written
   from then on. Every statement is rerunnable.
2. copy: the source's rows in keyset batches, ``INSERT ... SELECT`` through the leader,
   the staging parent routing each row to its half; ``ON CONFLICT DO NOTHING`` makes a
   batch copied twice (killed before its progress was recorded) harmless.
3. catch up: each logged task is copied again whole (its rows deleted from the new
   partitions, then re-read from the source) until the log is nearly empty.
4. switch over: one leader transaction locks the parent, replays the last logged tasks,
   detaches the source and attaches the new partitions. Writes and reads wait for this
   transaction alone; until it commits the source serves everything.
5. verify, then (only with ``--drop-source``) drop the detached source.

Why a trigger-fed log and not logical replication: replication needs ``wal_level =
logical`` (a restart of every shard), a publication and subscription per half, and a
slot that a killed run leaves behind holding WAL; the trigger needs nothing the
install does not have, and the log is a table a rerun simply reads on from. Replaying
whole tasks rather than rows fits how predictions are written: a task's rows are
inserted together and replaced together.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, OperationalError, connection, transaction
from django.db.backends.utils import CursorWrapper
from django.db.models import F
from django.utils import timezone

from sql_shards.errors import shard_errors
from sql_shards.models import Reshard
from sql_shards.selectors import LEADER, Partition, prediction_partitions
from sql_shards.sql import (
    COLUMNS,
    PARENT_TABLE,
    SERVER_PREFIX,
    capture_drop_sql,
    capture_sql,
    foreign_log_sql,
    leader_partition_name,
    partition_name,
    quote_literal,
    remote_partition_sql,
    staging_partition_sql,
    staging_table_sql,
)

# Rows per copy batch: one leader transaction each.
BATCH_SIZE = 10_000
# Log entries replayed per catch-up round; the switch-over starts once a round finds
# fewer than this, so the replay under the lock stays small.
REPLAY_BATCH = 2_000
SWITCH_BACKLOG = 200
# The switch-over waits this long for the parent's lock, then lets the queue behind it
# through and tries again: a long wait would stall every query queued behind the lock.
LOCK_TIMEOUT_MS = 200
SWITCH_ATTEMPTS = 20
# A session-level advisory lock: one resharding command runs at a time.
_ADVISORY_KEY = "sql_shards.reshard"
_MIN_BIGINT = -(2**63)


class ReshardError(Exception):
    """A misuse, or a failure the operator must act on; the message says what to do."""


@dataclass(frozen=True)
class Target:
    """One partition an operation creates."""

    table: str
    modulus: int
    remainder: int
    location: str

    @property
    def server(self) -> str | None:
        return None if self.location == LEADER else f"{SERVER_PREFIX}{self.location}"

    @property
    def remote_table(self) -> str:
        return partition_name(modulus=self.modulus, remainder=self.remainder)

    def as_dict(self) -> dict[str, str | int]:
        return {
            "table": self.table,
            "modulus": self.modulus,
            "remainder": self.remainder,
            "location": self.location,
        }


@dataclass(frozen=True)
class ReshardPlan:
    """What a split or move will do, or what remains of one already under way."""

    kind: str
    source: Partition
    targets: list[Target]
    destination: str
    resume: Reshard | None = None
    source_rows: int | None = None

    def steps(self) -> list[str]:
        source = self.source
        where = f"{source.table} ({source.bound}, on {source.location})"
        if self.resume is not None and self.resume.state not in Reshard.UNFINISHED:
            return [f"{self.resume} is finished: its source {where} can be dropped."]
        lines = []
        if self.resume is not None:
            lines.append(f"resume {self.resume}, {self.resume.rows_copied} rows copied so far")
        lines += [
            f"{self.kind} {where}, {self.source_rows if self.source_rows is not None else '?'}"
            " rows:",
            *(
                f"  create {target.table} ({target.remainder} of {target.modulus}) on "
                f"{target.location}"
                for target in self.targets
            ),
            f"  log every task written to {source.table} from now on (a trigger on "
            f"{source.remote_table or source.table} on {source.location})",
            "  copy its rows in keyset batches, then replay the logged tasks",
            f"  switch over in one transaction on the leader: lock {PARENT_TABLE}, replay "
            f"the last logged tasks, detach {source.table}, attach "
            + ", ".join(target.table for target in self.targets),
            "  verify the new partitions against the detached source; drop it only with "
            "--drop-source",
        ]
        return lines


@dataclass
class Verification:
    """The new partitions against the frozen source, after a switch-over."""

    source_rows: int = 0
    target_rows: int = 0
    # Rows of the source missing from the new partitions, by task, where nothing
    # written after the switch-over explains it; rows there the source never had.
    missing: dict[int, int] = field(default_factory=dict)
    extra: int = 0

    @property
    def ok(self) -> bool:
        return not self.missing and not self.extra


Progress = Callable[[Reshard], None]


def _no_progress(reshard: Reshard) -> None:
    del reshard


# --- Planning -------------------------------------------------------------------------


def servers() -> list[str]:
    """The places a partition can live: the leader and every ``vision_*`` server."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT srvname FROM pg_foreign_server WHERE srvname LIKE %s ORDER BY srvname",
            [f"{SERVER_PREFIX}%"],
        )
        return [LEADER, *(str(row[0]).removeprefix(SERVER_PREFIX) for row in cursor.fetchall())]


def reshard_plan(
    *, kind: str, remainder: int, modulus: int | None = None, destination: str
) -> ReshardPlan:
    """Check a split or move and say what it will do; raises :class:`ReshardError`."""
    if destination not in servers():
        raise ReshardError(
            f"No server named {destination!r}: the servers are {', '.join(servers())}. "
            f"Add one with `manage.py shards add-server NAME URL`."
        )
    unfinished = Reshard.objects.filter(state__in=Reshard.UNFINISHED).first()
    if unfinished is not None:
        if _same_request(unfinished, kind, remainder, modulus, destination):
            return _plan_from(unfinished)
        raise ReshardError(
            f"{unfinished} is unfinished: run that command again to finish it, or "
            f"`manage.py shards abort {unfinished.pk}` before the switch-over."
        )
    layout = prediction_partitions()
    source = next((part for part in layout if part.remainder == remainder), None)
    if source is None or (modulus is not None and source.modulus != modulus):
        finished = (
            Reshard.objects.filter(state=Reshard.State.VERIFIED)
            .filter(kind=kind, source_remainder=remainder, destination=destination)
            .first()
        )
        if finished is not None and (modulus is None or finished.source_modulus == modulus):
            return _plan_from(finished)
        partitions = ", ".join(f"{part.bound} on {part.location}" for part in layout)
        raise ReshardError(
            f"No partition with remainder {remainder}"
            + (f" of {modulus}" if modulus is not None else "")
            + f". The partitions are: {partitions}."
        )
    targets = _targets(kind, source, destination)
    for location in {source.location, *(target.location for target in targets)}:
        _check_reachable(location)
    _check_names_free(targets)
    return ReshardPlan(
        kind=kind,
        source=source,
        targets=targets,
        destination=destination,
        source_rows=_count(source.table),
    )


def _same_request(
    reshard: Reshard, kind: str, remainder: int, modulus: int | None, destination: str
) -> bool:
    return (
        reshard.kind == kind
        and reshard.source_remainder == remainder
        and (modulus is None or reshard.source_modulus == modulus)
        and reshard.destination == destination
    )


def _plan_from(reshard: Reshard) -> ReshardPlan:
    source = Partition(
        table=reshard.source_table,
        modulus=reshard.source_modulus,
        remainder=reshard.source_remainder,
        server=None
        if reshard.source_location == LEADER
        else f"{SERVER_PREFIX}{reshard.source_location}",
        remote_table=reshard.source_remote_table or None,
    )
    targets = [
        Target(
            table=str(target["table"]),
            modulus=int(target["modulus"]),
            remainder=int(target["remainder"]),
            location=str(target["location"]),
        )
        for target in reshard.targets
    ]
    return ReshardPlan(
        kind=reshard.kind,
        source=source,
        targets=targets,
        destination=reshard.destination,
        resume=reshard,
    )


def _targets(kind: str, source: Partition, destination: str) -> list[Target]:
    def target(modulus: int, remainder: int, location: str) -> Target:
        table = leader_partition_name(modulus=modulus, remainder=remainder, location=location)
        return Target(table=table, modulus=modulus, remainder=remainder, location=location)

    if kind == Reshard.Kind.SPLIT:
        modulus = source.modulus * 2
        return [
            target(modulus, source.remainder, source.location),
            target(modulus, source.remainder + source.modulus, destination),
        ]
    if destination == source.location:
        raise ReshardError(f"Partition {source.bound} is already on {destination}.")
    return [target(source.modulus, source.remainder, destination)]


def _check_reachable(location: str) -> None:
    if location != LEADER:
        _remote_query(location, "SELECT 1")


def _check_names_free(targets: list[Target]) -> None:
    for target in targets:
        taken = []
        if _exists_on(LEADER, target.table):
            taken.append(f"{target.table} on the leader")
        if target.server is not None and _exists_on(target.location, target.remote_table):
            taken.append(f"{target.remote_table} on {target.location}")
        if taken:
            raise ReshardError(
                f"{' and '.join(taken)} already exist(s), left by an earlier operation "
                "whose source was not dropped: run that operation again with --drop-source "
                "first."
            )


def _exists_on(location: str, table: str) -> bool:
    if not table:
        return False
    query = f"SELECT to_regclass({quote_literal(table)}) IS NOT NULL"
    if location == LEADER:
        with connection.cursor() as cursor:
            cursor.execute(query)
            row = cursor.fetchone()
        return bool(row and row[0])
    return _remote_query(location, query) == "t"


def _count(table: str) -> int:
    with shard_errors(), connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - catalog names
        row = cursor.fetchone()
    return int(row[0]) if row else 0


# --- Remote statements through dblink -----------------------------------------------


def _remote_exec(location: str, sql: str) -> None:
    """Run ``sql`` (one or more statements, one transaction) on a shard server."""
    _on_remote(location, "SELECT dblink_exec(%s, %s)", [f"{SERVER_PREFIX}{location}", sql])


def _remote_query(location: str, sql: str) -> str:
    """The first column of the first row of ``sql`` on a shard server, as text."""
    row = _on_remote(
        location,
        "SELECT value FROM dblink(%s, %s) AS result(value text)",
        [f"{SERVER_PREFIX}{location}", sql],
    )
    return "" if row is None else str(row[0])


def _on_remote(location: str, query: str, params: list[str]) -> tuple[Any, ...] | None:
    # dblink's connection errors do not name the server: the caller's location does.
    with shard_errors(location), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(query, params)
        row: tuple[Any, ...] | None = cursor.fetchone()
        return row


def _run_on(location: str, sql: str) -> None:
    if location == LEADER:
        with connection.cursor() as cursor:
            cursor.execute(sql)
    else:
        _remote_exec(location, sql)


# --- Running ------------------------------------------------------------------------


@contextmanager
def _exclusive() -> Iterator[None]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [_ADVISORY_KEY])
        row = cursor.fetchone()
    if not (row and row[0]):
        raise ReshardError(
            "Another `shards split` or `shards move` is running now; wait for it to end "
            "(running it again after a crash resumes it)."
        )
    try:
        yield
    finally:
        # A session the leader lost (a restart) has released the lock with it.
        with contextlib.suppress(DatabaseError), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(hashtext(%s))", [_ADVISORY_KEY])


def reshard_run(
    *,
    plan: ReshardPlan,
    drop_source: bool = False,
    batch_size: int = BATCH_SIZE,
    progress: Progress = _no_progress,
) -> Reshard:
    """Carry out (or resume) ``plan``; returns its row, state ``verified`` or ``done``.

    Raises :class:`ReshardError` when verification fails, and
    :class:`~sql_shards.errors.ShardUnavailableError` when a server it needs is down:
    either way the row keeps its progress and running the same command resumes it.
    """
    with _exclusive():
        reshard = plan.resume
        if reshard is None:
            reshard = Reshard.objects.create(
                kind=plan.kind,
                source_table=plan.source.table,
                source_modulus=plan.source.modulus,
                source_remainder=plan.source.remainder,
                source_location=plan.source.location,
                source_remote_table=plan.source.remote_table or "",
                destination=plan.destination,
                targets=[target.as_dict() for target in plan.targets],
            )
        else:
            reshard.refresh_from_db()
        if reshard.state == Reshard.State.COPYING:
            _prepare(reshard, plan)
            _copy(reshard, plan, batch_size, progress)
        if reshard.state == Reshard.State.CATCHING_UP:
            _prepare(reshard, plan)
            _catch_up(reshard, plan, progress)
            _switch(reshard, plan, progress)
        if reshard.state == Reshard.State.SWITCHED:
            _drop_capture(reshard, plan)
            verification = reshard_verify(reshard=reshard)
            if not verification.ok:
                shown = ", ".join(str(task_id) for task_id in list(verification.missing)[:20])
                reshard.error = (
                    f"verification failed: {sum(verification.missing.values())} source rows "
                    f"missing (tasks {shown}), {verification.extra} rows the source lacks"
                )
                reshard.save(update_fields=["error", "updated_at"])
                raise ReshardError(f"{reshard}: {reshard.error}. The source is kept.")
            reshard.state = Reshard.State.VERIFIED
            reshard.source_rows = verification.source_rows
            reshard.error = ""
            reshard.save(update_fields=["state", "source_rows", "error", "updated_at"])
            progress(reshard)
        if reshard.state == Reshard.State.VERIFIED and drop_source:
            _drop_source(reshard, plan)
            progress(reshard)
        return reshard


def _prepare(reshard: Reshard, plan: ReshardPlan) -> None:
    """Build the new tables and the change capture; every statement is rerunnable."""
    source = plan.source
    for target in plan.targets:
        if target.server is not None:
            _remote_exec(
                target.location,
                remote_partition_sql(modulus=target.modulus, remainder=target.remainder),
            )
    staging = reshard.staging_table
    if not _exists_on(LEADER, staging):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(staging_table_sql(staging=staging))
            for target in plan.targets:
                for statement in staging_partition_sql(
                    staging=staging,
                    table=target.table,
                    modulus=target.modulus,
                    remainder=target.remainder,
                    server=target.server,
                ):
                    cursor.execute(statement)
    log = reshard.log_table
    if source.server is None:
        _run_on(LEADER, capture_sql(log=log, table=source.table))
    else:
        _remote_exec(source.location, capture_sql(log=log, table=_remote_table(source)))
        _run_on(LEADER, foreign_log_sql(log=log, server=source.server))


def _remote_table(source: Partition) -> str:
    return source.remote_table or PARENT_TABLE


def _copy(reshard: Reshard, plan: ReshardPlan, batch_size: int, progress: Progress) -> None:
    """Copy the source in keyset order; the progress is recorded with each batch."""
    source = plan.source.table
    staging = reshard.staging_table
    # The redundant ``task_id >=`` makes the keyset an index range on the source.
    query = f"""
        WITH batch AS MATERIALIZED (
            SELECT {COLUMNS} FROM {source}
            WHERE task_id >= %(task_id)s AND (task_id > %(task_id)s OR id > %(id)s)
            ORDER BY task_id, id LIMIT %(limit)s
        ), copied AS (
            INSERT INTO {staging} ({COLUMNS}) SELECT {COLUMNS} FROM batch
            ON CONFLICT DO NOTHING
        )
        SELECT task_id, id, (SELECT count(*) FROM batch) FROM batch
        ORDER BY task_id DESC, id DESC LIMIT 1
    """  # noqa: S608 - catalog names
    while True:
        with transaction.atomic(), shard_errors(), connection.cursor() as cursor:
            cursor.execute(
                query,
                {
                    "task_id": _MIN_BIGINT
                    if reshard.cursor_task_id is None
                    else reshard.cursor_task_id,
                    "id": _MIN_BIGINT if reshard.cursor_id is None else reshard.cursor_id,
                    "limit": batch_size,
                },
            )
            row = cursor.fetchone()
            if row is None:
                reshard.state = Reshard.State.CATCHING_UP
                reshard.save(update_fields=["state", "updated_at"])
                return
            reshard.cursor_task_id, reshard.cursor_id = int(row[0]), int(row[1])
            reshard.rows_copied += int(row[2])
            reshard.save(update_fields=["cursor_task_id", "cursor_id", "rows_copied", "updated_at"])
        progress(reshard)


def _resync(
    cursor: CursorWrapper, reshard: Reshard, plan: ReshardPlan, task_ids: list[int]
) -> None:
    """Make the new partitions hold exactly the source's rows of ``task_ids``."""
    staging = reshard.staging_table
    cursor.execute(f"DELETE FROM {staging} WHERE task_id = ANY(%s::bigint[])", [task_ids])  # noqa: S608
    cursor.execute(
        f"INSERT INTO {staging} ({COLUMNS}) SELECT {COLUMNS} FROM {plan.source.table} "  # noqa: S608
        "WHERE task_id = ANY(%s::bigint[])",
        [task_ids],
    )


def _replay_round(reshard: Reshard, plan: ReshardPlan) -> int:
    """Replay the oldest committed log entries; returns how many there were.

    Entries are deleted by their own numbers after the replay commits: an entry of a
    transaction still open is invisible now and stays for the next round, and a crash
    between the two leaves entries that replay again, harmlessly.
    """
    log = reshard.log_table
    with shard_errors(), connection.cursor() as cursor:
        cursor.execute(
            f"SELECT seq, task_id FROM {log} ORDER BY seq LIMIT %s",  # noqa: S608
            [REPLAY_BATCH],
        )
        entries = cursor.fetchall()
    if not entries:
        return 0
    task_ids = sorted({int(task_id) for _, task_id in entries})
    with transaction.atomic(), shard_errors(), connection.cursor() as cursor:
        _resync(cursor, reshard, plan, task_ids)
    with shard_errors(), connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {log} WHERE seq = ANY(%s::bigint[])",  # noqa: S608
            [[int(seq) for seq, _ in entries]],
        )
    Reshard.objects.filter(pk=reshard.pk).update(tasks_replayed=F("tasks_replayed") + len(task_ids))
    reshard.tasks_replayed += len(task_ids)
    return len(entries)


def _catch_up(reshard: Reshard, plan: ReshardPlan, progress: Progress) -> None:
    while _replay_round(reshard, plan) >= SWITCH_BACKLOG:
        progress(reshard)


def _switch(reshard: Reshard, plan: ReshardPlan, progress: Progress) -> None:
    """The switch-over: one leader transaction, the parent locked for its length."""
    log = reshard.log_table
    for _ in range(SWITCH_ATTEMPTS):
        try:
            with transaction.atomic(), shard_errors(), connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_MS}ms'")
                cursor.execute(f"LOCK TABLE {PARENT_TABLE} IN ACCESS EXCLUSIVE MODE")
                locked = time.perf_counter()
                # No write can reach the source now: the log is complete.
                cursor.execute(f"SELECT DISTINCT task_id FROM {log}")  # noqa: S608
                task_ids = [int(row[0]) for row in cursor.fetchall()]
                if task_ids:
                    _resync(cursor, reshard, plan, task_ids)
                cursor.execute(f"ALTER TABLE {PARENT_TABLE} DETACH PARTITION {plan.source.table}")
                for target in plan.targets:
                    cursor.execute(
                        f"ALTER TABLE {reshard.staging_table} DETACH PARTITION {target.table}"
                    )
                    cursor.execute(
                        f"ALTER TABLE {PARENT_TABLE} ATTACH PARTITION {target.table} "
                        f"FOR VALUES WITH (MODULUS {target.modulus}, "
                        f"REMAINDER {target.remainder})"
                    )
                cursor.execute(f"SELECT last_value FROM {PARENT_TABLE}_id_seq")  # noqa: S608
                row = cursor.fetchone()
                reshard.cursor_id = int(row[0]) if row else 0
                reshard.state = Reshard.State.SWITCHED
                reshard.switched_at = timezone.now()
                reshard.tasks_replayed += len(task_ids)
                reshard.save(
                    update_fields=[
                        "cursor_id",
                        "state",
                        "switched_at",
                        "tasks_replayed",
                        "updated_at",
                    ]
                )
            reshard.switch_ms = (time.perf_counter() - locked) * 1000
            reshard.save(update_fields=["switch_ms", "updated_at"])
            progress(reshard)
            return
        except OperationalError as error:
            if getattr(error.__cause__, "sqlstate", None) != "55P03":  # lock_not_available
                raise
            _replay_round(reshard, plan)
    raise ReshardError(
        f"Could not lock {PARENT_TABLE} within {LOCK_TIMEOUT_MS} ms in {SWITCH_ATTEMPTS} "
        "tries (long transactions hold it); run the command again to retry the switch-over."
    )


def _drop_capture(reshard: Reshard, plan: ReshardPlan) -> None:
    source = plan.source
    log = reshard.log_table
    if source.server is None:
        _run_on(LEADER, capture_drop_sql(log=log, table=source.table))
    else:
        _remote_exec(source.location, capture_drop_sql(log=log, table=_remote_table(source)))
        _run_on(LEADER, f"DROP FOREIGN TABLE IF EXISTS {log}")
    _run_on(LEADER, f"DROP TABLE IF EXISTS {reshard.staging_table}")


def reshard_verify(*, reshard: Reshard) -> Verification:
    """Compare the detached source with the partitions that replaced it, row by row.

    Rows written after the switch-over (ids above the sequence's value at the switch)
    are the new partitions' own. A source row missing from them is excused only when
    its task was since deleted or written again (it has rows newer than the switch).
    """
    plan = _plan_from(reshard)
    id_at_switch = reshard.cursor_id or 0
    source = plan.source.table
    targets = " UNION ALL ".join(
        f"SELECT task_id, id FROM {target.table}"  # noqa: S608 - catalog names
        for target in plan.targets
    )
    verification = Verification()
    with shard_errors(), connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {source}")  # noqa: S608
        verification.source_rows = int(_first(cursor))
        cursor.execute(f"SELECT count(*) FROM ({targets}) AS new_rows")  # noqa: S608
        verification.target_rows = int(_first(cursor))
        cursor.execute(
            f"WITH old AS MATERIALIZED (SELECT task_id, id FROM {source}), "  # noqa: S608
            f"new AS MATERIALIZED ({targets}) "
            "SELECT count(*) FROM new WHERE id <= %s AND NOT EXISTS "
            "(SELECT 1 FROM old WHERE old.task_id = new.task_id AND old.id = new.id)",
            [id_at_switch],
        )
        verification.extra = int(_first(cursor))
        cursor.execute(
            f"WITH old AS MATERIALIZED (SELECT task_id, id FROM {source}), "  # noqa: S608
            f"new AS MATERIALIZED ({targets}) "
            "SELECT old.task_id, count(*) FROM old WHERE NOT EXISTS "
            "(SELECT 1 FROM new WHERE new.task_id = old.task_id AND new.id = old.id) "
            "AND EXISTS (SELECT 1 FROM predictions_task task WHERE task.id = old.task_id) "
            "AND NOT EXISTS (SELECT 1 FROM new WHERE new.task_id = old.task_id AND new.id > %s) "
            "GROUP BY old.task_id ORDER BY old.task_id",
            [id_at_switch],
        )
        verification.missing = {int(task_id): int(rows) for task_id, rows in cursor.fetchall()}
    return verification


def _first(cursor: CursorWrapper) -> int:
    row = cursor.fetchone()
    return 0 if row is None or row[0] is None else int(row[0])


def _drop_source(reshard: Reshard, plan: ReshardPlan) -> None:
    """Drop the verified, detached source: its table on its server, then on the leader."""
    source = plan.source
    if source.server is None:
        _run_on(LEADER, f"DROP TABLE IF EXISTS {source.table}")
    else:
        _remote_exec(source.location, f"DROP TABLE IF EXISTS {_remote_table(source)}")
        _run_on(LEADER, f"DROP FOREIGN TABLE IF EXISTS {source.table}")
    reshard.state = Reshard.State.DONE
    reshard.save(update_fields=["state", "updated_at"])


def reshard_abort(*, reshard_id: int) -> Reshard:
    """Undo an operation that has not switched over: the source never stopped serving."""
    with _exclusive():
        reshard = Reshard.objects.filter(pk=reshard_id).first()
        if reshard is None:
            raise ReshardError(f"No operation {reshard_id}.")
        if reshard.state not in (Reshard.State.COPYING, Reshard.State.CATCHING_UP):
            raise ReshardError(
                f"{reshard} cannot be aborted: only an operation before its switch-over can."
            )
        plan = _plan_from(reshard)
        _drop_capture(reshard, plan)
        for target in plan.targets:
            if target.server is None:
                _run_on(LEADER, f"DROP TABLE IF EXISTS {target.table}")
            else:
                _run_on(LEADER, f"DROP FOREIGN TABLE IF EXISTS {target.table}")
                _remote_exec(target.location, f"DROP TABLE IF EXISTS {target.remote_table}")
        reshard.state = Reshard.State.ABORTED
        reshard.save(update_fields=["state", "updated_at"])
        return reshard
