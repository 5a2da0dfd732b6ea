"""A shard rejects any row whose task_id hashes to another partition."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, connections, transaction

from ml_models.models import ModelVersion
from tests.conftest import tasks_on_each_partition

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

_INSERT = (
    "INSERT INTO {table} (task_id, id, kind, score, model_version_id) "
    "VALUES (%s, 1, 'object', 0.5, %s)"
)


def test_shard_rejects_a_row_of_another_shard_written_directly(
    detector_version: ModelVersion,
) -> None:
    tasks = tasks_on_each_partition()
    wrong_task = tasks[2]  # belongs to shard_2

    with (
        pytest.raises(DatabaseError, match="no partition"),
        transaction.atomic("shard_1"),
        connections["shard_1"].cursor() as cursor,
    ):
        cursor.execute(
            _INSERT.format(table="predictions_prediction"),
            [wrong_task.pk, detector_version.pk],
        )


def test_shard_rejects_a_row_forced_through_the_wrong_foreign_partition(
    detector_version: ModelVersion,
) -> None:
    tasks = tasks_on_each_partition()
    wrong_task = tasks[3]

    # Writing into the foreign table itself bypasses the leader's routing.
    with (
        pytest.raises(DatabaseError, match="no partition"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            _INSERT.format(table="predictions_prediction_p1"),
            [wrong_task.pk, detector_version.pk],
        )

    with connections["shard_1"].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM predictions_prediction")
        assert cursor.fetchone() == (0,)


def test_updating_task_id_to_another_shard_is_rejected(detector_version: ModelVersion) -> None:
    tasks = tasks_on_each_partition()
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT.format(table="predictions_prediction"), [tasks[1].pk, detector_version.pk]
        )

    # Through the foreign partition directly, the shard itself must refuse the move.
    with (
        pytest.raises(DatabaseError, match="no partition"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "UPDATE predictions_prediction_p1 SET task_id = %s WHERE task_id = %s",
            [tasks[2].pk, tasks[1].pk],
        )

    with connections["shard_1"].cursor() as cursor:
        cursor.execute("SELECT task_id FROM predictions_prediction")
        assert cursor.fetchall() == [(tasks[1].pk,)]
