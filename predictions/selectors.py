"""Reads of tasks and predictions."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, QuerySet

from accounts.models import User
from ml_models.models import ObjectClass, SceneClass
from predictions.models import Prediction, Task
from sql_shards.errors import shard_errors
from sql_shards.selectors import LEADER, shard_for_task

logger = logging.getLogger(__name__)


def predictions_for_task(*, task_id: int) -> list[Prediction]:
    """All predictions of one task, best score first, read from its one partition.

    Raises ``ShardUnavailableError`` naming the shard when the task's shard is down;
    tasks on other shards are unaffected.
    """
    shard = shard_for_task(task_id=task_id)
    with shard_errors(None if shard == LEADER else shard):
        return list(Prediction.objects.filter(task_id=task_id).order_by("-score", "id"))


def tasks_for_owner(*, owner: User) -> QuerySet[Task]:
    """The owner's tasks, newest first, with what lists show joined in."""
    return (
        Task.objects.filter(owner=owner)
        .select_related("scene_class", "detector_version", "scene_version")
        .order_by("-created_at", "-id")
    )


def task_result(*, task: Task) -> dict[str, Any]:
    """SPEC.md's fields for a finished task: file, size, scene, objects and models."""
    predictions = predictions_for_task(task_id=task.pk)
    object_names = dict(ObjectClass.objects.values_list("pk", "name"))
    scene_names = dict(SceneClass.objects.values_list("pk", "name"))
    top = [
        {
            "label": scene_names.get(prediction.scene_class_id or 0, "unknown"),
            "score": prediction.score,
        }
        for prediction in predictions
        if prediction.kind == Prediction.Kind.SCENE
    ]
    objects = [
        {
            "label": object_names.get(prediction.object_class_id or 0, "unknown"),
            "score": prediction.score,
            "box": prediction.box,
        }
        for prediction in predictions
        if prediction.kind == Prediction.Kind.OBJECT
    ]
    return {
        "file": task.original_name,
        "width": task.width,
        "height": task.height,
        "scene": {
            "label": top[0]["label"] if top else None,
            "score": top[0]["score"] if top else None,
            "top": top,
        },
        "objects": objects,
        "models": {
            "detector": task.detector_version.name if task.detector_version else None,
            "scene": task.scene_version.name if task.scene_version else None,
        },
    }


def queue_depth() -> int | None:
    """Messages waiting in the broker's inference queue, or None if Redis is down."""
    from vision_site.celery import app

    try:
        with app.connection_for_read() as broker:
            client = broker.default_channel.client  # type: ignore[attr-defined]
            return int(client.llen(settings.CELERY_INFERENCE_QUEUE))
    except Exception as error:
        logger.warning("Queue depth unavailable: %s", error)
        return None


def task_stats(*, owner: User) -> dict[str, Any]:
    """Counts of the owner's tasks by status, scene class and object class."""
    tasks = Task.objects.filter(owner=owner)
    by_status = dict.fromkeys(Task.Status.values, 0)
    by_status.update(
        dict(tasks.values_list("status").annotate(count=Count("id")).values_list("status", "count"))
    )
    by_scene = dict(
        tasks.filter(status=Task.Status.DONE, scene_class__isnull=False)
        .values_list("scene_class__name")
        .annotate(count=Count("id"))
        .values_list("scene_class__name", "count")
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT counts.key, sum(counts.value::int) "
            "FROM predictions_task, jsonb_each_text(predictions_task.object_counts) AS counts "
            "WHERE predictions_task.owner_id = %s AND predictions_task.status = %s "
            "GROUP BY counts.key ORDER BY counts.key",
            [owner.pk, Task.Status.DONE],
        )
        by_object = {str(name): int(count) for name, count in cursor.fetchall()}
    return {
        "by_status": by_status,
        "by_scene": by_scene,
        "by_object": by_object,
        "queue": {"queued_tasks": by_status[Task.Status.QUEUED], "broker_messages": queue_depth()},
    }
