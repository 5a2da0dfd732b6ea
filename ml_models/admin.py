"""Admin of the class dictionaries and model versions.

Per-class counts come from the leader-side summaries on ``Task`` (``object_counts`` and
``scene_class``), one correlated subquery in the list's single query: the sharded
predictions table is never scanned.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from ml_models.models import ModelVersion, ObjectClass, SceneClass
from ml_models.services import model_version_activate
from predictions.models import Task
from predictions.selectors import model_version_headline_metrics, model_version_plots

_OBJECT_COUNT_SQL = (
    "SELECT coalesce(sum((predictions_task.object_counts ->> ml_models_objectclass.name)::int), 0)"
    " FROM predictions_task"
    " WHERE predictions_task.status = 'done'"
    " AND predictions_task.object_counts ? ml_models_objectclass.name"
)


def _colour_swatch(colour: str) -> SafeString:
    return format_html(
        '<span title="{}" style="display:inline-block;width:1.4em;height:1.4em;'
        'border-radius:4px;vertical-align:middle;background:{}"></span>',
        colour,
        colour,
    )


@admin.register(ObjectClass)
class ObjectClassAdmin(admin.ModelAdmin[ObjectClass]):
    list_display = ("name", "display_name", "swatch", "colour", "is_active", "prediction_count")
    list_editable = ("display_name", "colour", "is_active")
    list_filter = ("is_active",)
    search_fields = ("name", "display_name", "description")

    def get_queryset(self, request: HttpRequest) -> QuerySet[ObjectClass]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                predictions=RawSQL(  # noqa: S611 - constant SQL, no user input
                    _OBJECT_COUNT_SQL, (), output_field=IntegerField()
                )
            )
        )

    @admin.display(description="Objects found", ordering="predictions")
    def prediction_count(self, obj: ObjectClass) -> int:
        return int(getattr(obj, "predictions", 0) or 0)

    @admin.display(description="")
    def swatch(self, obj: ObjectClass) -> SafeString:
        return _colour_swatch(obj.colour)


@admin.register(SceneClass)
class SceneClassAdmin(admin.ModelAdmin[SceneClass]):
    list_display = ("name", "display_name", "swatch", "colour", "is_active", "prediction_count")
    list_editable = ("display_name", "colour", "is_active")
    list_filter = ("is_active",)
    search_fields = ("name", "display_name", "description")

    def get_queryset(self, request: HttpRequest) -> QuerySet[SceneClass]:
        per_scene = (
            Task.objects.filter(scene_class=OuterRef("pk"), status=Task.Status.DONE)
            .order_by()
            .values("scene_class")
            .annotate(count=Count("id"))
            .values("count")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(predictions=Coalesce(Subquery(per_scene), Value(0)))
        )

    @admin.display(description="Images with this scene", ordering="predictions")
    def prediction_count(self, obj: SceneClass) -> int:
        return int(getattr(obj, "predictions", 0) or 0)

    @admin.display(description="")
    def swatch(self, obj: SceneClass) -> SafeString:
        return _colour_swatch(obj.colour)


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin[ModelVersion]):
    list_display = ("name", "kind", "architecture", "input_size", "is_active", "headline_metrics")
    list_filter = ("kind", "is_active")
    search_fields = ("name", "architecture")
    actions = ("activate",)
    readonly_fields = (
        "created_at",
        "is_active",
        "metrics_table",
        "plots",
        "card_pretty",
        "metrics_pretty",
    )
    fieldsets = (
        (None, {"fields": ("name", "kind", "architecture", "weights_path", "input_size")}),
        ("Classes", {"fields": ("classes",)}),
        ("State", {"fields": ("is_active", "created_at")}),
        ("Evaluation", {"fields": ("metrics_table", "plots", "metrics_pretty")}),
        ("Training card", {"fields": ("card_pretty",), "classes": ("collapse",)}),
    )

    @admin.action(description="Activate (one per kind; the previous one of its kind stops)")
    def activate(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        versions = list(queryset.order_by("kind", "-created_at"))
        kinds = [version.kind for version in versions]
        if len(set(kinds)) != len(kinds):
            self.message_user(
                request,
                "Select at most one version of each kind: only one can be active.",
                messages.ERROR,
            )
            return
        for version in versions:
            model_version_activate(version=version)
            kind = version.get_kind_display().lower()
            self.message_user(
                request, f"Activated {version.name}: the active {kind} now.", messages.SUCCESS
            )

    @admin.display(description="Metrics")
    def headline_metrics(self, obj: ModelVersion) -> str:
        metrics = model_version_headline_metrics(version=obj)
        return ", ".join(f"{name} {value:.3f}" for name, value in metrics.items()) or "—"

    @admin.display(description="Headline metrics")
    def metrics_table(self, obj: ModelVersion) -> SafeString:
        metrics = model_version_headline_metrics(version=obj)
        if not metrics:
            return format_html("<span>{}</span>", "Not evaluated yet (manage.py evaluate).")
        rows = format_html_join(
            "", "<tr><th>{}</th><td>{}</td></tr>", ((k, f"{v:.4f}") for k, v in metrics.items())
        )
        return format_html("<table>{}</table>", rows)

    @admin.display(description="Evaluation plots")
    def plots(self, obj: ModelVersion) -> SafeString:
        parts = list(model_version_plots(version=obj))
        if not parts:
            return format_html("<span>{}</span>", "No plots recorded.")
        return format_html_join(
            "",
            '<figure style="margin:0 0 1em"><img src="{}" alt="{} plot" '
            'style="max-width:36rem;width:100%;background:#fff"><figcaption>{}</figcaption>'
            "</figure>",
            (
                (reverse("predictions:model_plot", args=[obj.pk, part]), part, part.capitalize())
                for part in parts
            ),
        )

    @admin.display(description="Card (JSON)")
    def card_pretty(self, obj: ModelVersion) -> SafeString:
        return _pretty_json(obj.card)

    @admin.display(description="All metrics (JSON)")
    def metrics_pretty(self, obj: ModelVersion) -> SafeString:
        return _pretty_json(obj.metrics)


def _pretty_json(value: Any) -> SafeString:
    text = json.dumps(value or {}, indent=2, sort_keys=True)
    return format_html(
        '<pre style="max-height:30rem;overflow:auto;white-space:pre-wrap">{}</pre>', text
    )
