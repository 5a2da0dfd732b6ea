"""A forged pagination cursor is the API's JSON 400, never a 500 from the database."""

# Tests receive pytest fixtures as arguments, used or not, named like the fixtures.
# pylint: disable=redefined-outer-name,unused-argument

from __future__ import annotations

import base64

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from tests.factories import TaskFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner() -> User:
    return UserFactory.create()


@pytest.fixture
def client(owner: User) -> APIClient:
    api = APIClient()
    api.force_authenticate(owner)
    return api


def _cursor(query: str) -> str:
    return base64.b64encode(query.encode()).decode()


@pytest.mark.parametrize(
    "query",
    ["p=garbage", "p=", "p=1", "p=2026-13-45", "p=%00", "r=1&p=notadate", "o=1&p=99999-01-01"],
)
def test_a_forged_cursor_position_is_a_json_400(client: APIClient, owner: User, query: str) -> None:
    TaskFactory.create_batch(3, owner=owner)

    response = client.get("/api/v1/tasks/", {"cursor": _cursor(query)})

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["status"] == 400
    assert error["code"] == "invalid_cursor"
    assert "next" in error["message"]


@pytest.mark.parametrize(
    "cursor", ["not base64 at all!", _cursor("o=-5"), base64.b64encode(b"p=\xff\xfe").decode()]
)
def test_an_undecodable_cursor_is_a_400_too(client: APIClient, cursor: str) -> None:
    response = client.get("/api/v1/tasks/", {"cursor": cursor})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_cursor"


def test_the_cursors_the_api_hands_out_still_page_through_everything(
    client: APIClient, owner: User
) -> None:
    created = {task.pk for task in TaskFactory.create_batch(5, owner=owner)}

    seen: list[int] = []
    url: str | None = "/api/v1/tasks/?page_size=2"
    while url:
        page = client.get(url)
        assert page.status_code == 200
        seen += [task["id"] for task in page.json()["results"]]
        url = page.json()["next"]

    assert sorted(seen) == sorted(created)
    previous = client.get(page.json()["previous"])
    assert previous.status_code == 200
    assert len(previous.json()["results"]) == 2


@pytest.mark.parametrize("size", ["abc", "0", "-3", "2.5", ""])
def test_a_page_size_that_is_not_a_positive_number_is_a_400(client: APIClient, size: str) -> None:
    response = client.get("/api/v1/tasks/", {"page_size": size})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["details"] == {"page_size": ["A whole number of at least 1 is required."]}


def test_a_page_size_above_the_maximum_is_capped(client: APIClient, owner: User) -> None:
    TaskFactory.create_batch(3, owner=owner)

    response = client.get("/api/v1/tasks/", {"page_size": "100000"})

    assert response.status_code == 200
    assert len(response.json()["results"]) == 3
