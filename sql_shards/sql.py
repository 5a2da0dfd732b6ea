"""The raw SQL of the sharded ``predictions`` table, built from the database settings.

Migrations call these builders so that host names, database names and credentials
come from the environment at migrate time and never sit in a migration file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings

PARENT_TABLE = "predictions_prediction"
# Every postgres_fdw server of ours is ``vision_<name>``; ``<name>`` is what users type.
SERVER_PREFIX = "vision_"
# The columns of the parent, in order, as every copy and replay names them.
COLUMNS = (
    "task_id, id, kind, object_class_id, scene_class_id, score, "
    "x1, y1, x2, y2, model_version_id, created_at"
)

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
        return f"{SERVER_PREFIX}{self.alias}"

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
    return connection_options(host=shard.host, port=shard.port, dbname=shard.dbname)


def connection_options(*, host: str, port: str, dbname: str) -> dict[str, str]:
    """A foreign server's options: where it is, and how the leader talks to it."""
    return {
        "host": host,
        "port": port,
        "dbname": dbname,
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


# --- Resharding ---------------------------------------------------------------------
# A partition made by ``shards split`` or ``shards move`` is named for its bound
# (``predictions_prediction_m8r5``); on the leader a foreign one also carries its
# server's name, so that a partition moving between servers never meets its own name.


def partition_name(*, modulus: int, remainder: int) -> str:
    return f"{PARENT_TABLE}_m{modulus}r{remainder}"


def leader_partition_name(*, modulus: int, remainder: int, location: str) -> str:
    name = partition_name(modulus=modulus, remainder=remainder)
    return name if location == "leader" else f"{name}_{location}"


def hash_check_sql(*, modulus: int, remainder: int) -> str:
    """The leader's own partition constraint, as a CHECK: a table carrying it is attached
    without PostgreSQL scanning it (measured: 125,000 rows attached in 0.5 ms)."""
    return (
        f"CHECK (satisfies_hash_partition({quote_literal(PARENT_TABLE)}::regclass, "
        f"{modulus}, {remainder}, task_id))"
    )


def remote_partition_sql(*, modulus: int, remainder: int) -> str:
    """A partition's real table on a shard server, guarded to its own bound.

    Like the shards' first tables (:func:`shard_table_sql`), it is hash-partitioned
    with a single partition, so the server itself rejects a row of any other bound.
    Written for ``dblink_exec``: one string, run in one transaction, rerunnable.
    """
    table = partition_name(modulus=modulus, remainder=remainder)
    return (
        f"CREATE TABLE IF NOT EXISTS {table} ({SHARD_COLUMNS}, PRIMARY KEY (task_id, id)) "
        f"PARTITION BY HASH (task_id); "
        f"CREATE TABLE IF NOT EXISTS {table}_guard PARTITION OF {table} "
        f"FOR VALUES WITH (MODULUS {modulus}, REMAINDER {remainder}); "
        f"COMMENT ON TABLE {table} IS "
        + quote_literal(
            f"vision_site predictions partition: only rows with hash(task_id) remainder "
            f"{remainder} of {modulus} are accepted here"
        )
    )


def staging_table_sql(*, staging: str) -> str:
    """The leader's staging parent: the new partitions hang from it while they fill."""
    return (
        f"CREATE TABLE {staging} (LIKE {PARENT_TABLE} INCLUDING DEFAULTS) "
        f"PARTITION BY HASH (task_id)"
    )


def staging_partition_sql(
    *, staging: str, table: str, modulus: int, remainder: int, server: str | None
) -> list[str]:
    bound = f"FOR VALUES WITH (MODULUS {modulus}, REMAINDER {remainder})"
    if server is not None:
        remote = partition_name(modulus=modulus, remainder=remainder)
        return [
            f"CREATE FOREIGN TABLE {table} PARTITION OF {staging} {bound} SERVER {server} "
            f"OPTIONS (schema_name 'public', table_name {quote_literal(remote)})"
        ]
    return [
        f"CREATE TABLE {table} PARTITION OF {staging} {bound}",
        f"ALTER TABLE {table} ADD PRIMARY KEY (task_id, id)",
        f"ALTER TABLE {table} ADD CONSTRAINT {table}_hash "
        + hash_check_sql(modulus=modulus, remainder=remainder),
    ]


def capture_sql(*, log: str, table: str) -> str:
    """Change capture on the source: every row written logs its ``task_id``.

    A trigger on the table that really holds the rows (on the shard, for a foreign
    partition), so the leader's inserts keep postgres_fdw's batching. Replay re-copies
    a logged task whole, so the log needs neither the operation nor the row.
    """
    return (
        f"CREATE TABLE IF NOT EXISTS {log} "  # noqa: S608 - names built here from integers
        f"(seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, task_id bigint NOT NULL); "
        f"CREATE OR REPLACE FUNCTION {log}_capture() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN "
        f"IF TG_OP <> 'INSERT' THEN INSERT INTO public.{log} (task_id) VALUES (OLD.task_id); "
        f"END IF; "
        f"IF TG_OP <> 'DELETE' THEN INSERT INTO public.{log} (task_id) VALUES (NEW.task_id); "
        f"END IF; "
        f"RETURN NULL; END $$; "
        f"CREATE OR REPLACE TRIGGER {log}_capture AFTER INSERT OR UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {log}_capture()"
    )


def capture_drop_sql(*, log: str, table: str) -> str:
    return (
        f"DROP TRIGGER IF EXISTS {log}_capture ON {table}; "
        f"DROP FUNCTION IF EXISTS {log}_capture(); "
        f"DROP TABLE IF EXISTS {log}"
    )


def foreign_log_sql(*, log: str, server: str) -> str:
    return (
        f"CREATE FOREIGN TABLE IF NOT EXISTS {log} (seq bigint, task_id bigint) "
        f"SERVER {server} OPTIONS (schema_name 'public', table_name {quote_literal(log)})"
    )
