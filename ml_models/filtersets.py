"""Filters of the model and class lists of the API."""

from __future__ import annotations

import django_filters

from ml_models.models import ModelVersion, ObjectClass, SceneClass
from vision_site.filters import StrictBooleanFilter


class ObjectClassFilterSet(django_filters.FilterSet):  # type: ignore[misc]  # untyped library
    is_active = StrictBooleanFilter()

    class Meta:
        model = ObjectClass
        fields = ["is_active"]


class SceneClassFilterSet(django_filters.FilterSet):  # type: ignore[misc]  # untyped library
    is_active = StrictBooleanFilter()

    class Meta:
        model = SceneClass
        fields = ["is_active"]


class ModelVersionFilterSet(django_filters.FilterSet):  # type: ignore[misc]  # untyped library
    is_active = StrictBooleanFilter()

    class Meta:
        model = ModelVersion
        fields = ["kind", "is_active"]
