"""Production settings pass Django's deploy check and speak HTTPS behind a TLS proxy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Hosts that do not exist: neither the check nor the requests below reach a shard. The
# leader is the local server's maintenance database, which /healthz only asks SELECT 1.
PRODUCTION = {
    "VISION_ENV": "production",
    "SECRET_KEY": "a-production-secret-long-and-varied-enough-for-the-deploy-check-0123456789",
    "ALLOWED_HOSTS": "vision.example.com",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
    "SHARD_1_URL": "postgres://vision:pw@shard1.invalid:5432/vision_site_shard_1",
    "SHARD_2_URL": "postgres://vision:pw@shard2.invalid:5432/vision_site_shard_2",
    "SHARD_3_URL": "postgres://vision:pw@shard3.invalid:5432/vision_site_shard_3",
}
REQUESTS = """
import json, django
django.setup()
from django.test import Client
client = Client(HTTP_HOST="vision.example.com")
answers = {}
for name, path, headers in [
    ("plain", "/api/v1/tasks/", {}),
    ("proxied", "/api/v1/tasks/", {"HTTP_X_FORWARDED_PROTO": "https"}),
    ("health", "/healthz", {}),
]:
    response = client.get(path, **headers)
    answers[name] = {
        "status": response.status_code,
        "location": response.get("Location"),
        "hsts": response.get("Strict-Transport-Security"),
    }
print(json.dumps(answers))
"""


def _run(arguments: list[str], **overrides: str) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in PRODUCTION
        and not key.startswith(("SECURE_", "DEBUG"))
        and not key.endswith("_COOKIE_SECURE")
        # set for this test process by the browser tests (tests/browser/conftest.py), never
        # in a deployment: the deploy check rightly refuses it
        and key != "DJANGO_ALLOW_ASYNC_UNSAFE"
    }
    env.update(PRODUCTION, DJANGO_SETTINGS_MODULE="vision_site.settings", **overrides)
    return subprocess.run(
        [sys.executable, *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )


def test_the_deploy_check_is_clean_with_production_settings() -> None:
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"])

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNINGS" not in result.stdout + result.stderr


def test_the_deploy_check_names_what_an_operator_turned_off() -> None:
    result = _run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        SECURE_SSL_REDIRECT="0",
        SECURE_HSTS_SECONDS="0",
    )

    assert result.returncode != 0
    assert "security.W004" in result.stderr
    assert "security.W008" in result.stderr


def test_production_redirects_plain_http_and_trusts_the_proxy_header() -> None:
    result = _run(["-c", REQUESTS])

    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout.splitlines()[-1])
    assert answers["plain"]["status"] == 301
    assert answers["plain"]["location"] == "https://vision.example.com/api/v1/tasks/"
    assert answers["proxied"]["status"] == 401  # served (no redirect): it asks who is calling
    assert answers["proxied"]["hsts"] == "max-age=31536000; includeSubDomains"
    # the container's health check speaks plain HTTP to the local port
    assert answers["health"]["status"] == 200


def test_the_proxy_header_is_configurable() -> None:
    result = _run(["-c", REQUESTS], SECURE_PROXY_SSL_HEADER="X-Forwarded-Scheme")

    answers = json.loads(result.stdout.splitlines()[-1])
    # X-Forwarded-Proto no longer counts: only the configured header does
    assert answers["proxied"]["status"] == 301
