"""On the leader: postgres_fdw, one foreign server and user mapping per shard, and the
foreign partitions (remainders 1-3) of the predictions parent.

``CREATE EXTENSION postgres_fdw`` needs a superuser; so does a user mapping to a shard
that trusts connections without a password.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

from sql_shards import sql


def create_foreign_partitions(apps: Any, schema_editor: Any) -> None:
    for shard in sql.all_shards():
        for statement in sql.foreign_partition_sql(shard):
            schema_editor.execute(statement)


def drop_foreign_partitions(apps: Any, schema_editor: Any) -> None:
    for shard in reversed(sql.all_shards()):
        for statement in sql.foreign_partition_reverse_sql(shard):
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("sql_shards", "0001_shard_tables"),
        ("predictions", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(
            "CREATE EXTENSION IF NOT EXISTS postgres_fdw",
            "DROP EXTENSION IF EXISTS postgres_fdw",
        ),
        migrations.RunPython(create_foreign_partitions, drop_foreign_partitions),
    ]
