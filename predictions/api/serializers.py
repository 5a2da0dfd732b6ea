from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse

from predictions.models import Task
from vision_site.schema import ApiErrorSerializer


class TaskSubmitSerializer(serializers.Serializer[dict[str, Any]]):
    """Multipart input of ``POST /tasks/``: images, ZIP archives, an optional wait.

    Send at least one file, in ``image`` or in ``archive``; each field may be repeated.
    """

    image = serializers.ListField(
        child=serializers.FileField(allow_empty_file=True),
        required=False,
        default=list,
        help_text="Image files (JPEG, PNG, WEBP, BMP, TIFF, GIF); repeat the field per file. "
        "This or 'archive' must hold at least one file.",
    )
    archive = serializers.ListField(
        child=serializers.FileField(allow_empty_file=True),
        required=False,
        default=list,
        help_text="ZIP archives of images; repeat the field per archive. "
        "This or 'image' must hold at least one file.",
    )
    wait = serializers.FloatField(
        required=False,
        default=0.0,
        min_value=0.0,
        max_value=settings.TASK_WAIT_MAX_SECONDS,
        help_text="Seconds to wait for results before answering (bounded).",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs["image"] and not attrs["archive"]:
            raise serializers.ValidationError(
                "Send at least one file in the field 'image' (repeat it per file) "
                "or 'archive' (a ZIP)."
            )
        total = len(attrs["image"]) + len(attrs["archive"])
        if total > settings.UPLOAD_MAX_FILES:
            raise serializers.ValidationError(
                f"{total} files sent; at most {settings.UPLOAD_MAX_FILES} per request."
            )
        return attrs


class TaskRerunSerializer(serializers.Serializer[dict[str, Any]]):
    """Which tasks to run again: give ``ids``, or ``stale: true``, or both (neither is a
    400)."""

    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        help_text="Ids of your tasks to rerun. Required unless 'stale' is true.",
    )
    stale = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Rerun every finished task whose predictions are missing or come "
        "from a version other than the active one.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("ids") and not attrs["stale"]:
            raise serializers.ValidationError("Give 'ids' to rerun, or 'stale': true.")
        return attrs


class TaskSerializer(serializers.ModelSerializer[Task]):
    """A task; once done it also carries SPEC.md's result fields."""

    url = serializers.SerializerMethodField()
    image_url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()
    # null until the task is done (and for a failed one)
    scene_label = serializers.CharField(
        source="scene_class.name", default=None, allow_null=True, read_only=True
    )

    class Meta:
        model = Task
        fields = [
            "id",
            "status",
            "error",
            "created_at",
            "started_at",
            "finished_at",
            "attempts",
            "url",
            "image_url",
            "thumbnail_url",
            "original_name",
            "width",
            "height",
            "scene_label",
            "scene_score",
            "object_counts",
        ]
        read_only_fields = fields

    def _reverse(self, name: str, task: Task) -> str:
        return reverse(name, kwargs={"pk": task.pk}, request=self.context.get("request"))

    def get_url(self, task: Task) -> str:
        return self._reverse("api:task-detail", task)

    def get_image_url(self, task: Task) -> str:
        return self._reverse("api:task-image", task)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_thumbnail_url(self, task: Task) -> str | None:
        return self._reverse("api:task-thumbnail", task) if task.thumbnail else None


class SubmittedTaskSerializer(serializers.Serializer[Task]):
    id = serializers.IntegerField()
    status = serializers.CharField()
    url = serializers.CharField()


class SubmissionResponseSerializer(serializers.Serializer[dict[str, Any]]):
    """Documents the 202 answer of ``POST /tasks/``."""

    tasks = SubmittedTaskSerializer(many=True)
    errors = serializers.ListField(child=serializers.DictField())  # type: ignore[assignment]
    message = serializers.CharField()


class SubmissionRejectedSerializer(ApiErrorSerializer):
    """Documents the 400 answer of ``POST /tasks/``: the error and, where files were
    read but none could be accepted, each file's reason."""

    tasks = SubmittedTaskSerializer(many=True, required=False)
    errors = serializers.ListField(child=serializers.DictField(), required=False)  # type: ignore[assignment]
