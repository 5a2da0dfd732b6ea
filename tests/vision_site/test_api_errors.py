"""Every error under /api/ is the API's JSON error body, whatever raised it; the rest of
the site keeps its HTML pages."""

# Tests receive pytest fixtures as arguments, used or not, named like the fixtures.
# pylint: disable=redefined-outer-name,unused-argument

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from pytest_django.fixtures import SettingsWrapper
from rest_framework.test import APIClient

from accounts.models import User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner() -> User:
    return UserFactory.create()


@pytest.fixture
def client(owner: User) -> APIClient:
    # A crash must come back as an answer here, not be re-raised into the test.
    api = APIClient(raise_request_exception=False)
    api.force_authenticate(owner)
    return api


def _assert_api_error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["status"] == status
    assert error["code"] == code
    assert error["message"]


def exploding_middleware(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[..., HttpResponse]:
    """Fails before any view runs, as a broken middleware or database would."""

    def middleware(request: HttpRequest) -> HttpResponse:
        raise RuntimeError("middleware broke")

    return middleware


def test_a_crash_inside_an_api_view_is_a_logged_json_500(
    client: APIClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(**_: object) -> None:
        raise RuntimeError("the stats query broke")

    monkeypatch.setattr("predictions.api.views.task_stats", broken)

    with caplog.at_level(logging.ERROR, logger="vision_site.exceptions"):
        response = client.get("/api/v1/stats/")

    _assert_api_error(response, 500, "server_error")
    assert "broke" not in response.content.decode()  # no internals leak to the client
    assert any(
        record.exc_info and "the stats query broke" in str(record.exc_info[1])
        for record in caplog.records
    )


def test_an_unknown_api_url_is_a_json_404(client: APIClient) -> None:
    _assert_api_error(client.get("/api/v1/no-such-thing/"), 404, "not_found")


def test_a_request_refused_before_any_view_is_a_json_400(client: APIClient) -> None:
    response = client.get("/api/v1/tasks/", HTTP_HOST="attacker.example")

    _assert_api_error(response, 400, "bad_request")


def test_a_crash_in_middleware_is_a_json_500_under_api(
    client: APIClient, settings: SettingsWrapper
) -> None:
    settings.MIDDLEWARE = [
        *settings.MIDDLEWARE,
        "tests.vision_site.test_api_errors.exploding_middleware",
    ]

    _assert_api_error(client.get("/api/v1/tasks/"), 500, "server_error")
    page = client.get("/accounts/login/")
    assert page.status_code == 500
    assert page["Content-Type"].startswith("text/html")


def test_pages_outside_the_api_keep_their_html_errors(client: APIClient) -> None:
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
