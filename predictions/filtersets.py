"""Filters of task lists, shared by the API and the gallery."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet

from predictions.models import Task


class TaskFilterSet(django_filters.FilterSet):  # type: ignore[misc]  # untyped library
    status = django_filters.ChoiceFilter(choices=Task.Status.choices)
    scene = django_filters.CharFilter(
        field_name="scene_class__name", help_text="Scene class name, e.g. house."
    )
    object = django_filters.CharFilter(
        method="filter_object", help_text="Only tasks containing this object class, e.g. star."
    )
    min_score = django_filters.NumberFilter(
        field_name="scene_score", lookup_expr="gte", help_text="Minimum scene score."
    )
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Task
        fields = ["status", "scene", "object", "min_score", "created_after", "created_before"]

    def filter_object(self, queryset: QuerySet[Task], name: str, value: str) -> QuerySet[Task]:
        del name
        return queryset.filter(object_counts__has_key=value) if value else queryset
