"""Which migrations run on which database.

The leader (``default``) holds every Django table. A shard database holds only the
real ``predictions`` table of its partition, built by ``sql_shards`` operations that
carry the hint ``{"shard": True}``; everything else is kept off the shards.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings


def is_shard_alias(alias: str) -> bool:
    return alias in settings.SHARD_ALIASES


class ShardRouter:
    def allow_migrate(
        self, db: str, app_label: str, model_name: str | None = None, **hints: Any
    ) -> bool:
        del model_name  # Placement depends on the app and the hint alone.
        on_shard = bool(hints.get("shard"))
        if is_shard_alias(db):
            return app_label == "sql_shards" and on_shard
        return not on_shard
