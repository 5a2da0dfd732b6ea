"""Reads of tasks and predictions."""

from __future__ import annotations

import base64
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncMinute
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import User
from ml_models.models import ModelVersion, ObjectClass, SceneClass
from ml_models.selectors import model_version_weights_file
from predictions.models import Prediction, Task
from sql_shards.errors import shard_errors
from sql_shards.selectors import LEADER, shard_for_task

logger = logging.getLogger(__name__)


def predictions_for_task(*, task_id: int) -> list[Prediction]:
    """All predictions of one task, best score first, read from its one partition.

    Raises ``ShardUnavailableError`` naming the shard when the task's shard is down;
    tasks on other shards are unaffected.
    """

    def task_shard() -> str | None:
        shard = shard_for_task(task_id=task_id)
        return None if shard == LEADER else shard

    with shard_errors(task_shard):
        return list(
            Prediction.objects.filter(task_id=task_id)
            .select_related("object_class", "scene_class")
            .order_by("-score", "id")
        )


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
    top = [
        {
            "label": prediction.scene_class.name if prediction.scene_class else "unknown",
            "score": prediction.score,
        }
        for prediction in predictions
        if prediction.kind == Prediction.Kind.SCENE
    ]
    objects = [
        {
            "label": prediction.object_class.name if prediction.object_class else "unknown",
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
    except Exception as error:  # pylint: disable=broad-exception-caught
        # Stats must render with the broker down, whatever the client raises.
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


# --- Pages: gallery, detail, dashboard ------------------------------------------------

GALLERY_PAGE_SIZE = 48
GALLERY_SORTS = ("newest", "score")


@dataclass(frozen=True)
class GalleryPage:
    """One page of a keyset-paginated task list and the cursors of its neighbours."""

    tasks: list[Task]
    next_cursor: str | None
    previous_cursor: str | None = None


BEFORE = "before"  # first field of a cursor that pages backwards


def _cursor_encode(values: list[str]) -> str:
    return base64.urlsafe_b64encode("|".join(values).encode()).decode().rstrip("=")


def _cursor_decode(cursor: str) -> list[str] | None:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return base64.urlsafe_b64decode(padded.encode()).decode().split("|")
    except (ValueError, UnicodeDecodeError):
        return None


def _sort_key(task: Task, sort: str) -> str:
    return repr(task.scene_score) if sort == "score" else task.created_at.isoformat()


def _after(
    tasks: QuerySet[Task], sort: str, key: str, last_id: int, *, backwards: bool
) -> QuerySet[Task]:
    """``tasks`` that come after (or, ``backwards``, before) the position (key, id)."""
    field = "scene_score" if sort == "score" else "created_at"
    value: float | datetime | None
    try:
        value = float(key) if sort == "score" else parse_datetime(key)
    except ValueError:
        value = None
    if value is None:
        return tasks
    side = "gt" if backwards else "lt"
    return tasks.filter(
        Q(**{f"{field}__{side}": value}) | Q(**{field: value, f"id__{side}": last_id})
    )


def gallery_page(
    *,
    tasks: QuerySet[Task],
    sort: str = "newest",
    cursor: str | None = None,
    page_size: int = GALLERY_PAGE_SIZE,
) -> GalleryPage:
    """A page of ``tasks`` after (or before) ``cursor``, newest first or best scene
    score first, with the cursors of the next and the previous page.

    Keyset pagination on ``(created_at, id)`` or ``(scene_score, id)``: no OFFSET and
    no COUNT, so the thousandth page costs what the first does, both ways. Sorting by
    score lists only scored (finished) tasks. A malformed cursor starts from the
    beginning.
    """
    field = "scene_score" if sort == "score" else "created_at"
    if sort == "score":
        tasks = tasks.filter(scene_score__isnull=False)
    position = (_cursor_decode(cursor) if cursor else None) or []
    backwards = position[:1] == [BEFORE]
    if backwards:
        position = position[1:]
    if position and len(position) == 2 and position[1].isdigit():
        tasks = _after(tasks, sort, position[0], int(position[1]), backwards=backwards)
    else:
        position, backwards = [], False
    if backwards:  # read the list upwards from the cursor, then put the page back in order
        rows = list(tasks.order_by(field, "id")[: page_size + 1])
        page, more_before = list(reversed(rows[:page_size])), len(rows) > page_size
        more_after = True
    else:
        rows = list(tasks.order_by(f"-{field}", "-id")[: page_size + 1])
        page, more_after = rows[:page_size], len(rows) > page_size
        more_before = bool(position)
    next_cursor = previous_cursor = None
    if page and more_after:
        next_cursor = _cursor_encode([_sort_key(page[-1], sort), str(page[-1].pk)])
    if page and more_before:
        previous_cursor = _cursor_encode([BEFORE, _sort_key(page[0], sort), str(page[0].pk)])
    return GalleryPage(tasks=page, next_cursor=next_cursor, previous_cursor=previous_cursor)


@dataclass(frozen=True)
class GalleryPosition:
    """Where a page sits in its list: images ``first``-``last`` (from 1) of ``total``."""

    first: int
    last: int
    total: int


def gallery_position(*, tasks: QuerySet[Task], sort: str, page: GalleryPage) -> GalleryPosition:
    """The position of ``page`` in ``tasks`` (as filtered for ``gallery_page``).

    Two COUNTs over one owner's filtered tasks: unlike OFFSET they do not fetch the
    rows before the page, and people asked where they are in the list.
    """
    if sort == "score":
        tasks = tasks.filter(scene_score__isnull=False)
    total = tasks.count()
    if not page.tasks:
        return GalleryPosition(0, 0, total)
    first = page.tasks[0]
    before = _after(tasks, sort, _sort_key(first, sort), first.pk, backwards=True).count()
    return GalleryPosition(before + 1, before + len(page.tasks), total)


def task_for_owner(*, owner: User, task_id: int) -> Task:
    """The owner's task ``task_id``; anyone else's is ``Task.DoesNotExist``."""
    return tasks_for_owner(owner=owner).get(pk=task_id)


def task_statuses(*, owner: User, task_ids: Sequence[int]) -> list[dict[str, Any]]:
    """Status and summary of some of the owner's tasks, for live progress on a page."""
    tasks = tasks_for_owner(owner=owner).filter(pk__in=list(task_ids))
    return [
        {
            "id": task.pk,
            "name": task.original_name,
            "status": task.status,
            "error": task.error,
            "scene": task.scene_class.name if task.scene_class else None,
            "scene_display": str(task.scene_class) if task.scene_class else None,
            "scene_score": task.scene_score,
            "objects": sum(int(count) for count in (task.object_counts or {}).values()),
        }
        for task in tasks
    ]


@dataclass(frozen=True)
class ClassStyle:
    """How a class looks on the pages: its display name and colour."""

    name: str
    display_name: str
    colour: str


def class_styles() -> tuple[dict[str, ClassStyle], dict[str, ClassStyle]]:
    """Object and scene classes by name (two small queries on the leader)."""
    objects = {
        name: ClassStyle(name, display or name, colour)
        for name, display, colour in ObjectClass.objects.values_list(
            "name", "display_name", "colour"
        )
    }
    scenes = {
        name: ClassStyle(name, display or name, colour)
        for name, display, colour in SceneClass.objects.values_list(
            "name", "display_name", "colour"
        )
    }
    return objects, scenes


def tasks_finished_per_minute(*, owner: User, minutes: int = 60) -> list[int]:
    """Tasks finished in each of the last ``minutes`` minutes, oldest first."""
    now = timezone.now().replace(second=0, microsecond=0) + timedelta(minutes=1)
    since = now - timedelta(minutes=minutes)
    counts = dict(
        Task.objects.filter(owner=owner, finished_at__gte=since, finished_at__lt=now)
        .annotate(minute=TruncMinute("finished_at"))
        .values_list("minute")
        .annotate(count=Count("id"))
        .values_list("minute", "count")
    )
    return [counts.get(since + timedelta(minutes=index), 0) for index in range(minutes)]


# The evaluation part and the scalar metrics of each kind. A shipped card records the
# numbers of both heads of its joint network on both versions; each card shows its own.
_EVALUATION_PART = {
    ModelVersion.Kind.DETECTOR.value: "detection",
    ModelVersion.Kind.SCENE.value: "scene",
}
_SCENE_METRICS = frozenset({"accuracy", "scene_accuracy"})


def model_version_plots(*, version: ModelVersion) -> dict[str, str]:
    """The evaluation plot recorded on ``version`` for its own kind: {part: path}.

    ``manage.py evaluate`` records paths relative to MEDIA_ROOT; a shipped or trained
    card records them relative to the folder of its weights (``model_version_plot_file``
    looks in both).
    """
    evaluation = (version.metrics or {}).get("evaluation") or {}
    part = _EVALUATION_PART.get(str(version.kind))
    section = evaluation.get(part) if isinstance(evaluation, dict) and part else None
    if part and isinstance(section, dict) and isinstance(section.get("plot"), str):
        return {part: section["plot"]}
    return {}


def model_version_plot_file(*, version: ModelVersion, part: str) -> Path | None:
    """The PNG file of one of ``version``'s plots, only if it lies under MEDIA_ROOT or in
    the folder of the version's weights (where the shipped plots are)."""
    relative = model_version_plots(version=version).get(part)
    if relative is None:
        return None
    roots = (
        Path(settings.MEDIA_ROOT).resolve(),
        model_version_weights_file(version=version).resolve().parent,
    )
    for root in roots:
        path = (root / relative).resolve()
        if path.is_relative_to(root) and path.suffix == ".png" and path.is_file():
            return path
    return None


def model_version_headline_metrics(*, version: ModelVersion) -> dict[str, float]:
    """The scalar metrics of ``version``'s own kind: mAP for a detector, accuracy for a
    scene classifier."""
    scene = version.kind == ModelVersion.Kind.SCENE
    return {
        key: float(value)
        for key, value in (version.metrics or {}).items()
        if isinstance(value, int | float)
        and not isinstance(value, bool)
        and (key in _SCENE_METRICS) == scene
    }
