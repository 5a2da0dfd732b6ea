from __future__ import annotations

from django.apps import AppConfig


class MlModelsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "ml_models"
    verbose_name = "Models and classes"
