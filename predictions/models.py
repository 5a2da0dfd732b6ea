"""Tasks (one per submitted image) and their predictions.

``Prediction`` is a table partitioned by hash of ``task_id`` into four partitions:
remainder 0 is a local table on the leader, remainders 1-3 are postgres_fdw foreign
tables on three shard servers (built by ``sql_shards`` migrations). A partitioned table
with foreign partitions can hold no primary key or unique index, so the database has
none; Django's composite key ``(task, id)`` with ``id`` from a leader sequence makes
every lookup carry ``task_id`` and so be pruned to one shard.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models.expressions import RawSQL
from django.db.models.functions import Now
from psqlextra.models import PostgresPartitionedModel
from psqlextra.types import PostgresPartitioningMethod

from ml_models.models import ModelVersion, ObjectClass, SceneClass

PREDICTION_ID_SEQUENCE = "predictions_prediction_id_seq"


class Task(models.Model):
    """One submitted image and the state of its analysis.

    This row, not the broker, is the truth about the job: a task can be recovered
    from the database alone.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tasks"
    )
    image = models.FileField(upload_to="originals/", max_length=255)
    thumbnail = models.FileField(upload_to="thumbnails/", max_length=255, blank=True)
    original_name = models.CharField(max_length=255, blank=True)
    content_hash = models.CharField(max_length=64, db_index=True, help_text="SHA-256, hex.")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # When a rerun last put the task back in the queue (null: never rerun); its own
    # wait is counted from here, not from the upload.
    rerun_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # Delivery bookkeeping: when the job was last handed to the broker, and the lease
    # of the worker that claimed it. A sweep re-enqueues jobs whose message or worker
    # was lost (see predictions.services.tasks_sweep).
    enqueued_at = models.DateTimeField(null=True, blank=True)
    claim_token = models.UUIDField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # A summary of the predictions kept on the leader, so that lists and filters never
    # need to scan the shards: the scene label, its score and objects per class.
    scene_class = models.ForeignKey(
        SceneClass, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    scene_score = models.FloatField(null=True, blank=True)
    object_counts = models.JSONField(default=dict, blank=True)
    detector_version = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    scene_version = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["owner", "-created_at", "-id"], name="task_owner_newest"),
            models.Index(fields=["owner", "-scene_score", "-id"], name="task_owner_best_scene"),
            models.Index(fields=["status", "created_at"], name="task_status_created"),
            GinIndex(fields=["object_counts"], name="task_object_counts"),
        ]

    def __str__(self) -> str:
        return f"Task {self.pk} ({self.status})"


class Prediction(PostgresPartitionedModel):
    """One detected object, or one scene class with its score, for a task.

    Scene rows (``kind == scene``) have no box; a task's scene rows are its top scene
    classes, the best one being the scene label.
    """

    class PartitioningMeta:
        method = PostgresPartitioningMethod.HASH
        key = ["task_id"]

    class Kind(models.TextChoices):
        OBJECT = "object", "Object"
        SCENE = "scene", "Scene"

    pk = models.CompositePrimaryKey("task", "id")
    # Foreign partitions allow no foreign-key constraints: integrity of these
    # references is kept by the ORM (deleting a task deletes its predictions).
    task = models.ForeignKey(
        Task, on_delete=models.CASCADE, db_constraint=False, related_name="predictions"
    )
    id = models.BigIntegerField(
        db_default=RawSQL(f"nextval('{PREDICTION_ID_SEQUENCE}')", ())  # noqa: S611 - constant
    )
    kind = models.CharField(max_length=8, choices=Kind.choices)
    object_class = models.ForeignKey(
        ObjectClass,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        null=True,
        blank=True,
        related_name="+",
    )
    scene_class = models.ForeignKey(
        SceneClass,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        null=True,
        blank=True,
        related_name="+",
    )
    score = models.FloatField()
    x1 = models.FloatField(null=True, blank=True)
    y1 = models.FloatField(null=True, blank=True)
    x2 = models.FloatField(null=True, blank=True)
    y2 = models.FloatField(null=True, blank=True)
    model_version = models.ForeignKey(
        ModelVersion,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["-score"]

    def __str__(self) -> str:
        return f"{self.kind} prediction {self.id} of task {self.task_id}"

    @property
    def box(self) -> list[float] | None:
        if self.x1 is None or self.y1 is None or self.x2 is None or self.y2 is None:
            return None
        return [self.x1, self.y1, self.x2, self.y2]
