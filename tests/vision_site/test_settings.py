"""The settings module: production refuses to start without its secrets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from vision_site.env import env_bool, env_choice, parse_database_url

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_SECRETS = {
    "SECRET_KEY": "a-long-production-secret",
    "ALLOWED_HOSTS": "vision.example.com",
    "DATABASE_URL": "postgres://vision:pw@leader:5432/vision_site",
    "SHARD_1_URL": "postgres://vision:pw@shard1:5432/vision_site_shard_1",
    "SHARD_2_URL": "postgres://vision:pw@shard2:5432/vision_site_shard_2",
    "SHARD_3_URL": "postgres://vision:pw@shard3:5432/vision_site_shard_3",
}


PRINT_SETTINGS = (
    "from django.conf import settings; print(settings.DEBUG, settings.DATABASES['shard_2']['HOST'])"
)


def _load_settings(**environment: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in PRODUCTION_SECRETS}
    env.update(environment, DJANGO_SETTINGS_MODULE="vision_site.settings")
    return subprocess.run(
        [
            sys.executable,
            "-c",
            PRINT_SETTINGS,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.mark.parametrize("missing", sorted(PRODUCTION_SECRETS))
def test_production_refuses_to_start_without_each_secret(missing: str) -> None:
    secrets = {key: value for key, value in PRODUCTION_SECRETS.items() if key != missing}

    result = _load_settings(VISION_ENV="production", **secrets)

    assert result.returncode != 0
    assert f"{missing} is required in production" in result.stderr


def test_production_starts_with_its_secrets_and_debug_off() -> None:
    result = _load_settings(VISION_ENV="production", **PRODUCTION_SECRETS)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "shard2"]


def test_database_urls_and_booleans_are_parsed_or_refused_by_name() -> None:
    url = parse_database_url("X", "postgres://user:p%40ss@db.example:6543/name")
    assert (url.host, url.port, url.user, url.password, url.name) == (
        "db.example",
        6543,
        "user",
        "p@ss",
        "name",
    )
    with pytest.raises(ImproperlyConfigured, match="X must be a postgres:// URL"):
        parse_database_url("X", "mysql://db/name")
    os.environ["VISION_TEST_FLAG"] = "maybe"
    try:
        with pytest.raises(ImproperlyConfigured, match="VISION_TEST_FLAG must be a boolean"):
            env_bool("VISION_TEST_FLAG", default=False)
    finally:
        del os.environ["VISION_TEST_FLAG"]


def test_choices_are_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFERENCE_PRECISION", "fp8")
    with pytest.raises(ImproperlyConfigured, match="INFERENCE_PRECISION must be one of auto"):
        env_choice("INFERENCE_PRECISION", "auto", ("auto", "fp32"))
    monkeypatch.setenv("INFERENCE_PRECISION", " ")
    assert env_choice("INFERENCE_PRECISION", "auto", ("auto", "fp32")) == "auto"
