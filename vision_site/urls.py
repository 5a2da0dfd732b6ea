from __future__ import annotations

from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from vision_site.views import healthz

api_v1: list[URLPattern | URLResolver] = [
    path("", include("accounts.api.urls")),
    path("", include("predictions.api.urls")),
    path("", include("ml_models.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("api/v1/", include((api_v1, "api"), namespace="api")),
    path("accounts/", include("accounts.urls")),
    path("", include("predictions.urls")),
]

# The API's JSON error body under /api/, Django's pages elsewhere (vision_site.exceptions).
handler400 = "vision_site.exceptions.bad_request"
handler403 = "vision_site.exceptions.permission_denied"
handler404 = "vision_site.exceptions.page_not_found"
handler500 = "vision_site.exceptions.server_error"
