"""Admin of tasks: status filters, a read-only view of their predictions fetched from
their shard, and a rerun action (staff may rerun anyone's tasks)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from predictions.models import Prediction, Task
from predictions.selectors import predictions_for_task
from predictions.services import tasks_rerun_by_staff
from sql_shards.errors import ShardUnavailableError
from sql_shards.selectors import shard_for_task


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin[Task]):
    list_display = (
        "id",
        "original_name",
        "owner",
        "status",
        "scene_class",
        "scene_score",
        "created_at",
        "finished_at",
        "attempts",
    )
    list_filter = ("status", "scene_class", "detector_version", "scene_version", "created_at")
    list_select_related = ("owner", "scene_class")
    search_fields = ("=id", "original_name", "owner__username", "content_hash")
    date_hierarchy = "created_at"
    show_full_result_count = False  # no COUNT(*) over every task on each page
    actions = ("rerun",)
    fieldsets = (
        (None, {"fields": ("owner", "original_name", "preview", "size", "status", "error")}),
        (
            "Timing",
            {"fields": ("created_at", "enqueued_at", "started_at", "finished_at", "attempts")},
        ),
        (
            "Result",
            {
                "fields": (
                    "scene_class",
                    "scene_score",
                    "object_counts",
                    "detector_version",
                    "scene_version",
                    "shard",
                    "predictions_table",
                )
            },
        ),
    )
    readonly_fields = (
        "owner",
        "original_name",
        "preview",
        "size",
        "status",
        "error",
        "created_at",
        "enqueued_at",
        "started_at",
        "finished_at",
        "attempts",
        "scene_class",
        "scene_score",
        "object_counts",
        "detector_version",
        "scene_version",
        "shard",
        "predictions_table",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # tasks come from uploads

    def has_change_permission(self, request: HttpRequest, obj: Task | None = None) -> bool:
        del obj
        return False  # read-only: the worker owns a task's state

    def has_delete_permission(self, request: HttpRequest, obj: Task | None = None) -> bool:
        del obj
        return False  # deleting goes through task_delete (the owner's page or the API)

    @admin.action(description="Rerun the selected tasks with the active models")
    def rerun(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        ids = tasks_rerun_by_staff(task_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"Queued {len(ids)} task(s) to run again.", messages.SUCCESS)

    @admin.display(description="Image")
    def preview(self, obj: Task) -> SafeString:
        if not obj.thumbnail:
            return format_html("<span>{}</span>", "—")
        url = reverse("admin:predictions_task_thumbnail", args=[obj.pk])
        return format_html('<img src="{}" alt="" style="max-width:20rem;max-height:15rem">', url)

    @admin.display(description="Size")
    def size(self, obj: Task) -> str:
        return f"{obj.width} x {obj.height} px"

    @admin.display(description="Shard")
    def shard(self, obj: Task) -> str:
        return shard_for_task(task_id=obj.pk)

    @admin.display(description="Predictions")
    def predictions_table(self, obj: Task) -> SafeString:
        try:
            predictions = predictions_for_task(task_id=obj.pk)
        except ShardUnavailableError as error:
            return format_html(
                '<p class="errornote" role="alert"><strong>Shard {} is unavailable.</strong> '
                "This task's predictions cannot be read until it answers again. ({})</p>",
                error.shard,
                error.detail,
            )
        if not predictions:
            return format_html("<span>{}</span>", "No predictions stored.")

        def describe(prediction: Prediction) -> tuple[str, str, str, str]:
            # predictions_for_task joins the class names in (no query per row).
            found = (
                prediction.scene_class
                if prediction.kind == Prediction.Kind.SCENE
                else prediction.object_class
            )
            label = found.name if found else "unknown"
            box = prediction.box
            return (
                prediction.get_kind_display(),
                label,
                f"{prediction.score:.3f}",
                ", ".join(f"{value:.0f}" for value in box) if box else "",
            )

        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            (describe(prediction) for prediction in predictions),
        )
        return format_html(
            "<table><thead><tr><th>Kind</th><th>Class</th><th>Score</th><th>Box</th></tr>"
            "</thead><tbody>{}</tbody></table>",
            rows,
        )

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<int:task_id>/thumbnail/",
                self.admin_site.admin_view(self.thumbnail_view),
                name="predictions_task_thumbnail",
            ),
            *super().get_urls(),
        ]

    def thumbnail_view(self, request: HttpRequest, task_id: int) -> FileResponse:
        task = Task.objects.filter(pk=task_id).first()
        if task is None or not self.has_view_permission(request, task) or not task.thumbnail:
            raise Http404("No such thumbnail.")
        try:
            return FileResponse(task.thumbnail.open("rb"))
        except FileNotFoundError as error:
            raise Http404("The thumbnail is missing from storage.") from error
