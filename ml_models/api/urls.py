from __future__ import annotations

from django.urls import URLPattern, URLResolver
from rest_framework.routers import SimpleRouter

from ml_models.api.views import ModelVersionViewSet, ObjectClassViewSet, SceneClassViewSet

router = SimpleRouter()
router.register("classes/objects", ObjectClassViewSet, basename="object-class")
router.register("classes/scenes", SceneClassViewSet, basename="scene-class")
router.register("models", ModelVersionViewSet, basename="model-version")

urlpatterns: list[URLPattern | URLResolver] = [*router.urls]
