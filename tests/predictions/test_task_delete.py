"""Deleting a task removes its predictions from whichever shard holds them."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection, connections

from ml_models.models import ModelVersion
from predictions.models import Task
from predictions.services import PredictionRow, predictions_insert, task_delete
from tests.conftest import tasks_on_each_partition

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def _count_on(alias: str, table: str, task_id: int) -> int:
    with connections[alias].cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table} WHERE task_id = %s", [task_id])  # noqa: S608
        row = cursor.fetchone()
    assert row is not None
    return int(row[0])


def test_deleting_a_task_deletes_its_predictions_on_its_shard(
    detector_version: ModelVersion,
) -> None:
    tasks = tasks_on_each_partition()
    predictions_insert(
        rows=[
            PredictionRow(
                task_id=task.pk, kind="object", score=0.7, model_version_id=detector_version.pk
            )
            for task in tasks.values()
            for _ in range(2)
        ]
    )

    for remainder, alias in enumerate(settings.SHARD_ALIASES, start=1):
        task = tasks[remainder]
        assert _count_on(alias, "predictions_prediction", task.pk) == 2
        task_delete(task=task)
        assert _count_on(alias, "predictions_prediction", task.pk) == 0
        assert not Task.objects.filter(pk=task.pk).exists()

    task_delete(task=tasks[0])
    assert _count_on(connection.alias, "predictions_prediction_p0", tasks[0].pk) == 0
