"""Fixtures for resharding: a layout put back as migrations built it, and a spare server."""

# Fixtures name the fixtures they depend on as arguments, used or not.
# pylint: disable=unused-argument,redefined-outer-name

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.conf import settings
from django.db import connection
from psycopg import sql as pgsql

from sql_shards.services import maintenance_connection
from sql_shards.sql import SERVER_PREFIX, shard_from_settings

ORIGINAL_PARTITIONS = {
    f"predictions_prediction_p{remainder}": remainder
    for remainder in range(settings.PREDICTION_PARTITIONS)
}
# Everything resharding may leave on a server, named as sql.py names it.
_LEFTOVERS_SQL = """
DO $$
DECLARE item record;
BEGIN
    FOR item IN SELECT tgname, tgrelid::regclass AS rel FROM pg_trigger
        WHERE tgname LIKE 'predictions_reshard_%' AND tgparentid = 0 LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', item.tgname, item.rel);
    END LOOP;
    FOR item IN SELECT oid::regprocedure AS proc FROM pg_proc
        WHERE proname LIKE 'predictions_reshard_%' LOOP
        EXECUTE format('DROP FUNCTION %s', item.proc);
    END LOOP;
    FOR item IN SELECT relname, relkind FROM pg_class
        WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p', 'f')
        AND (relname LIKE 'predictions_reshard_%' OR relname LIKE 'predictions_prediction_m%')
        AND NOT relispartition LOOP
        EXECUTE format('DROP %s IF EXISTS %I CASCADE',
            CASE item.relkind WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, item.relname);
    END LOOP;
END $$
"""


def _dblink_exec(server: str, statement: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT dblink_exec(%s, %s)", [server, statement])


def layout_restore() -> None:
    """Put the leader and the shards back to migrations' four partitions (4 of 4).

    Tests never drop an original partition, so this detaches whatever a test attached,
    drops what resharding built, and attaches the originals again.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT child.relname FROM pg_inherits JOIN pg_class child "
            "ON child.oid = pg_inherits.inhrelid "
            "WHERE pg_inherits.inhparent = 'predictions_prediction'::regclass"
        )
        attached = {str(row[0]) for row in cursor.fetchall()}
        for table in sorted(attached - set(ORIGINAL_PARTITIONS)):
            cursor.execute(f"ALTER TABLE predictions_prediction DETACH PARTITION {table}")
        for alias in settings.SHARD_ALIASES:
            _dblink_exec(shard_from_settings(alias).server_name, _LEFTOVERS_SQL)
        cursor.execute(_LEFTOVERS_SQL)
        for table, remainder in ORIGINAL_PARTITIONS.items():
            if table not in attached:
                cursor.execute(
                    f"ALTER TABLE predictions_prediction ATTACH PARTITION {table} "
                    f"FOR VALUES WITH (MODULUS {settings.PREDICTION_PARTITIONS}, "
                    f"REMAINDER {remainder})"
                )
        known = [shard_from_settings(alias).server_name for alias in settings.SHARD_ALIASES]
        cursor.execute(
            "SELECT srvname FROM pg_foreign_server WHERE srvname LIKE %s AND NOT srvname = ANY(%s)",
            [f"{SERVER_PREFIX}%", known],
        )
        for (server,) in cursor.fetchall():
            cursor.execute(f"DROP SERVER {server} CASCADE")
        cursor.execute("SELECT postgres_fdw_disconnect_all()")


@pytest.fixture
def fresh_layout(transactional_db: None) -> Iterator[None]:
    layout_restore()
    yield
    layout_restore()


@pytest.fixture
def spare_server(fresh_layout: None) -> Iterator[str]:
    """The URL of an empty database to add as a server; dropped afterwards."""
    database = settings.DATABASES["default"]
    name = f"{database['NAME']}_spare"
    assert name.startswith("test_")
    with maintenance_connection() as maintenance:
        maintenance.execute(
            pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name))
        )
        maintenance.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
    credentials = database["USER"] + (f":{database['PASSWORD']}" if database["PASSWORD"] else "")
    yield f"postgres://{credentials}@{database['HOST']}:{database['PORT']}/{name}"
    layout_restore()
    with maintenance_connection() as maintenance:
        maintenance.execute(
            pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name))
        )
