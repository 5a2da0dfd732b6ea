"""Every migration reverses to zero on the leader and the shards, and applies again."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connections
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def _tables(alias: str) -> set[str]:
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'f') "
            "AND c.relname <> 'django_migrations'"
        )
        return {row[0] for row in cursor.fetchall()}


def _servers(alias: str) -> set[str]:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT srvname FROM pg_foreign_server")
        return {row[0] for row in cursor.fetchall()}


def _migrate(alias: str, *, to_zero: bool) -> None:
    executor = MigrationExecutor(connections[alias])
    if to_zero:
        targets = [(app, None) for app in sorted(executor.loader.migrated_apps)]
    else:
        targets = executor.loader.graph.leaf_nodes()
    executor.migrate(targets)


def test_migrations_reverse_to_zero_and_apply_again() -> None:
    leader_tables = _tables("default")
    assert {
        "predictions_prediction",
        "predictions_prediction_p0",
        "predictions_prediction_p3",
    } <= leader_tables
    assert _servers("default") == {f"vision_{alias}" for alias in settings.SHARD_ALIASES}

    # The leader's foreign partitions point at the shards: take the leader down first.
    _migrate("default", to_zero=True)
    for alias in settings.SHARD_ALIASES:
        _migrate(alias, to_zero=True)

    assert _tables("default") == set()
    assert _servers("default") == set()
    for alias in settings.SHARD_ALIASES:
        assert _tables(alias) == set()

    for alias in settings.SHARD_ALIASES:
        _migrate(alias, to_zero=False)
    _migrate("default", to_zero=False)

    assert _tables("default") == leader_tables
    for alias in settings.SHARD_ALIASES:
        assert _tables(alias) == {"predictions_prediction", f"predictions_prediction_p{alias[-1]}"}
