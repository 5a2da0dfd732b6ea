"""Writes of tasks and predictions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.core.files.storage import Storage
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.db.models.functions import Now

from accounts.models import User
from ml_models.models import ModelVersion
from predictions.delivery import tasks_enqueue
from predictions.models import Prediction, Task
from sql_shards.errors import shard_errors
from sql_shards.selectors import LEADER, shard_for_task


@dataclass(frozen=True)
class PredictionRow:
    """One prediction to store; ``box`` is ``(x1, y1, x2, y2)`` in pixels, or None."""

    task_id: int
    kind: str
    score: float
    model_version_id: int
    object_class_id: int | None = None
    scene_class_id: int | None = None
    box: tuple[float, float, float, float] | None = None


_INSERT_SQL = """
INSERT INTO predictions_prediction
    (task_id, kind, object_class_id, scene_class_id, score, x1, y1, x2, y2, model_version_id)
SELECT * FROM unnest(
    %s::bigint[], %s::varchar[], %s::bigint[], %s::bigint[], %s::double precision[],
    %s::double precision[], %s::double precision[], %s::double precision[],
    %s::double precision[], %s::bigint[]
)
"""


def insert_params(rows: Sequence[PredictionRow]) -> list[list[int | float | str | None]]:
    """The column arrays of ``_INSERT_SQL`` for ``rows``, in its order."""
    boxes = [row.box or (None, None, None, None) for row in rows]
    return [
        [row.task_id for row in rows],
        [row.kind for row in rows],
        [row.object_class_id for row in rows],
        [row.scene_class_id for row in rows],
        [row.score for row in rows],
        [box[0] for box in boxes],
        [box[1] for box in boxes],
        [box[2] for box in boxes],
        [box[3] for box in boxes],
        [row.model_version_id for row in rows],
    ]


def predictions_insert(*, rows: Sequence[PredictionRow]) -> int:
    """Store ``rows`` with one multi-row INSERT through the partitioned parent.

    postgres_fdw routes each row to its shard and sends each shard's rows in batches
    (the foreign servers' ``batch_size``), so a batch of tasks costs one round trip
    per shard instead of one per row. No RETURNING: it would disable batching.
    """
    if not rows:
        return 0
    with shard_errors(), connection.cursor() as cursor:
        cursor.execute(_INSERT_SQL, insert_params(rows))
    return len(rows)


def predictions_replace(*, task_ids: Sequence[int], rows: Sequence[PredictionRow]) -> int:
    """Replace every prediction of ``task_ids`` with ``rows``, in one transaction.

    A rerun therefore never duplicates predictions: either the old set or the new
    one is visible, on every shard (postgres_fdw commits the shards with the leader).
    """
    with transaction.atomic(), shard_errors():
        with connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM predictions_prediction WHERE task_id = ANY(%s::bigint[])",
                [list(task_ids)],
            )
        return predictions_insert(rows=rows)


def task_delete(*, task: Task) -> None:
    """Delete a task, its predictions on whichever shard holds them, and its image."""
    shard = shard_for_task(task_id=task.pk)
    image_name = task.image.name
    storage = task.image.storage
    with transaction.atomic(), shard_errors(None if shard == LEADER else shard):
        Prediction.objects.filter(task_id=task.pk).delete()
        task.delete()
        if image_name:
            transaction.on_commit(lambda: _delete_unreferenced_image(storage, image_name))


def _delete_unreferenced_image(storage: Storage, name: str) -> None:
    # Originals are content-addressed: another task may share this file.
    if not Task.objects.filter(image=name).exists():
        storage.delete(name)


def tasks_rerun(
    *, owner: User, task_ids: Sequence[int] | None = None, stale: bool = False
) -> list[int]:
    """Queue the owner's tasks to run again with the active models; returns their ids.

    ``task_ids`` picks tasks; ``stale`` picks every finished task whose predictions are
    missing or come from a version other than the active one of either kind. Their
    predictions are replaced (never duplicated) when the worker stores the new ones.
    """
    tasks = Task.objects.filter(owner=owner)
    if task_ids is not None:
        tasks = tasks.filter(pk__in=task_ids)
    if stale:
        active = dict(ModelVersion.objects.filter(is_active=True).values_list("kind", "pk"))
        up_to_date = Q(
            status=Task.Status.DONE,
            detector_version_id=active.get(ModelVersion.Kind.DETECTOR),
            scene_version_id=active.get(ModelVersion.Kind.SCENE),
        )
        tasks = tasks.filter(status__in=[Task.Status.DONE, Task.Status.FAILED]).exclude(up_to_date)
    return _requeue(tasks)


def _requeue(tasks: QuerySet[Task]) -> list[int]:
    """Put ``tasks`` back in the queue (claims dropped), enqueue after commit."""
    with transaction.atomic():
        ids = list(tasks.select_for_update().values_list("pk", flat=True))
        Task.objects.filter(pk__in=ids).update(
            status=Task.Status.QUEUED,
            claim_token=None,
            lease_expires_at=None,
            enqueued_at=None,
            rerun_at=Now(),
            error="",
        )
        transaction.on_commit(lambda: tasks_enqueue(task_ids=ids))
    return ids


def tasks_delete(*, owner: User, task_ids: Sequence[int]) -> int:
    """Delete those of ``task_ids`` that belong to ``owner``; returns how many.

    Each task goes with its predictions on its own shard (see ``task_delete``); a shard
    that is down raises ``ShardUnavailableError`` after the tasks before it are gone.
    """
    deleted = 0
    for task in Task.objects.filter(owner=owner, pk__in=list(task_ids)).order_by("pk"):
        task_delete(task=task)
        deleted += 1
    return deleted


def tasks_rerun_by_staff(*, task_ids: Sequence[int]) -> list[int]:
    """Queue any users' tasks ``task_ids`` to run again (staff only: the caller checks).

    Same effect per task as ``tasks_rerun``: back to queued, claim dropped, enqueued
    after commit, predictions replaced when the worker stores the new ones.
    """
    return _requeue(Task.objects.filter(pk__in=list(task_ids)))
