from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from accounts.api.views import ApiTokenDetailView, ApiTokenListCreateView

# No app_name: these routes live in the "api" namespace of vision_site/urls.py.
urlpatterns: list[URLPattern | URLResolver] = [
    path("tokens/", ApiTokenListCreateView.as_view(), name="token-list"),
    path("tokens/<int:token_id>/", ApiTokenDetailView.as_view(), name="token-detail"),
]
