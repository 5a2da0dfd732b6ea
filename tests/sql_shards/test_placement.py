"""Rows inserted through the partitioned parent land on the shard their hash names."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.db import connection, connections

from ml_models.models import ModelVersion
from predictions.models import Prediction
from predictions.services import PredictionRow, predictions_insert
from tests.conftest import tasks_on_each_partition

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def _task_ids_on(alias: str) -> set[int]:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT DISTINCT task_id FROM predictions_prediction")
        return {row[0] for row in cursor.fetchall()}


def test_each_row_lands_on_the_shard_its_hash_names(detector_version: ModelVersion) -> None:
    tasks = tasks_on_each_partition()
    rows = [
        PredictionRow(
            task_id=task.pk,
            kind="object",
            score=0.9,
            model_version_id=detector_version.pk,
            box=(1.0, 2.0, 30.0, 40.0),
        )
        for task in tasks.values()
    ]

    assert predictions_insert(rows=rows) == 4

    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT task_id FROM predictions_prediction_p0")
        assert {row[0] for row in cursor.fetchall()} == {tasks[0].pk}
    for remainder, alias in enumerate(settings.SHARD_ALIASES, start=1):
        assert _task_ids_on(alias) == {tasks[remainder].pk}, alias


def test_ids_come_from_one_leader_sequence(detector_version: ModelVersion) -> None:
    tasks = tasks_on_each_partition()
    rows = [
        PredictionRow(
            task_id=task.pk, kind="object", score=0.5, model_version_id=detector_version.pk
        )
        for task in tasks.values()
        for _ in range(3)
    ]
    predictions_insert(rows=rows)

    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM predictions_prediction")
        ids = [row[0] for row in cursor.fetchall()]
    assert len(ids) == 12
    assert len(set(ids)) == 12


def test_query_for_one_task_scans_exactly_one_partition() -> None:
    tasks = tasks_on_each_partition()
    for remainder, task in tasks.items():
        plan = Prediction.objects.filter(task_id=task.pk).explain()

        scanned = set(re.findall(r"on (predictions_prediction_p\d)\b", plan))
        assert scanned == {f"predictions_prediction_p{remainder}"}, plan
