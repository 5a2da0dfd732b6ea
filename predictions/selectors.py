"""Reads of tasks and predictions."""

from __future__ import annotations

from predictions.models import Prediction
from sql_shards.errors import shard_errors
from sql_shards.selectors import LEADER, shard_for_task


def predictions_for_task(*, task_id: int) -> list[Prediction]:
    """All predictions of one task, best score first, read from its one partition.

    Raises ``ShardUnavailableError`` naming the shard when the task's shard is down;
    tasks on other shards are unaffected.
    """
    shard = shard_for_task(task_id=task_id)
    with shard_errors(None if shard == LEADER else shard):
        return list(Prediction.objects.filter(task_id=task_id).order_by("-score", "id"))
