from __future__ import annotations

from django.db.models import QuerySet
from rest_framework import viewsets

from ml_models.api.serializers import (
    ModelVersionSerializer,
    ObjectClassSerializer,
    SceneClassSerializer,
)
from ml_models.filtersets import (
    ModelVersionFilterSet,
    ObjectClassFilterSet,
    SceneClassFilterSet,
)
from ml_models.models import ModelVersion, ObjectClass, SceneClass


class ObjectClassViewSet(viewsets.ReadOnlyModelViewSet[ObjectClass]):
    """The detector's object classes."""

    serializer_class = ObjectClassSerializer
    pagination_class = None
    filterset_class = ObjectClassFilterSet

    def get_queryset(self) -> QuerySet[ObjectClass]:
        return ObjectClass.objects.order_by("name")


class SceneClassViewSet(viewsets.ReadOnlyModelViewSet[SceneClass]):
    """The scene classifier's scene classes."""

    serializer_class = SceneClassSerializer
    pagination_class = None
    filterset_class = SceneClassFilterSet

    def get_queryset(self) -> QuerySet[SceneClass]:
        return SceneClass.objects.order_by("name")


class ModelVersionViewSet(viewsets.ReadOnlyModelViewSet[ModelVersion]):
    """Model versions with their active flags and measured metrics."""

    serializer_class = ModelVersionSerializer
    pagination_class = None
    filterset_class = ModelVersionFilterSet

    def get_queryset(self) -> QuerySet[ModelVersion]:
        return ModelVersion.objects.order_by("kind", "-created_at")
