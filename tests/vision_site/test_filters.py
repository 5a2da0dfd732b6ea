"""A filter value the API cannot read is a 400 everywhere, never silently ignored."""

# Tests receive pytest fixtures as arguments, used or not, named like the fixtures.
# pylint: disable=redefined-outer-name,unused-argument

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from ml_models.models import ModelVersion, ObjectClass
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def client() -> APIClient:
    api = APIClient()
    api.force_authenticate(UserFactory.create())
    return api


@pytest.mark.parametrize(
    "url", ["/api/v1/classes/objects/", "/api/v1/classes/scenes/", "/api/v1/models/"]
)
@pytest.mark.parametrize("value", ["maybe", "yes please", "2"])
def test_an_unreadable_boolean_filter_is_a_400(client: APIClient, url: str, value: str) -> None:
    response = client.get(url, {"is_active": value})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["details"] == {"is_active": ["Enter true or false."]}


@pytest.mark.parametrize(("value", "active"), [("true", True), ("1", True), ("False", False)])
def test_a_readable_boolean_filter_still_filters(
    client: APIClient, value: str, active: bool
) -> None:
    ObjectClass.objects.filter(name="star").update(is_active=False)

    response = client.get("/api/v1/classes/objects/", {"is_active": value})

    assert response.status_code == 200
    names = {entry["name"] for entry in response.json()}
    assert names  # the migrations seed the classes; one is inactive now
    assert names == set(ObjectClass.objects.filter(is_active=active).values_list("name", flat=True))
    assert ("star" in names) is not active


def test_without_the_filter_every_row_is_listed(client: APIClient) -> None:
    response = client.get("/api/v1/models/")

    assert response.status_code == 200
    assert len(response.json()) == ModelVersion.objects.count()
    assert client.get("/api/v1/models/", {"kind": "bogus"}).status_code == 400
