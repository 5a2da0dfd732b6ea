"""Splits and moves of partitions, online: nothing lost, duplicated or misplaced."""

# Fixtures name the fixtures they depend on as arguments, used or not.
# pylint: disable=unused-argument

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

import pytest
from django.db import connection, connections

from accounts.models import User
from ml_models.models import ModelVersion
from predictions.models import Task
from predictions.selectors import predictions_for_task
from predictions.services import PredictionRow, predictions_insert, predictions_replace, task_delete
from sql_shards.models import Reshard
from sql_shards.resharding import reshard_plan, reshard_run
from sql_shards.selectors import partition_for_task, prediction_partitions
from sql_shards.services import layout_coverage, shards_verify
from tests.factories import TaskFactory, UserFactory

pytestmark = [
    pytest.mark.django_db(transaction=True, databases="__all__"),
    pytest.mark.usefixtures("fresh_layout"),
]

Fingerprint = dict[int, tuple[int, Decimal]]


def make_tasks(owner: User, count: int) -> list[Task]:
    return [TaskFactory.create(owner=owner) for _ in range(count)]


def rows_for(task_id: int, version: ModelVersion, count: int, score: float) -> list[PredictionRow]:
    return [
        PredictionRow(
            task_id=task_id,
            kind="object",
            score=score,
            model_version_id=version.pk,
            box=(1.0, 2.0, 3.0 + index, 4.0),
        )
        for index in range(count)
    ]


def fingerprint() -> Fingerprint:
    """Per task: its rows and a checksum of their ``(task_id, id)``, read through the parent."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT task_id, count(*), sum(hashint8extended(id, task_id)) "
            "FROM predictions_prediction GROUP BY task_id"
        )
        return {int(task): (int(rows), Decimal(total)) for task, rows, total in cursor.fetchall()}


def layout() -> set[tuple[int, int, str]]:
    return {
        (partition.modulus, partition.remainder, partition.location)
        for partition in prediction_partitions()
    }


def assert_all_in_place() -> None:
    checks = shards_verify()
    assert all(check.ok for check in checks), checks
    assert layout_coverage(prediction_partitions()) == 1


def test_a_fresh_install_reads_its_four_partitions_from_the_catalog() -> None:
    assert layout() == {(4, 0, "leader"), (4, 1, "shard_1"), (4, 2, "shard_2"), (4, 3, "shard_3")}
    assert layout_coverage(prediction_partitions()) == 1
    assert_all_in_place()


class Writer(threading.Thread):
    """Stores, replaces and deletes predictions the way the worker and the API do,
    remembering what each task must end up with."""

    def __init__(self, tasks: list[Task], version: ModelVersion) -> None:
        super().__init__(daemon=True)
        self.tasks = list(tasks)
        self.version = version
        self.expected: dict[int, tuple[int, float]] = {}
        self.deleted: list[int] = []
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.writes = 0

    def run(self) -> None:
        chooser = random.Random(17)
        try:
            while not self.stop.is_set():
                task = chooser.choice(self.tasks)
                self.writes += 1
                if self.writes % 25 == 0:
                    task_delete(task=task)
                    self.tasks.remove(task)
                    self.deleted.append(task.pk)
                    self.expected.pop(task.pk, None)
                    continue
                count = chooser.randint(1, 6)
                score = float(self.writes)
                predictions_replace(
                    task_ids=[task.pk], rows=rows_for(task.pk, self.version, count, score)
                )
                self.expected[task.pk] = (count, score)
        except Exception as error:  # pylint: disable=broad-exception-caught
            self.error = error
        finally:
            connection.close()


@contextmanager
def writing(tasks: list[Task], version: ModelVersion) -> Iterator[Writer]:
    writer = Writer(tasks, version)
    writer.start()
    try:
        yield writer
    finally:
        writer.stop.set()
        writer.join(timeout=60)
    assert writer.error is None, writer.error
    assert writer.writes > 10


def test_split_while_rows_are_written(detector_version: ModelVersion) -> None:
    owner = UserFactory.create()
    tasks = make_tasks(owner, 120)
    predictions_insert(
        rows=[row for task in tasks for row in rows_for(task.pk, detector_version, 15, 0.5)]
    )
    before = fingerprint()

    with writing(tasks, detector_version) as writer:
        plan = reshard_plan(kind="split", remainder=1, destination="shard_2")
        reshard = reshard_run(plan=plan, batch_size=100)

    assert reshard.state == Reshard.State.VERIFIED
    assert reshard.switch_ms is not None
    # Some writes met the copy: the change log carried them over.
    assert reshard.tasks_replayed > 0
    assert layout() == {
        (4, 0, "leader"),
        (8, 1, "shard_1"),
        (8, 5, "shard_2"),
        (4, 2, "shard_2"),
        (4, 3, "shard_3"),
    }
    # Every task ends with exactly what was last written for it, wherever it lives.
    after = fingerprint()
    for task in tasks:
        if task.pk in writer.deleted:
            assert task.pk not in after
        elif task.pk in writer.expected:
            count, score = writer.expected[task.pk]
            assert [p.score for p in predictions_for_task(task_id=task.pk)] == [score] * count
        else:
            assert after[task.pk] == before[task.pk]
    assert_all_in_place()


def test_new_rows_land_where_the_hash_says_and_deletes_reach_them(
    detector_version: ModelVersion,
) -> None:
    owner = UserFactory.create()
    tasks = make_tasks(owner, 40)
    predictions_insert(
        rows=[row for task in tasks for row in rows_for(task.pk, detector_version, 3, 0.5)]
    )
    # 4 -> 8 for remainder 0, then 8 -> 16 for remainder 4, the source dropped.
    reshard_run(plan=reshard_plan(kind="split", remainder=0, destination="leader"))
    second = reshard_run(
        plan=reshard_plan(kind="split", remainder=4, modulus=8, destination="shard_1"),
        drop_source=True,
    )
    assert second.state == Reshard.State.DONE
    # The same remainder twice: 0 of 4 -> 0 of 8 -> 0 of 16.
    reshard_run(plan=reshard_plan(kind="split", remainder=0, modulus=8, destination="shard_3"))
    assert {(16, 0, "leader"), (16, 8, "shard_3"), (16, 4, "leader"), (16, 12, "shard_1")} <= (
        layout()
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('predictions_prediction_m8r4')")
        assert cursor.fetchone() == (None,)

    fresh = make_tasks(owner, 80)
    predictions_insert(
        rows=[row for task in fresh for row in rows_for(task.pk, detector_version, 2, 0.9)]
    )
    on_new_shard = []
    for task in fresh:
        partition = partition_for_task(task_id=task.pk)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT count(*) FROM {partition.table} WHERE task_id = %s",  # noqa: S608
                [task.pk],
            )
            assert cursor.fetchone() == (2,), partition
        if (partition.modulus, partition.remainder) == (16, 12):
            on_new_shard.append(task)
    assert on_new_shard, "80 tasks, none hashed to 12 of 16"
    assert_all_in_place()

    # The shard's own table holds the rows, and deleting the task removes them there.
    victim = on_new_shard[0]
    with connections["shard_1"].cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM predictions_prediction_m16r12 WHERE task_id = %s", [victim.pk]
        )
        assert cursor.fetchone() == (2,)
    task_delete(task=victim)
    with connections["shard_1"].cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM predictions_prediction_m16r12 WHERE task_id = %s", [victim.pk]
        )
        assert cursor.fetchone() == (0,)


def test_move_a_partition_to_the_leader_and_back(detector_version: ModelVersion) -> None:
    owner = UserFactory.create()
    tasks = make_tasks(owner, 60)
    predictions_insert(
        rows=[row for task in tasks for row in rows_for(task.pk, detector_version, 4, 0.5)]
    )
    before = fingerprint()

    there = reshard_run(plan=reshard_plan(kind="move", remainder=3, destination="leader"))
    assert there.state == Reshard.State.VERIFIED
    assert (4, 3, "leader") in layout()
    assert fingerprint() == before

    back = reshard_run(
        plan=reshard_plan(kind="move", remainder=3, destination="shard_3"), drop_source=True
    )
    assert back.state == Reshard.State.DONE
    assert (4, 3, "shard_3") in layout()
    assert fingerprint() == before
    with connections["shard_3"].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM predictions_prediction_m4r3")
        row = cursor.fetchone()
    assert row is not None
    assert row[0] == sum(rows for task, (rows, _) in before.items() if task in _on(3, 4, before))
    assert_all_in_place()


def _on(remainder: int, modulus: int, tasks: Fingerprint) -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT task_id FROM unnest(%s::bigint[]) AS task_id WHERE "
            "satisfies_hash_partition('predictions_prediction'::regclass, %s, %s, task_id)",
            [list(tasks), modulus, remainder],
        )
        return {int(row[0]) for row in cursor.fetchall()}
