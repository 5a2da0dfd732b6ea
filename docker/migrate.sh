#!/bin/sh
# One-shot migration of the whole database layout, run by the `migrate` service
# (docker compose run --rm migrate runs it again by hand). Idempotent.
#
# Order matters: each shard's real `predictions_prediction` table first, then the
# leader, whose sql_shards 0002 migration creates postgres_fdw, a foreign server and
# user mapping per shard and the foreign partitions that point at those tables. The
# leader's migration also needs a superuser (CREATE EXTENSION postgres_fdw): the
# official postgres image's POSTGRES_USER is one.
set -eu

for alias in shard_1 shard_2 shard_3; do
    echo "migrate: --database ${alias}"
    python manage.py migrate --database "${alias}" --noinput
done

echo "migrate: leader (default)"
python manage.py migrate --noinput
