"""On the leader: the record of splits and moves, and dblink, through which the leader
builds a split's tables on the shards with the foreign servers' own connection settings.

``CREATE EXTENSION dblink`` needs a superuser, as postgres_fdw did (0002).
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("sql_shards", "0002_foreign_partitions"),
    ]

    operations = [
        migrations.RunSQL(
            "CREATE EXTENSION IF NOT EXISTS dblink", "DROP EXTENSION IF EXISTS dblink"
        ),
        migrations.CreateModel(
            name="Reshard",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "kind",
                    models.CharField(choices=[("split", "Split"), ("move", "Move")], max_length=8),
                ),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("copying", "Copying"),
                            ("catching_up", "Catching up"),
                            ("switched", "Switched"),
                            ("verified", "Verified"),
                            ("done", "Done (source dropped)"),
                            ("aborted", "Aborted"),
                        ],
                        default="copying",
                        max_length=16,
                    ),
                ),
                ("source_table", models.CharField(max_length=63)),
                ("source_modulus", models.PositiveIntegerField()),
                ("source_remainder", models.PositiveIntegerField()),
                ("source_location", models.CharField(max_length=63)),
                ("source_remote_table", models.CharField(blank=True, max_length=63)),
                ("destination", models.CharField(max_length=63)),
                ("targets", models.JSONField(default=list)),
                ("cursor_task_id", models.BigIntegerField(blank=True, null=True)),
                ("cursor_id", models.BigIntegerField(blank=True, null=True)),
                ("rows_copied", models.BigIntegerField(default=0)),
                ("tasks_replayed", models.BigIntegerField(default=0)),
                ("switch_ms", models.FloatField(blank=True, null=True)),
                ("source_rows", models.BigIntegerField(blank=True, null=True)),
                ("error", models.TextField(blank=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("switched_at", models.DateTimeField(blank=True, null=True)),
            ],
            options={
                "ordering": ["-id"],
            },
        ),
    ]
