# One entry point for developers and CI. `make up` sets everything up and runs the
# stack on a fresh machine; `make test` runs the whole test suite.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export DJANGO_SETTINGS_MODULE := vision_site.settings
# Tests start their own Redis server (port 6390: they stop and restart it to prove
# nothing is lost) and use short leases so that recovery happens within seconds.
TEST_ENV := REDIS_URL=redis://127.0.0.1:6390/0 TASK_LEASE_SECONDS=20 TASK_REQUEUE_AFTER_SECONDS=4 TASK_SWEEP_INTERVAL_SECONDS=1

.PHONY: venv services browser databases migrate up down test lint check-docker

venv: $(BIN)/.installed

$(BIN)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

# PostgreSQL and Redis: start them if they are not answering (the machine's own
# service commands; see README for running against servers elsewhere).
services:
	@pg_isready -q -h 127.0.0.1 -p 5432 || pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start
	@for i in $$(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
	@redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 || redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
	@for i in $$(seq 30); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 1; done

# Debian's Chromium for the Playwright browser tests (Playwright's own download
# cannot reach its servers from these machines).
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

databases: venv services
	$(BIN)/python manage.py shards createdb

migrate: databases
	for alias in shard_1 shard_2 shard_3; do $(BIN)/python manage.py migrate --database $$alias --noinput; done
	$(BIN)/python manage.py migrate --noinput

up: migrate
	$(BIN)/python manage.py collectstatic --noinput -v0
	$(BIN)/python manage.py up

down:
	$(BIN)/python manage.py up --stop

# Validates docker/ without an engine (hadolint, shellcheck, compose config + schema).
check-docker:
	bash docker/validate.sh

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/pylint accounts ml_models predictions sql_shards vision_site tests $(wildcard bench) manage.py
	$(BIN)/python manage.py makemigrations --check --dry-run

test: venv services browser lint check-docker
	$(TEST_ENV) $(BIN)/pytest
