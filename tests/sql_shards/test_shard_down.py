"""One shard down: tasks elsewhere keep working; its own tasks get a clear error."""

from __future__ import annotations

import pytest

from ml_models.models import ModelVersion
from predictions.selectors import predictions_for_task
from predictions.services import PredictionRow, predictions_insert
from sql_shards.errors import ShardUnavailableError
from tests.conftest import shard_unreachable, tasks_on_each_partition

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def test_reads_for_other_shards_work_and_the_missing_shard_is_named(
    detector_version: ModelVersion,
) -> None:
    tasks = tasks_on_each_partition()
    predictions_insert(
        rows=[
            PredictionRow(
                task_id=task.pk, kind="object", score=0.8, model_version_id=detector_version.pk
            )
            for task in tasks.values()
        ]
    )

    with shard_unreachable("shard_2"):
        for remainder in (0, 1, 3):
            predictions = predictions_for_task(task_id=tasks[remainder].pk)
            assert [prediction.score for prediction in predictions] == [0.8]

        with pytest.raises(ShardUnavailableError) as raised:
            predictions_for_task(task_id=tasks[2].pk)

    assert raised.value.shard == "shard_2"
    assert "shard_2" in str(raised.value)
    # Back up: the shard's rows are readable again.
    assert len(predictions_for_task(task_id=tasks[2].pk)) == 1


def test_writes_to_the_missing_shard_name_it(detector_version: ModelVersion) -> None:
    tasks = tasks_on_each_partition()

    with shard_unreachable("shard_3"), pytest.raises(ShardUnavailableError, match="shard_3"):
        predictions_insert(
            rows=[
                PredictionRow(
                    task_id=tasks[3].pk,
                    kind="object",
                    score=0.8,
                    model_version_id=detector_version.pk,
                )
            ]
        )
