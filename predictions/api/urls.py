from __future__ import annotations

from django.urls import URLPattern, URLResolver, path
from rest_framework.routers import SimpleRouter

from predictions.api.views import StatsView, TaskViewSet

router = SimpleRouter()
router.register("tasks", TaskViewSet, basename="task")

urlpatterns: list[URLPattern | URLResolver] = [
    path("stats/", StatsView.as_view(), name="stats"),
    *router.urls,
]
