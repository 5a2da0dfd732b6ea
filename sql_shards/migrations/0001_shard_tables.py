"""On each shard database: the real predictions table, guarded to its own remainder.

Runs only with ``migrate --database shard_N`` (the router sends operations with the
``shard`` hint to shard aliases alone).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import migrations

from sql_shards import sql


def create_shard_table(apps: Any, schema_editor: Any) -> None:
    alias = schema_editor.connection.alias
    remainder = int(settings.DATABASES[alias]["PARTITION_REMAINDER"])
    for statement in sql.shard_table_sql(remainder=remainder):
        schema_editor.execute(statement)


def drop_shard_table(apps: Any, schema_editor: Any) -> None:
    for statement in sql.shard_table_reverse_sql():
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    initial = True

    operations = [
        migrations.RunPython(create_shard_table, drop_shard_table, hints={"shard": True}),
    ]
