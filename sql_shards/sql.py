"""The raw SQL of the sharded ``predictions`` table, built from the database settings.

Migrations call these builders so that host names, database names and credentials
come from the environment at migrate time and never sit in a migration file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings

PARENT_TABLE = "predictions_prediction"

# Columns of the real table on each shard; names and types match the leader's parent.
SHARD_COLUMNS = """
    task_id bigint NOT NULL,
    id bigint NOT NULL,
    kind varchar(8) NOT NULL,
    object_class_id bigint NULL,
    scene_class_id bigint NULL,
    score double precision NOT NULL,
    x1 double precision NULL,
    y1 double precision NULL,
    x2 double precision NULL,
    y2 double precision NULL,
    model_version_id bigint NOT NULL,
    created_at timestamp with time zone NOT NULL DEFAULT now()
"""


@dataclass(frozen=True)
class Shard:
    """One shard as the leader sees it."""

    alias: str
    remainder: int
    host: str
    port: str
    dbname: str
    user: str
    password: str

    @property
    def server_name(self) -> str:
        return f"vision_{self.alias}"

    @property
    def partition_table(self) -> str:
        return f"{PARENT_TABLE}_p{self.remainder}"


def quote_literal(value: str) -> str:
    """Quote a string as an SQL literal (DDL options cannot take bound parameters)."""
    return "'" + value.replace("'", "''") + "'"


def shard_from_settings(alias: str) -> Shard:
    database: dict[str, Any] = settings.DATABASES[alias]
    return Shard(
        alias=alias,
        remainder=int(database["PARTITION_REMAINDER"]),
        host=str(database["FDW_HOST"]),
        port=str(database["FDW_PORT"]),
        dbname=str(database["NAME"]),
        user=str(database["USER"]),
        password=str(database["PASSWORD"] or ""),
    )


def all_shards() -> list[Shard]:
    return [shard_from_settings(alias) for alias in settings.SHARD_ALIASES]


def shard_table_sql(*, remainder: int) -> list[str]:
    """The real table on a shard, guarded against rows of other shards.

    The shard's own table is hash-partitioned exactly like the leader's parent but
    holds only its own remainder, so PostgreSQL itself rejects (``no partition of
    relation found for row``) any row whose ``task_id`` hashes elsewhere: an insert
    routed wrongly, or an update of ``task_id`` that would strand the row here.
    """
    modulus = settings.PREDICTION_PARTITIONS
    return [
        f"CREATE TABLE {PARENT_TABLE} ({SHARD_COLUMNS}) PARTITION BY HASH (task_id)",
        f"COMMENT ON TABLE {PARENT_TABLE} IS "
        + quote_literal(
            f"vision_site predictions shard: only rows with hash(task_id) remainder "
            f"{remainder} of {modulus} are accepted here"
        ),
        f"CREATE TABLE {PARENT_TABLE}_p{remainder} PARTITION OF {PARENT_TABLE} "
        f"FOR VALUES WITH (MODULUS {modulus}, REMAINDER {remainder})",
        f"ALTER TABLE {PARENT_TABLE} ADD PRIMARY KEY (task_id, id)",
    ]


def shard_table_reverse_sql() -> list[str]:
    return [f"DROP TABLE {PARENT_TABLE}"]


def server_options(shard: Shard) -> dict[str, str]:
    return {
        "host": shard.host,
        "port": shard.port,
        "dbname": shard.dbname,
        # Rows of a multi-row INSERT through the parent travel in batches.
        "batch_size": str(settings.SHARD_FDW_BATCH_SIZE),
        # Scans of several shards run concurrently.
        "async_capable": "true",
        "connect_timeout": str(settings.SHARD_CONNECT_TIMEOUT),
        "fetch_size": "1000",
    }


def user_mapping_options(shard: Shard) -> dict[str, str]:
    options = {"user": shard.user}
    if shard.password:
        options["password"] = shard.password
    return options


def render_options(options: dict[str, str]) -> str:
    return ", ".join(f"{key} {quote_literal(value)}" for key, value in options.items())


def foreign_partition_sql(shard: Shard) -> list[str]:
    modulus = settings.PREDICTION_PARTITIONS
    return [
        f"CREATE SERVER {shard.server_name} FOREIGN DATA WRAPPER postgres_fdw "
        f"OPTIONS ({render_options(server_options(shard))})",
        f"CREATE USER MAPPING FOR PUBLIC SERVER {shard.server_name} "
        f"OPTIONS ({render_options(user_mapping_options(shard))})",
        f"CREATE FOREIGN TABLE {shard.partition_table} PARTITION OF {PARENT_TABLE} "
        f"FOR VALUES WITH (MODULUS {modulus}, REMAINDER {shard.remainder}) "
        f"SERVER {shard.server_name} "
        f"OPTIONS (schema_name 'public', table_name {quote_literal(PARENT_TABLE)})",
    ]


def foreign_partition_reverse_sql(shard: Shard) -> list[str]:
    return [
        f"DROP FOREIGN TABLE {shard.partition_table}",
        f"DROP USER MAPPING FOR PUBLIC SERVER {shard.server_name}",
        f"DROP SERVER {shard.server_name}",
    ]
