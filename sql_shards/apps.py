from __future__ import annotations

from django.apps import AppConfig


class SqlShardsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "sql_shards"
    verbose_name = "SQL shards"
